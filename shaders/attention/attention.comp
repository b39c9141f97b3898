// attention.comp — fused scaled-dot-product attention with an online softmax: out = softmax(q·kᵀ·scale
// + mask)·v per (batch, head), never forming the Lq×Lk score matrix (memory O(L·D)). Layouts are
// [B, L, H, D] for q, k, v and out. One invocation owns one query row; keys are consumed in blocks
// of KB with one running max / running sum rescale per block (flash-attention style).
//
// Two builds of the same algorithm:
//  - attention_tiled (GPU): a workgroup of WG query rows of one (batch, head) stages K/V tiles of
//    TC keys in shared memory, so every key row is read from device memory once per workgroup;
//    plain storage buffers, any D <= 256 (zero-padded to a multiple of 4 in registers).
//  - attention_rows (CPU drivers such as lavapipe): no shared memory and no barriers (they cost
//    more than they save there); q, k and v are read through RGBA32F uniform texel buffers, whose
//    fetches such drivers vectorise, while neighbouring lanes (neighbouring queries) read the same
//    key row and hit the same cache lines. Each lane owns QPL query rows (4; 1 in the _q1 build
//    for short sequences) so every fetched key/value vec4 feeds QPL rows: fetches, not
//    arithmetic, bound this loop on lavapipe (measured: 4 rows per lane ≈ 1.3-2× one row).
//    Needs D % 4 == 0 (rows of whole vec4s); attention_rows_anyd reads R32F texels one float at
//    a time instead, for other head dims on CPU devices.
//  Every loop over the head dim is unrolled by the compiler (D4 is a specialization constant),
//  which matters on gallivm-based drivers: they end an invocation after 65535 loop iterations in
//  total, so only the loop over keys (Lk/4 iterations) may remain a loop. The per-lane q and acc
//  arrays are sized by D4 itself (not by the largest head dim), so a pipeline for a small head
//  dim carries no dead registers and any D up to 256 (SD 1.5's 160 among them) needs no rebuild.
// Specialization: 0 = workgroup size, 1 = D4 (ceil(D/4)), 2 = has mask, 3 = causal, 4 = TC.
// A row whose every score is -inf (fully masked) gets zeros instead of NaN: the running max is
// replaced by 0 while it is still -inf, so exp never sees (-inf) - (-inf).
// variant: tiled -DEVK_TILED=1
// variant: rows -DEVK_ROWS=1 -DEVK_QPL=4
// variant: rows_q1 -DEVK_ROWS=1 -DEVK_QPL=1
// variant: rows_anyd -DEVK_ROWS=1 -DEVK_QPL=1 -DEVK_ANYD=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D4 = 16;
layout(constant_id = 2) const uint HAS_MASK = 0;
layout(constant_id = 3) const uint CAUSAL = 0;
layout(constant_id = 4) const uint TC = 32;

#define KB 4
#ifndef EVK_QPL
#define EVK_QPL 4
#endif
#define R EVK_QPL
const float NEG_INF = -1.0 / 0.0;
const float LOG2E = 1.4426950408889634;

layout(push_constant) uniform Push {
    uint lq, lk, heads, d;      // d: true head dim (<= 4 * D4)
    float scale_log2;           // scale * log2(e): scores go straight to exp2
    uint mask_batch_stride;     // elements between batches of the mask (0: one [Lq, Lk] mask)
    uint batch;
} p;

#if EVK_ROWS
layout(binding = 0) uniform samplerBuffer Q;
layout(binding = 1) uniform samplerBuffer K;
layout(binding = 2) uniform samplerBuffer V;
#if EVK_ANYD
layout(std430, binding = 3) writeonly buffer Out { float of[]; };
#define RS p.d // row stride in texels
#else
layout(std430, binding = 3) writeonly buffer Out { vec4 o4[]; };
#define RS D4
#endif
layout(binding = 4) uniform samplerBuffer M;
#else
layout(std430, binding = 0) readonly buffer Qb { float qf[]; };
layout(std430, binding = 1) readonly buffer Kb { float kf[]; };
layout(std430, binding = 2) readonly buffer Vb { float vf[]; };
layout(std430, binding = 3) writeonly buffer Out { float of[]; };
layout(std430, binding = 4) readonly buffer Mb { float mf[]; };
shared vec4 ks[TC * D4];
shared vec4 vs[TC * D4];
#endif

float mask_at(uint b, uint i, uint j) {
#if EVK_ROWS
    return texelFetch(M, int(b * p.mask_batch_stride + i * p.lk + j)).x;
#else
    return mf[b * p.mask_batch_stride + i * p.lk + j];
#endif
}

