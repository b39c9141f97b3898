// matmul.comp — C[z] = alpha·op(A[z])·op(B[z]) + bias, tiled in shared memory for GPUs.
// A workgroup computes a BM×BN tile of C: it stages BK-deep slices of A and B in shared memory
// (zero outside the matrices, so edges need no special path) and each invocation accumulates
// TM×TN outputs in registers, spread BM/TM and BN/TN apart so neighbouring invocations touch
// neighbouring shared words and write neighbouring C elements. A and B are f32 or f16 storage
// (variants), products and sums f32. The q* variants read B as GGUF blocks (linear/quant.glsl),
// always transposed ([N, K] Linear weights, K a multiple of the block) and shared by the batch,
// and dequantise each element once as they stage it, so the weights stay quantised in memory.
// Specialization: 0 workgroup size (= (BM/TM)·(BN/TN)), 1 BM, 2 BN, 3 BK, 4 TM, 5 TN,
// 6 A transposed, 7 B transposed, 8 bias present.
// variant: f32
// variant: b16 -DB_F16
// variant: a16 -DA_F16
// variant: ab16 -DA_F16 -DB_F16
// variant: q4_0 -DB_QUANT -DEVK_Q4_0=1
// variant: q4_1 -DB_QUANT -DEVK_Q4_1=1
// variant: q5_0 -DB_QUANT -DEVK_Q5_0=1
// variant: q5_1 -DB_QUANT -DEVK_Q5_1=1
// variant: q8_0 -DB_QUANT -DEVK_Q8_0=1
// variant: q4_k -DB_QUANT -DEVK_Q4_K=1
// variant: q5_k -DB_QUANT -DEVK_Q5_K=1
// variant: q6_k -DB_QUANT -DEVK_Q6_K=1
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#if defined(A_F16) || defined(B_F16)
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const bool TRANS_A = false;
layout(constant_id = 7) const bool TRANS_B = false;
layout(constant_id = 8) const bool HAS_BIAS = false;

#ifdef A_F16
layout(std430, binding = 0) readonly buffer Abuf { float16_t A[]; };
#else
layout(std430, binding = 0) readonly buffer Abuf { float A[]; };
#endif
#if defined(B_QUANT)
layout(std430, binding = 1) readonly buffer Bbuf { uint q[]; };
#include "linear/quant.glsl"
#elif defined(B_F16)
layout(std430, binding = 1) readonly buffer Bbuf { float16_t B[]; };
#else
layout(std430, binding = 1) readonly buffer Bbuf { float B[]; };
#endif
layout(std430, binding = 2) readonly buffer Biasbuf { float BIAS[]; };
layout(std430, binding = 3) writeonly buffer Cbuf { float C[]; };

layout(push_constant) uniform Push {
    uint M, N, K;
    uint a_stride, b_stride, c_stride; // elements between batch matrices (0: shared by the batch)
    float alpha;
    uint a_off, b_off, c_off;
} p;

shared float sa[BK * BM];
shared float sb[BK * BN];

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint nthreads = gl_WorkGroupSize.x;
    const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    const uint z = gl_WorkGroupID.z;
    const uint M = p.M, N = p.N, K = p.K;
    const uint a_base = p.a_off + z * p.a_stride;
    const uint b_base = p.b_off + z * p.b_stride;
    const uint tn = tid % (BN / TN), tm = tid / (BN / TN);

    float acc[TM * TN];
    [[unroll]] for (uint t = 0; t < TM * TN; t++) acc[t] = 0.0;

    for (uint k0 = 0; k0 < K; k0 += BK) {
        // Stage the slices, walking the contiguous dimension with consecutive invocations.
        for (uint e = tid; e < BK * BM; e += nthreads) {
            uint kk, mm;
            if (TRANS_A) { kk = e / BM; mm = e % BM; } else { mm = e / BK; kk = e % BK; }
            uint m = m0 + mm, k = k0 + kk;
            float v = 0.0;
            if (m < M && k < K) v = float(A[a_base + (TRANS_A ? k * M + m : m * K + k)]);
            sa[kk * BM + mm] = v;
        }
        for (uint e = tid; e < BK * BN; e += nthreads) {
            uint kk, nn;
            if (TRANS_B) { nn = e / BK; kk = e % BK; } else { kk = e / BN; nn = e % BN; }
            uint n = n0 + nn, k = k0 + kk;
            float v = 0.0;
#ifdef B_QUANT
            if (n < N && k < K) v = deq1(n * K + k);
#else
            if (n < N && k < K) v = float(B[b_base + (TRANS_B ? n * K + k : k * N + n)]);
#endif
            sb[kk * BN + nn] = v;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            float ra[TM], rb[TN];
            [[unroll]] for (uint i = 0; i < TM; i++) ra[i] = sa[kk * BM + tm + i * (BM / TM)];
            [[unroll]] for (uint j = 0; j < TN; j++) rb[j] = sb[kk * BN + tn + j * (BN / TN)];
            [[unroll]] for (uint i = 0; i < TM; i++)
                [[unroll]] for (uint j = 0; j < TN; j++) acc[i * TN + j] = fma(ra[i], rb[j], acc[i * TN + j]);
        }
        barrier();
    }

    const uint c_base = p.c_off + z * p.c_stride;
    [[unroll]] for (uint i = 0; i < TM; i++) {
        uint m = m0 + tm + i * (BM / TM);
        if (m >= M) continue;
        [[unroll]] for (uint j = 0; j < TN; j++) {
            uint n = n0 + tn + j * (BN / TN);
            if (n < N) C[c_base + m * N + n] = p.alpha * acc[i * TN + j] + (HAS_BIAS ? BIAS[n] : 0.0);
        }
    }
}
