// conv_cpu.comp — convolutions as implicit GEMM for CPU Vulkan drivers (lavapipe): for each
// image z, Y[z][o][p] = bias[o] + Σ_k W[o][k] · X_col[z][k][p], where X_col is never stored but
// gathered on the fly. Same structure as matmul_cpu.comp (TM×TN register tile per invocation,
// texel-buffer loads, K unrolled, four products per accumulator load); only the B loads differ:
//   MODE 0 (im2col): k = (c, r, s), X_col[k][p] = X[c][oy·S − pad + r][ox·S − pad + s] or 0 outside;
//   MODE 1 (planes): k = (c, t) over T taps along the frames of a (B·F)CHW video (T = 1 is a 1×1
//   convolution with stride 1 and no padding), X_col[k][p] = X[frame + t − T/2][c][p] or 0 past
//   the first or last frame of the clip; here pixels are contiguous, so four load as one texel.
// Specialization: 0 workgroup size, 1 TM, 2 TN (multiples of 4), 3 invocations along pixels per
// workgroup, 4 MODE, 5 weights bound as rgba texels (K % 4 == 0), 6 X bound as rgba texels
// (MODE 1 with H·W % 4 == 0), 7 bias present, 8 KH (MODE 0) or T (MODE 1), 9 KW, 10 stride, 11 K unroll.
// The shuffle build fetches each weight row once per subgroup and passes it round, exactly as
// matmul_cpu.comp's shuffle builds do with A's rows.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef SHUFFLE_A
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
#include "common.glsl"

// variant: DEFAULT
// variant: shuffle -DSHUFFLE_A

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TM = 16;
layout(constant_id = 2) const uint TN = 8;
layout(constant_id = 3) const uint LANES_N = 8;
layout(constant_id = 4) const uint MODE = 0;
layout(constant_id = 5) const bool VEC_W = false;
layout(constant_id = 6) const bool VEC_X = false;
layout(constant_id = 7) const bool HAS_BIAS = false;
layout(constant_id = 8) const uint KH = 3;
layout(constant_id = 9) const uint KW = 3;
layout(constant_id = 10) const uint STRIDE = 1;
layout(constant_id = 11) const uint KU = 4;

layout(binding = 0) uniform samplerBuffer Wt;
layout(binding = 1) uniform samplerBuffer X;
layout(binding = 2) uniform samplerBuffer BIAS;
layout(std430, binding = 3) writeonly buffer Ybuf { float Y[]; };

layout(push_constant) uniform Push {
    uint O, K;        // GEMM M and K
    uint C, H, W;     // input channels and size
    uint Ho, Wo;      // output size (GEMM N = Ho·Wo)
    int pad;
    uint frames;      // MODE 1: frames per clip
    uint x_off, y_off; // element offsets of image 0 in the X and Y bindings
} p;

vec4 load4_w(uint i) {
    if (VEC_W) return texelFetch(Wt, int(i >> 2));
    return vec4(texelFetch(Wt, int(i)).x, texelFetch(Wt, int(i + 1)).x, texelFetch(Wt, int(i + 2)).x, texelFetch(Wt, int(i + 3)).x);
}
float load1_w(uint i) { return VEC_W ? texelFetch(Wt, int(i >> 2))[i & 3u] : texelFetch(Wt, int(i)).x; }

// Per-lane pixel data. MODE 0: iy0/ix0 = top-left input coordinate of pixel n0+j, xpix = its
// offset iy0·W + ix0 (may be negative). MODE 1: xpix[j4·4] = offset of pixels n0+j.. in a plane.
int iy0[TN], ix0[TN], xpix[TN];
uint x_img, frame;

// X_col[k][n0 + j] for MODE 0 (one element, zero in the padding).
float im2col(uint k, uint j) {
    uint c = k / (KH * KW), rs = k % (KH * KW), r = rs / KW, s = rs % KW;
    int iy = iy0[j] + int(r), ix = ix0[j] + int(s);
    bool ok = uint(iy) < p.H && uint(ix) < p.W;
    int idx = int(x_img + c * p.H * p.W) + xpix[j] + int(r * p.W + s);
    float v = texelFetch(X, ok ? idx : 0).x;
    return ok ? v : 0.0;
}

// X_col[k][n0 + j4 .. n0 + j4 + 3] for MODE 1.
vec4 plane4(uint k, uint j4) {
    uint c = k / KH, t = k % KH;
    int dt = int(t) - int(KH / 2);
    bool ok = KH == 1 || uint(int(frame) + dt) < p.frames;
    uint hw = p.H * p.W;
    // past the clip's ends read this frame's plane (a valid address) and use zeros
    uint base = x_img + c * hw + uint((ok ? dt : 0) * int(p.C * hw));
    vec4 v;
    if (VEC_X) v = texelFetch(X, int((base + uint(xpix[j4])) >> 2));
    else v = vec4(texelFetch(X, int(base + min(uint(xpix[j4]), hw - 1))).x, texelFetch(X, int(base + min(uint(xpix[j4]) + 1, hw - 1))).x,
                  texelFetch(X, int(base + min(uint(xpix[j4]) + 2, hw - 1))).x, texelFetch(X, int(base + min(uint(xpix[j4]) + 3, hw - 1))).x);
    return ok ? v : vec4(0.0);
}

