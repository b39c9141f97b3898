// matmul_cpu.comp — C[z] = alpha·op(A[z])·op(B[z]) + bias for CPU Vulkan drivers (lavapipe).
// CPU drivers run a subgroup as one SIMD vector and every storage-buffer load lane by lane,
// while uniform texel-buffer fetches become vector gathers; shared memory and barriers only add
// work. So each invocation owns a TM×TN register tile, reads A and B through texel buffers
// (rgba: four consecutive elements per fetch where the contiguous dimension allows it, r: one)
// and unrolls K (each accumulator takes four products per group of fetches, so where the driver
// keeps accumulators in memory it loads and stores each once per four multiply-adds), which
// gives many independent accumulator chains per lane. The multiply-adds go two rows at a time, so
// each B value, which CPU drivers keep on the stack with the rest of the tile, is loaded once for
// two accumulators (matmul 1024³ about 5 % faster than row by row). The N-adjacent
// invocations of a subgroup share their A rows (the same address in every lane) and read
// adjacent B columns. Tiles past the edge clamp their loads and skip their stores.
// Specialization: 0 workgroup size, 1 TM, 2 TN (multiples of 4), 3 invocations along N per
// workgroup, 4 A transposed, 5 B transposed, 6 A bound as rgba texels, 7 B bound as rgba
// texels, 8 bias present, 9 K unroll (a multiple of 4).
// The q* variants read B as GGUF blocks out of a storage buffer (linear/quant.glsl), always
// transposed ([N, K] Linear weights, K a multiple of the block, so every four-element load lies
// in one block and reads its scales once) and shared by the batch: the weights stay quantised
// in memory and each element is dequantised once per TM rows of A.
// The *shuffle builds (A neither transposed nor scalar, one subgroup = the LANES_N invocations
// that share their A rows): each lane fetches only TM / LANES_N of the tile's rows, lane s rows
// s, s + LANES_N, ..., and the subgroup passes them round with subgroupShuffle, a register move
// on CPU drivers. That divides A's texel fetches by LANES_N, and fetches, not multiply-adds,
// bound this kernel on lavapipe (bench/CONV.md, run 5). An invocation whose columns lie past N
// stays to the end there, as a shuffle reads every lane of the subgroup.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef SHUFFLE_A
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
#include "common.glsl"

// variant: q4_0 -DB_QUANT -DEVK_Q4_0=1
// variant: q4_1 -DB_QUANT -DEVK_Q4_1=1
// variant: q5_0 -DB_QUANT -DEVK_Q5_0=1
// variant: q5_1 -DB_QUANT -DEVK_Q5_1=1
// variant: q8_0 -DB_QUANT -DEVK_Q8_0=1
// variant: q4_k -DB_QUANT -DEVK_Q4_K=1
// variant: q5_k -DB_QUANT -DEVK_Q5_K=1
// variant: q6_k -DB_QUANT -DEVK_Q6_K=1
// variant: DEFAULT
// variant: shuffle -DSHUFFLE_A
// variant: q4_0_shuffle -DB_QUANT -DEVK_Q4_0=1 -DSHUFFLE_A
// variant: q4_1_shuffle -DB_QUANT -DEVK_Q4_1=1 -DSHUFFLE_A
// variant: q5_0_shuffle -DB_QUANT -DEVK_Q5_0=1 -DSHUFFLE_A
// variant: q5_1_shuffle -DB_QUANT -DEVK_Q5_1=1 -DSHUFFLE_A
// variant: q8_0_shuffle -DB_QUANT -DEVK_Q8_0=1 -DSHUFFLE_A
// variant: q4_k_shuffle -DB_QUANT -DEVK_Q4_K=1 -DSHUFFLE_A
// variant: q5_k_shuffle -DB_QUANT -DEVK_Q5_K=1 -DSHUFFLE_A
// variant: q6_k_shuffle -DB_QUANT -DEVK_Q6_K=1 -DSHUFFLE_A

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TM = 16;
layout(constant_id = 2) const uint TN = 8;
layout(constant_id = 3) const uint LANES_N = 8;
layout(constant_id = 4) const bool TRANS_A = false;
layout(constant_id = 5) const bool TRANS_B = false;
layout(constant_id = 6) const bool VEC_A = false;
layout(constant_id = 7) const bool VEC_B = false;
layout(constant_id = 8) const bool HAS_BIAS = false;
layout(constant_id = 9) const uint KU = 4;