#if EVK_ROWS
// vec4 number d4 of the row starting at texel rb. Single-float rows: components past the head dim
// hold the next row's values (clamped at the end of the buffer, never out of bounds); q's are
// zeroed after loading, so they add nothing to the scores, and acc's are never written out.
vec4 fetch4(samplerBuffer t, uint rb, uint d4) {
#if EVK_ANYD
    int lim = textureSize(t) - 1;
    int e = int(rb + d4 * 4);
    return vec4(texelFetch(t, min(e, lim)).x, texelFetch(t, min(e + 1, lim)).x, texelFetch(t, min(e + 2, lim)).x,
                texelFetch(t, min(e + 3, lim)).x);
#else
    return texelFetch(t, int(rb + d4));
#endif
}

vec4 head_mask(uint d4) {
#if EVK_ANYD
    return vec4(lessThan(uvec4(d4 * 4) + uvec4(0, 1, 2, 3), uvec4(p.d)));
#else
    return vec4(1.0);
#endif
}
#else
vec4 load4(uint which, uint base, uint d4) {
    // element base + 4*d4 .. +3 of q / k / v, zero beyond the head dim
    vec4 r = vec4(0.0);
    for (uint c = 0; c < 4; c++) {
        uint d = d4 * 4 + c;
        if (d < p.d) {
            float x = which == 0 ? qf[base + d] : (which == 1 ? kf[base + d] : vf[base + d]);
            r[c] = x;
        }
    }
    return r;
}
#endif