// One K step of four (see matmul_cpu.comp, rows in pairs likewise): ra[i] = W[o0+i][k..k+3];
// rb[kk·TN/4 + j/4] holds X_col[k+kk][n0+j].
#ifdef SHUFFLE_A
#define FETCH_W(k) \
        vec4 own[TM / LANES_N]; \
        [[unroll]] for (uint r = 0; r < TM / LANES_N; r++) own[r] = load4_w(wrow_own[r] + (k));
#define ROW_W(i, k) subgroupShuffle(own[(i) / LANES_N], (i) % LANES_N)
#else
#define FETCH_W(k)
#define ROW_W(i, k) load4_w(wrow[i] + (k))
#endif
#define STEP4(k) { \
        vec4 ra[TM]; \
        vec4 rb[TN]; \
        FETCH_W(k) \
        [[unroll]] for (uint i = 0; i < TM; i++) ra[i] = ROW_W(i, k); \
        [[unroll]] for (uint kk = 0; kk < 4; kk++) \
            [[unroll]] for (uint j4 = 0; j4 < TN; j4 += 4) { \
                if (MODE == 0) rb[kk * (TN / 4) + j4 / 4] = vec4(im2col((k) + kk, j4), im2col((k) + kk, j4 + 1), \
                                                                 im2col((k) + kk, j4 + 2), im2col((k) + kk, j4 + 3)); \
                else rb[kk * (TN / 4) + j4 / 4] = plane4((k) + kk, j4); \
            } \
        [[unroll]] for (uint i = 0; i < TM; i += 2) { \
            [[unroll]] for (uint j = 0; j < TN; j++) { \
                float t0 = acc[i * TN + j], t1 = acc[(i + 1) * TN + j]; \
                [[unroll]] for (uint kk = 0; kk < 4; kk++) { \
                    float bv = rb[kk * (TN / 4) + j / 4][j % 4]; \
                    t0 += ra[i][kk] * bv; \
                    t1 += ra[i + 1][kk] * bv; \
                } \
                acc[i * TN + j] = t0; \
                acc[(i + 1) * TN + j] = t1; \
            } \
        } \
}

void main() {
    const uint lane = gl_LocalInvocationID.x;
    const uint lanes_m = gl_WorkGroupSize.x / LANES_N;
    const uint o0 = (gl_WorkGroupID.y * lanes_m + lane / LANES_N) * TM;
    const uint n0 = (gl_WorkGroupID.x * LANES_N + lane % LANES_N) * TN;
    const uint z = gl_WorkGroupID.z;
    const uint O = p.O, K = p.K, N = p.Ho * p.Wo;
    if (o0 >= O) return; // the whole subgroup alike: its lanes share o0
#ifndef SHUFFLE_A
    if (n0 >= N) return;
#endif
    const uint hw = p.H * p.W;
    x_img = p.x_off + z * p.C * hw;
    frame = MODE == 1 ? z % p.frames : 0;

    [[unroll]] for (uint j = 0; j < TN; j++) {
        uint n = min(n0 + j, N - 1);
        iy0[j] = int((n / p.Wo) * STRIDE) - p.pad;
        ix0[j] = int((n % p.Wo) * STRIDE) - p.pad;
        if (MODE == 0) xpix[j] = iy0[j] * int(p.W) + ix0[j];
        else xpix[j] = (j % 4 == 0) ? int(VEC_X ? min(n0 + j, N - 4) : n0 + j) : 0;
    }
    uint wrow[TM];
    [[unroll]] for (uint i = 0; i < TM; i++) wrow[i] = min(o0 + i, O - 1) * K;
#ifdef SHUFFLE_A
    uint wrow_own[TM / LANES_N];
    [[unroll]] for (uint r = 0; r < TM / LANES_N; r++) wrow_own[r] = min(o0 + r * LANES_N + gl_SubgroupInvocationID, O - 1) * K;
#endif

    float acc[TM * TN];
    [[unroll]] for (uint t = 0; t < TM * TN; t++) acc[t] = 0.0;

    const uint KU4 = K - K % KU, K4 = K & ~3u;
    uint k = 0;
    for (; k < KU4; k += KU) {
        [[unroll]] for (uint u = 0; u < KU; u += 4) {
            uint ku = k + u;
            STEP4(ku)
        }
    }
    for (; k < K4; k += 4) STEP4(k)
    for (; k < K; k++) {
        float ra1[TM], rb1[TN];
        [[unroll]] for (uint i = 0; i < TM; i++) ra1[i] = load1_w(wrow[i] + k);
        [[unroll]] for (uint j = 0; j < TN; j += 4) {
            vec4 v;
            if (MODE == 0) v = vec4(im2col(k, j), im2col(k, j + 1), im2col(k, j + 2), im2col(k, j + 3));
            else v = plane4(k, j);
            rb1[j] = v.x; rb1[j + 1] = v.y; rb1[j + 2] = v.z; rb1[j + 3] = v.w;
        }
        [[unroll]] for (uint i = 0; i < TM; i++)
            [[unroll]] for (uint j = 0; j < TN; j++) acc[i * TN + j] += ra1[i] * rb1[j];
    }

    const uint y_img = p.y_off + z * O * N;
    [[unroll]] for (uint i = 0; i < TM; i++) {
        uint o = o0 + i;
        if (o >= O) break;
        float bias = HAS_BIAS ? texelFetch(BIAS, int(o)).x : 0.0;
        [[unroll]] for (uint j = 0; j < TN; j++) {
            uint n = n0 + j;
            if (n < N) Y[y_img + o * N + n] = acc[i * TN + j] + bias;
        }
    }
}