layout(binding = 0) uniform samplerBuffer A;
#ifdef B_QUANT
layout(std430, binding = 1) readonly buffer Qbuf { uint q[]; };
#include "linear/quant.glsl"
#else
layout(binding = 1) uniform samplerBuffer B;
#endif
layout(binding = 2) uniform samplerBuffer BIAS;
layout(std430, binding = 3) writeonly buffer Cbuf { float C[]; };

layout(push_constant) uniform Push {
    uint M, N, K;
    uint a_stride, b_stride, c_stride; // elements between batch matrices (0: shared by the batch)
    float alpha;
    uint a_off, b_off, c_off;          // element offsets of the first matrix in each binding
} p;

// Four consecutive elements starting at element i (i is a multiple of 4 when VEC).
vec4 load4_a(uint i) {
    if (VEC_A) return texelFetch(A, int(i >> 2));
    return vec4(texelFetch(A, int(i)).x, texelFetch(A, int(i + 1)).x, texelFetch(A, int(i + 2)).x, texelFetch(A, int(i + 3)).x);
}
float load1_a(uint i) { return VEC_A ? texelFetch(A, int(i >> 2))[i & 3u] : texelFetch(A, int(i)).x; }
#ifdef B_QUANT
vec4 load4_b(uint i) { return deq4(i); }
float load1_b(uint i) { return deq1(i); }
#else
vec4 load4_b(uint i) {
    if (VEC_B) return texelFetch(B, int(i >> 2));
    return vec4(texelFetch(B, int(i)).x, texelFetch(B, int(i + 1)).x, texelFetch(B, int(i + 2)).x, texelFetch(B, int(i + 3)).x);
}
float load1_b(uint i) { return VEC_B ? texelFetch(B, int(i >> 2))[i & 3u] : texelFetch(B, int(i)).x; }
#endif

// One K step of four: load TM + TN texels, then TM·TN·4 multiply-adds (a macro, not a function,
// so the accumulators stay plain registers). Not transposed, ra[i] = A[m0+i][k..k+3]; transposed,
// ra[kk·TM/4 + i/4] holds A[k+kk][m0+i]. Likewise rb[j] = B[n0+j][k..k+3] when B is transposed,
// else rb[kk·TN/4 + j/4] holds B[k+kk][n0+j].
#ifdef SHUFFLE_A
#define FETCH_A(k) \
        vec4 own[TM / LANES_N]; \
        [[unroll]] for (uint r = 0; r < TM / LANES_N; r++) own[r] = load4_a(arow_own[r] + (k));
#define ROW_A(i, k) subgroupShuffle(own[(i) / LANES_N], (i) % LANES_N)
#else
#define FETCH_A(k)
#define ROW_A(i, k) load4_a(arow[i] + k)
#endif

#define STEP4(k) { \
        vec4 ra[TM]; \
        vec4 rb[TN]; \
        FETCH_A(k) \
        [[unroll]] for (uint i = 0; i < TM; i++) { \
            if (!TRANS_A) ra[i] = ROW_A(i, k); \
            else { \
                uint kk = i / (TM / 4), i4 = (i % (TM / 4)) * 4; \
                uint at = arow[i4] + (k + kk) * M; \
                if (a_edge) ra[i] = vec4(load1_a(a_base + (k + kk) * M + min(m0 + i4, M - 1)), \
                                         load1_a(a_base + (k + kk) * M + min(m0 + i4 + 1, M - 1)), \
                                         load1_a(a_base + (k + kk) * M + min(m0 + i4 + 2, M - 1)), \
                                         load1_a(a_base + (k + kk) * M + min(m0 + i4 + 3, M - 1))); \
                else ra[i] = load4_a(at); \
            } \
        } \
        [[unroll]] for (uint j = 0; j < TN; j++) { \
            if (TRANS_B) rb[j] = load4_b(bcol[j] + k); \
            else { \
                uint kk = j / (TN / 4), j4 = (j % (TN / 4)) * 4; \
                uint bt = bcol[j4] + (k + kk) * N; \
                if (b_edge) rb[j] = vec4(load1_b(b_base + (k + kk) * N + min(n0 + j4, N - 1)), \
                                         load1_b(b_base + (k + kk) * N + min(n0 + j4 + 1, N - 1)), \
                                         load1_b(b_base + (k + kk) * N + min(n0 + j4 + 2, N - 1)), \
                                         load1_b(b_base + (k + kk) * N + min(n0 + j4 + 3, N - 1))); \
                else rb[j] = load4_b(bt); \
            } \
        } \
        [[unroll]] for (uint i = 0; i < TM; i += 2) { \
            [[unroll]] for (uint j = 0; j < TN; j++) { \
                float t0 = acc[i * TN + j], t1 = acc[(i + 1) * TN + j]; \
                [[unroll]] for (uint kk = 0; kk < 4; kk++) { \
                    float bv = TRANS_B ? rb[j][kk] : rb[kk * (TN / 4) + j / 4][j % 4]; \
                    t0 += (TRANS_A ? ra[kk * (TM / 4) + i / 4][i % 4] : ra[i][kk]) * bv; \
                    t1 += (TRANS_A ? ra[kk * (TM / 4) + i / 4][i % 4 + 1] : ra[i + 1][kk]) * bv; \
                } \
                acc[i * TN + j] = t0; \
                acc[(i + 1) * TN + j] = t1; \
            } \
        } \
}

