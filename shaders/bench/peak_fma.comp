// peak_fma.comp — arithmetic peak: every invocation runs CHAINS independent multiply-add chains
// (x = x·a + b) for `iters` steps and writes one sum so nothing is optimised away. Many chains
// per invocation hide the multiply-add latency even on CPU drivers, where one invocation is one
// SIMD lane and a single chain would measure latency instead of throughput.
// Specialization: 0 workgroup size.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

#define CHAINS 12 // 12 × 8-deep unrolled steps measured best on lavapipe (16 spills)
#define UNROLL 8  // loop-carried values cost a spill per iteration on CPU drivers: amortise it

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) writeonly buffer Out { float data[]; };
layout(push_constant) uniform Push {
    uint iters;
    float a, b;
} p;

void main() {
    uint i = evk_flat_index();
    float x[CHAINS];
    [[unroll]] for (int c = 0; c < CHAINS; c++) x[c] = float(i + c) * 1e-3;
    const float a = p.a, b = p.b;
    for (uint it = 0; it < p.iters; it += UNROLL) { // iters is a multiple of UNROLL
        [[unroll]] for (int u = 0; u < UNROLL; u++)
            [[unroll]] for (int c = 0; c < CHAINS; c++) x[c] = x[c] * a + b;
    }
    float s = 0.0;
    [[unroll]] for (int c = 0; c < CHAINS; c++) s += x[c];
    data[i] = s;
}
