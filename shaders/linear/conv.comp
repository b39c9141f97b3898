// conv.comp — convolutions as implicit GEMM for GPUs: Y[z][o][p] = bias[o] + Σ_k W[o][k]·X_col[z][k][p]
// with the same shared-memory tiling as matmul.comp; the B slice is gathered from the input
// while it is staged (zeros in the padding and past the ends of a clip), so X_col never exists.
//   MODE 0 (im2col): k = (c, r, s), X_col[k][p] = X[c][oy·S − pad + r][ox·S − pad + s];
//   MODE 1 (planes): k = (c, t) over T taps along the frames of a (B·F)CHW video (T = 1 is a 1×1
//   convolution), X_col[k][p] = X[frame + t − T/2][c][p].
// Weights are f32 or f16 storage (variants); input, bias and output f32.
// Specialization: 0 workgroup size (= (BM/TM)·(BN/TN)), 1 BM, 2 BN, 3 BK, 4 TM, 5 TN, 6 MODE,
// 7 bias present, 8 KH (MODE 0) or T (MODE 1), 9 KW, 10 stride.
// variant: f32
// variant: w16 -DW_F16
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef W_F16
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
layout(constant_id = 6) const uint MODE = 0;
layout(constant_id = 7) const bool HAS_BIAS = false;
layout(constant_id = 8) const uint KH = 3;
layout(constant_id = 9) const uint KW = 3;
layout(constant_id = 10) const uint STRIDE = 1;

#ifdef W_F16
layout(std430, binding = 0) readonly buffer Wbuf { float16_t Wt[]; };
#else
layout(std430, binding = 0) readonly buffer Wbuf { float Wt[]; };
#endif
layout(std430, binding = 1) readonly buffer Xbuf { float X[]; };
layout(std430, binding = 2) readonly buffer Biasbuf { float BIAS[]; };
layout(std430, binding = 3) writeonly buffer Ybuf { float Y[]; };

layout(push_constant) uniform Push {
    uint O, K;
    uint C, H, W;
    uint Ho, Wo;
    int pad;
    uint frames;
    uint x_off, y_off;
} p;

shared float sa[BK * BM];
shared float sb[BK * BN];

float xcol(uint k, uint n, uint x_img, uint frame) {
    if (MODE == 0) {
        uint c = k / (KH * KW), rs = k % (KH * KW), r = rs / KW, s = rs % KW;
        int iy = int((n / p.Wo) * STRIDE + r) - p.pad, ix = int((n % p.Wo) * STRIDE + s) - p.pad;
        if (uint(iy) >= p.H || uint(ix) >= p.W) return 0.0;
        return X[x_img + (c * p.H + uint(iy)) * p.W + uint(ix)];
    }
    uint c = k / KH, t = k % KH;
    int f = int(frame) + int(t) - int(KH / 2);
    if (KH != 1 && uint(f) >= p.frames) return 0.0;
    uint hw = p.H * p.W;
    return X[uint(int(x_img) + (int(t) - int(KH / 2)) * int(p.C * hw)) + c * hw + n];
}

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint nthreads = gl_WorkGroupSize.x;
    const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    const uint z = gl_WorkGroupID.z;
    const uint O = p.O, K = p.K, N = p.Ho * p.Wo;
    const uint x_img = p.x_off + z * p.C * p.H * p.W;
    const uint frame = MODE == 1 ? z % p.frames : 0;
    const uint tn = tid % (BN / TN), tm = tid / (BN / TN);

    float acc[TM * TN];
    [[unroll]] for (uint t = 0; t < TM * TN; t++) acc[t] = 0.0;

    for (uint k0 = 0; k0 < K; k0 += BK) {
        for (uint e = tid; e < BK * BM; e += nthreads) {
            uint mm = e / BK, kk = e % BK;
            uint m = m0 + mm, k = k0 + kk;
            sa[kk * BM + mm] = (m < O && k < K) ? float(Wt[m * K + k]) : 0.0;
        }
        for (uint e = tid; e < BK * BN; e += nthreads) {
            uint kk = e / BN, nn = e % BN;
            uint n = n0 + nn, k = k0 + kk;
            sb[kk * BN + nn] = (n < N && k < K) ? xcol(k, n, x_img, frame) : 0.0;
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

    const uint y_img = p.y_off + z * O * N;
    [[unroll]] for (uint i = 0; i < TM; i++) {
        uint m = m0 + tm + i * (BM / TM);
        if (m >= O) continue;
        float bias = HAS_BIAS ? BIAS[m] : 0.0;
        [[unroll]] for (uint j = 0; j < TN; j++) {
            uint n = n0 + tn + j * (BN / TN);
            if (n < N) Y[y_img + m * N + n] = acc[i * TN + j] + bias;
        }
    }
}