void main() {
    const uint lane = gl_LocalInvocationID.x;
    const uint lanes_m = gl_WorkGroupSize.x / LANES_N;
    const uint m0 = (gl_WorkGroupID.y * lanes_m + lane / LANES_N) * TM;
    const uint n0 = (gl_WorkGroupID.x * LANES_N + lane % LANES_N) * TN;
    const uint z = gl_WorkGroupID.z;
    const uint M = p.M, N = p.N, K = p.K;
    if (m0 >= M) return; // the whole subgroup alike: its lanes share m0
#ifndef SHUFFLE_A
    if (n0 >= N) return;
#endif
    const uint a_base = p.a_off + z * p.a_stride;
    const uint b_base = p.b_off + z * p.b_stride;

    // Element offsets of this tile's rows of A / columns of B, clamped inside the matrix. Rows
    // and columns that are read along K; groups of four along M / N when that is contiguous.
    uint arow[TM];
    uint bcol[TN];
    [[unroll]] for (uint i = 0; i < TM; i++) {
        if (TRANS_A) arow[i] = (i % 4 == 0) ? a_base + min(m0 + i, VEC_A ? M - 4 : M - 1) : 0;
        else arow[i] = a_base + min(m0 + i, M - 1) * K;
    }
    [[unroll]] for (uint j = 0; j < TN; j++) {
        if (TRANS_B) bcol[j] = b_base + min(n0 + j, N - 1) * K;
        else bcol[j] = (j % 4 == 0) ? b_base + min(n0 + j, VEC_B ? N - 4 : N - 1) : 0;
    }
#ifdef SHUFFLE_A
    uint arow_own[TM / LANES_N];
    [[unroll]] for (uint r = 0; r < TM / LANES_N; r++)
        arow_own[r] = a_base + min(m0 + r * LANES_N + gl_SubgroupInvocationID, M - 1) * K;
#endif
    // Scalar (unvectorised) edge loads of transposed tiles that straddle M or N.
    const bool a_edge = TRANS_A && !VEC_A && m0 + TM > M;
    const bool b_edge = !TRANS_B && !VEC_B && n0 + TN > N;

    float acc[TM * TN];
    [[unroll]] for (uint t = 0; t < TM * TN; t++) acc[t] = 0.0;

    // K unrolled by KU (a multiple of 4): the accumulators are carried around the loop once per KU
    // steps, which CPU drivers pay for with a spill and reload of every one of them.
    const uint KU4 = K - K % KU, K4 = K & ~3u;
    uint k = 0;
    for (; k < KU4; k += KU) {
        [[unroll]] for (uint u = 0; u < KU; u += 4) {
            uint ku = k + u;
            STEP4(ku)
        }
    }
    for (; k < K4; k += 4) STEP4(k)
    for (uint k = K4; k < K; k++) {
        float ra1[TM];
        float rb1[TN];
        [[unroll]] for (uint i = 0; i < TM; i++)
            ra1[i] = TRANS_A ? load1_a(a_base + k * M + min(m0 + i, M - 1)) : load1_a(arow[i] + k);
        [[unroll]] for (uint j = 0; j < TN; j++)
            rb1[j] = TRANS_B ? load1_b(bcol[j] + k) : load1_b(b_base + k * N + min(n0 + j, N - 1));
        [[unroll]] for (uint i = 0; i < TM; i++)
            [[unroll]] for (uint j = 0; j < TN; j++) acc[i * TN + j] += ra1[i] * rb1[j];
    }

    const uint c_base = p.c_off + z * p.c_stride;
    [[unroll]] for (uint j = 0; j < TN; j++) {
        uint n = n0 + j;
        if (n >= N) break;
        float bias = HAS_BIAS ? texelFetch(BIAS, int(n)).x : 0.0;
        [[unroll]] for (uint i = 0; i < TM; i++) {
            uint m = m0 + i;
            if (m < M) C[c_base + m * N + n] = p.alpha * acc[i * TN + j] + bias;
        }
    }
}