void main() {
    uint bh = gl_WorkGroupID.y + gl_WorkGroupID.z * gl_NumWorkGroups.y;
    uint b = bh / p.heads, h = bh % p.heads;
    uint i = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (b >= p.batch) return; // whole workgroup: grid padding when B*H spills into z
#if EVK_ROWS
    // R query rows per lane (i and i + WG): every fetched key / value vec4 feeds R rows
    uint ir[R];
    vec4 q[R][D4];
    vec4 acc[R][D4];
    float m[R], l[R];
    for (uint r = 0; r < R; r++) {
        ir[r] = gl_WorkGroupID.x * gl_WorkGroupSize.x * R + r * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
        uint qbase = ((b * p.lq + min(ir[r], p.lq - 1)) * p.heads + h) * RS;
        for (uint d = 0; d < D4; d++) { q[r][d] = fetch4(Q, qbase, d) * head_mask(d) * p.scale_log2; acc[r][d] = vec4(0.0); }
        m[r] = NEG_INF;
        l[r] = 0.0;
    }
    uint kstride = p.heads * RS;
    uint kbase = (b * p.lk * p.heads + h) * RS;
#else
    bool live = i < p.lq;
    uint iq = min(i, p.lq - 1);
    vec4 q[D4];
    vec4 acc[D4];
    uint qbase = ((b * p.lq + iq) * p.heads + h) * p.d;
    for (uint d = 0; d < D4; d++) { q[d] = load4(0, qbase, d) * p.scale_log2; acc[d] = vec4(0.0); }
    uint kstride = p.heads * p.d;
    uint kbase = (b * p.lk * p.heads + h) * p.d;
#endif
#if !EVK_ROWS
    float m = NEG_INF, l = 0.0;
#endif
    // causal: keys after the query are masked; the workgroup still walks to its last row's bound
    uint kend = p.lk;
#if EVK_ROWS
    if (CAUSAL != 0) kend = min(p.lk, (gl_WorkGroupID.x + 1) * gl_WorkGroupSize.x * R);
#else
    if (CAUSAL != 0) kend = min(p.lk, (gl_WorkGroupID.x + 1) * gl_WorkGroupSize.x);
#endif

#if EVK_ROWS
    for (uint j0 = 0; j0 < kend; j0 += KB) {
        float sc[R][KB];
        for (uint t = 0; t < KB; t++) {
            uint j = min(j0 + t, p.lk - 1);
            uint kb = kbase + j * kstride;
            vec4 a[R];
            for (uint r = 0; r < R; r++) a[r] = vec4(0.0);
            for (uint d = 0; d < D4; d++) {
                vec4 kv = fetch4(K, kb, d);
                for (uint r = 0; r < R; r++) a[r] += q[r][d] * kv;
            }
            for (uint r = 0; r < R; r++) {
                float x = (a[r].x + a[r].y) + (a[r].z + a[r].w);
                if (HAS_MASK != 0) x += mask_at(b, min(ir[r], p.lq - 1), j) * LOG2E;
                if (j0 + t >= p.lk || (CAUSAL != 0 && j0 + t > ir[r])) x = NEG_INF;
                sc[r][t] = x;
            }
        }
        float alpha[R], pr[R][KB];
        for (uint r = 0; r < R; r++) {
            float mn = max(m[r], max(max(sc[r][0], sc[r][1]), max(sc[r][2], sc[r][3])));
            float mref = mn == NEG_INF ? 0.0 : mn;
            alpha[r] = exp2(m[r] - mref);
            for (uint t = 0; t < KB; t++) pr[r][t] = exp2(sc[r][t] - mref);
            l[r] = l[r] * alpha[r] + ((pr[r][0] + pr[r][1]) + (pr[r][2] + pr[r][3]));
            m[r] = mn;
        }
        uint v0 = kbase + min(j0, p.lk - 1) * kstride, v1 = kbase + min(j0 + 1, p.lk - 1) * kstride;
        uint v2 = kbase + min(j0 + 2, p.lk - 1) * kstride, v3 = kbase + min(j0 + 3, p.lk - 1) * kstride;
        for (uint d = 0; d < D4; d++) {
            vec4 x0 = fetch4(V, v0, d), x1 = fetch4(V, v1, d);
            vec4 x2 = fetch4(V, v2, d), x3 = fetch4(V, v3, d);
            for (uint r = 0; r < R; r++)
                acc[r][d] = (acc[r][d] * alpha[r] + pr[r][0] * x0) + (pr[r][1] * x1 + pr[r][2] * x2) + pr[r][3] * x3;
        }
    }
    for (uint r = 0; r < R; r++) {
        if (ir[r] >= p.lq) continue;
        float inv = l[r] > 0.0 ? 1.0 / l[r] : 0.0;
        uint obase = ((b * p.lq + ir[r]) * p.heads + h) * RS;
#if EVK_ANYD
        for (uint d = 0; d < D4; d++)
            for (uint c = 0; c < 4; c++)
                if (d * 4 + c < p.d) of[obase + d * 4 + c] = acc[r][d][c] * inv;
#else
        for (uint d = 0; d < D4; d++) o4[obase + d] = acc[r][d] * inv;
#endif
    }
#else
    uint lid = gl_LocalInvocationID.x;
    for (uint t0 = 0; t0 < kend; t0 += TC) {
        // stage TC key and value rows (zero rows past the end) in shared memory
        barrier();
        for (uint e = lid; e < TC * D4; e += gl_WorkGroupSize.x) {
            uint t = e / D4, d = e % D4;
            uint j = t0 + t;
            vec4 kv = vec4(0.0), vv = vec4(0.0);
            if (j < p.lk) {
                kv = load4(1, kbase + j * kstride, d);
                vv = load4(2, kbase + j * kstride, d);
            }
            ks[e] = kv;
            vs[e] = vv;
        }
        barrier();
        uint tn = min(TC, kend - t0);
        for (uint tb = 0; tb < tn; tb += KB) {
            float s[KB];
            for (uint t = 0; t < KB; t++) {
                uint tt = min(tb + t, TC - 1);
                vec4 a0 = vec4(0.0);
                for (uint d = 0; d < D4; d++) a0 += q[d] * ks[tt * D4 + d];
                float sc = (a0.x + a0.y) + (a0.z + a0.w);
                uint j = t0 + tb + t;
                if (HAS_MASK != 0 && j < p.lk) sc += mask_at(b, iq, j) * LOG2E;
                if (tb + t >= tn || (CAUSAL != 0 && j > iq)) sc = NEG_INF;
                s[t] = sc;
            }
            float mn = max(m, max(max(s[0], s[1]), max(s[2], s[3])));
            float mref = mn == NEG_INF ? 0.0 : mn;
            float alpha = exp2(m - mref);
            float p0 = exp2(s[0] - mref), p1 = exp2(s[1] - mref), p2 = exp2(s[2] - mref), p3 = exp2(s[3] - mref);
            l = l * alpha + ((p0 + p1) + (p2 + p3));
            m = mn;
            uint r0 = min(tb, TC - 1) * D4, r1 = min(tb + 1, TC - 1) * D4;
            uint r2 = min(tb + 2, TC - 1) * D4, r3 = min(tb + 3, TC - 1) * D4;
            for (uint d = 0; d < D4; d++)
                acc[d] = acc[d] * alpha + p0 * vs[r0 + d] + p1 * vs[r1 + d] + p2 * vs[r2 + d] + p3 * vs[r3 + d];
        }
    }
    if (!live) return;
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    uint obase = ((b * p.lq + i) * p.heads + h) * p.d;
    for (uint d = 0; d < D4; d++)
        for (uint c = 0; c < 4; c++)
            if (d * 4 + c < p.d) of[obase + d * 4 + c] = acc[d][c] * inv;
#endif
}
