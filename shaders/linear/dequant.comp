// dequant.comp — GGUF block-quantised weights (ggml's block layouts, as the file stores them)
// to f32, one variant per block type: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K. One
// invocation per output element, reading the blocks through linear/quant.glsl (the code the
// dequantising matmul reads its weights with): the output equals the host dequantisation bit for
// bit. A way to expand quantised weights on the device (convolution weights, for one).
// Specialization: 0 = workgroup size.
// variant: q4_0 -DEVK_Q4_0=1
// variant: q4_1 -DEVK_Q4_1=1
// variant: q5_0 -DEVK_Q5_0=1
// variant: q5_1 -DEVK_Q5_1=1
// variant: q8_0 -DEVK_Q8_0=1
// variant: q4_k -DEVK_Q4_K=1
// variant: q5_k -DEVK_Q5_K=1
// variant: q6_k -DEVK_Q6_K=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint n;  // output elements
} p;

layout(std430, binding = 0) readonly buffer Qb { uint q[]; };
layout(std430, binding = 1) writeonly buffer Ob { float o[]; };

#include "linear/quant.glsl"

void main() {
    uint idx = evk_flat_index();
    if (idx >= p.n) return;
    o[idx] = deq1(idx);
}
