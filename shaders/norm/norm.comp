// norm.comp — row-wise reductions with a per-row rewrite: group norm (+ fused SiLU) over NCHW,
// layer norm over the last dim, RMS norm over the last dim (x / sqrt(mean(x²) + eps) · gamma, the
// query/key norm of SD3.5's MMDiT-X), softmax over the last dim. One workgroup owns one row (a group
// norm row is one (n, group): C/G channels × spatial size, contiguous in NCHW).
//
// Norms take two reading passes (mean, then the centred sum of squares: no E[x²]−E[x]²
// cancellation) and a writing pass; softmax takes one online max/sum pass and a writing pass.
// Builds (`_cpu` for CPU drivers such as lavapipe): the input is read as RGBA32F uniform texel
// buffers (vectorised fetches there) by a workgroup of exactly one subgroup that reduces with
// subgroup arithmetic, no shared memory and no barriers. The plain builds use scalar storage
// loads and a shared-memory tree over any workgroup size. CPU builds need the row length (and
// for group norm the spatial size) divisible by 4.
// Specialization: 0 = workgroup size, 1 = fused activation (group norm: 0 none, 1 SiLU).
// The `group_affine` builds compute group norm's statistics but write, instead of the normalised
// tensor, each (image, channel)'s scale and shift (y = x·a + b): [N, C, 2], for a consumer that
// normalises while it reads (the Winograd input transform, op_conv.h).
// variant: group -DEVK_GROUP=1
// variant: group_cpu -DEVK_GROUP=1 -DEVK_CPU=1
// variant: group_affine -DEVK_GROUP=1 -DEVK_AFFINE_OUT=1
// variant: group_affine_cpu -DEVK_GROUP=1 -DEVK_AFFINE_OUT=1 -DEVK_CPU=1
// variant: layer -DEVK_LAYER=1
// variant: layer_cpu -DEVK_LAYER=1 -DEVK_CPU=1
// variant: rms -DEVK_LAYER=1 -DEVK_RMS=1
// variant: rms_cpu -DEVK_LAYER=1 -DEVK_RMS=1 -DEVK_CPU=1
// variant: softmax -DEVK_SOFTMAX=1
// variant: softmax_cpu -DEVK_SOFTMAX=1 -DEVK_CPU=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require
#if EVK_CPU
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

// CPU drivers built on gallivm (lavapipe) end any invocation after 65535 loop iterations in total
// (a guard against endless loops), so the CPU build walks rows U vec4s per iteration with the
// inner loop unrolled: rows up to ~5M elements (a VAE group at 1024x1024 is 4M).
#define U 8

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ACT = 0;

const float NEG_INF = -1.0 / 0.0;

layout(push_constant) uniform Push {
    uint rows;
    uint len;        // elements per row
    uint inner;      // group norm: spatial size per channel; layer norm / softmax: len
    uint cpg;        // group norm: channels per group
    uint groups;     // group norm: G
    float eps;
    uint row0;       // first row of this dispatch over the whole tensor (tensors larger than a
                     // binding are split)
} p;

#if EVK_AFFINE_OUT
layout(std430, binding = 1) writeonly buffer A { float aff[]; }; // [rows · cpg, 2], whole
#endif
#if EVK_CPU
layout(binding = 0) uniform samplerBuffer X;
#if !EVK_AFFINE_OUT
layout(std430, binding = 1) writeonly buffer Y { vec4 y4[]; };
#endif
#define LOADX(i4) texelFetch(X, int(i4))
#else
layout(std430, binding = 0) readonly buffer Xb { float xf[]; };
#if !EVK_AFFINE_OUT
layout(std430, binding = 1) writeonly buffer Y { float yf[]; };
#endif
shared float red[gl_WorkGroupSize.x];
shared float red2[gl_WorkGroupSize.x];
#endif
#if !EVK_SOFTMAX
layout(std430, binding = 2) readonly buffer Gb { float gamma[]; };
layout(std430, binding = 3) readonly buffer Bb { float beta[]; };
#endif

float wg_sum(float v) {
#if EVK_CPU
    return subgroupAdd(v);
#else
    uint lid = gl_LocalInvocationID.x;
    barrier();
    red[lid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier();
    }
    return red[0];
#endif
}

#if EVK_SOFTMAX
// merge (max, sum of exp(x - max)) pairs; empty pairs are (-inf, 0)
void merge(inout float m, inout float l, float m2, float l2) {
    float mn = max(m, m2);
    if (mn == NEG_INF) return;
    l = (l > 0.0 ? l * exp(m - mn) : 0.0) + (l2 > 0.0 ? l2 * exp(m2 - mn) : 0.0);
    m = mn;
}

void wg_maxsum(inout float m, inout float l) {
#if EVK_CPU
    float mx = subgroupMax(m);
    float part = (l > 0.0 && mx != NEG_INF) ? l * exp(m - mx) : 0.0;
    l = subgroupAdd(part);
    m = mx;
#else
    uint lid = gl_LocalInvocationID.x;
    barrier();
    red[lid] = m;
    red2[lid] = l;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s) {
            float a = red[lid], b = red2[lid];
            merge(a, b, red[lid + s], red2[lid + s]);
            red[lid] = a;
            red2[lid] = b;
        }
        barrier();
    }
    m = red[0];
    l = red2[0];
#endif
}
#endif

float act(float v) {
    if (ACT == 1) return v / (1.0 + exp(-v));
    return v;
}

void main() {
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= p.rows) return; // uniform over the workgroup
    uint lid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
#if EVK_CPU
    uint base = row * (p.len / 4), n4 = p.len / 4;
#else
    uint base = row * p.len;
#endif

#if EVK_SOFTMAX
    float m = NEG_INF, l = 0.0;
#if EVK_CPU
    for (uint i0 = lid; i0 < n4; i0 += nt * U) {
        [[unroll]] for (uint u = 0; u < U; u++) {
            uint i = i0 + u * nt;
            vec4 x = i < n4 ? LOADX(base + i) : vec4(NEG_INF);
            float mx = max(max(x.x, x.y), max(x.z, x.w));
            float mn = max(m, mx);
            if (mn != NEG_INF) {
                vec4 e = exp(x - mn);
                l = (l > 0.0 ? l * exp(m - mn) : 0.0) + ((e.x + e.y) + (e.z + e.w));
                m = mn;
            }
        }
    }
#else
    for (uint i = lid; i < p.len; i += nt) {
        float x = xf[base + i];
        if (x == NEG_INF) continue;
        float mn = max(m, x);
        l = (l > 0.0 ? l * exp(m - mn) : 0.0) + exp(x - mn);
        m = mn;
    }
#endif
    wg_maxsum(m, l);
    // a row of -inf only has no distribution: write zeros rather than NaN
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    float mref = m == NEG_INF ? 0.0 : m;
#if EVK_CPU
    for (uint i0 = lid; i0 < n4; i0 += nt * U)
        [[unroll]] for (uint u = 0; u < U; u++) {
            uint i = i0 + u * nt;
            if (i < n4) y4[base + i] = exp(LOADX(base + i) - mref) * inv;
        }
#else
    for (uint i = lid; i < p.len; i += nt) yf[base + i] = exp(xf[base + i] - mref) * inv;
#endif

#else // group norm / layer norm / RMS norm
    float s = 0.0;
#if !EVK_RMS
#if EVK_CPU
    vec4 a = vec4(0.0);
    for (uint i0 = lid; i0 < n4; i0 += nt * U)
        [[unroll]] for (uint u = 0; u < U; u++) {
            uint i = i0 + u * nt;
            if (i < n4) a += LOADX(base + i);
        }
    s = (a.x + a.y) + (a.z + a.w);
#else
    for (uint i = lid; i < p.len; i += nt) s += xf[base + i];
#endif
    float mean = wg_sum(s) / float(p.len);
#else
    const float mean = 0.0; // RMS: the plain mean of squares
#endif
    float q = 0.0;
#if EVK_CPU
    vec4 a2 = vec4(0.0);
    for (uint i0 = lid; i0 < n4; i0 += nt * U)
        [[unroll]] for (uint u = 0; u < U; u++) {
            uint i = i0 + u * nt;
            if (i < n4) {
                vec4 d = LOADX(base + i) - mean;
                a2 += d * d;
            }
        }
    q = (a2.x + a2.y) + (a2.z + a2.w);
#else
    for (uint i = lid; i < p.len; i += nt) {
        float d = xf[base + i] - mean;
        q += d * d;
    }
#endif
    float rstd = inversesqrt(wg_sum(q) / float(p.len) + p.eps);

#if EVK_AFFINE_OUT
    // the scale and shift of each channel of the group, not the normalised values
    if (lid == 0) {
        uint c0 = ((p.row0 + row) % p.groups) * p.cpg, at = (p.row0 + row) * p.cpg;
        for (uint c = 0; c < p.cpg; c++) {
            float g = gamma[c0 + c] * rstd;
            aff[2 * (at + c)] = g;
            aff[2 * (at + c) + 1] = beta[c0 + c] - mean * g;
        }
    }
#elif EVK_GROUP
    // channel by channel so gamma/beta are uniform and no division sits in the loop
    uint c0 = ((p.row0 + row) % p.groups) * p.cpg;
    for (uint c = 0; c < p.cpg; c++) {
        float g = gamma[c0 + c] * rstd;
        float bb = beta[c0 + c] - mean * g;
#if EVK_CPU
        uint cb = base + c * (p.inner / 4);
        uint m4 = p.inner / 4;
        for (uint i0 = lid; i0 < m4; i0 += nt * U)
            [[unroll]] for (uint u = 0; u < U; u++) {
                uint i = i0 + u * nt;
                if (i < m4) {
                    vec4 v = LOADX(cb + i) * g + bb;
                    if (ACT == 1) v = v / (1.0 + exp(-v));
                    y4[cb + i] = v;
                }
            }
#else
        uint cb = base + c * p.inner;
        for (uint i = lid; i < p.inner; i += nt) yf[cb + i] = act(xf[cb + i] * g + bb);
#endif
    }
#else // layer norm
#if EVK_CPU
    for (uint i0 = lid; i0 < n4; i0 += nt * U)
        [[unroll]] for (uint u = 0; u < U; u++) {
            uint i = i0 + u * nt;
            if (i < n4) {
                uint e = i * 4;
                vec4 gm = vec4(gamma[e], gamma[e + 1], gamma[e + 2], gamma[e + 3]);
                vec4 bt = vec4(beta[e], beta[e + 1], beta[e + 2], beta[e + 3]);
#if EVK_RMS
                y4[base + i] = LOADX(base + i) * rstd * gm;
#else
                y4[base + i] = (LOADX(base + i) - mean) * rstd * gm + bt;
#endif
            }
        }
#else
#if EVK_RMS
    for (uint i = lid; i < p.len; i += nt) yf[base + i] = xf[base + i] * rstd * gamma[i];
#else
    for (uint i = lid; i < p.len; i += nt) yf[base + i] = (xf[base + i] - mean) * rstd * gamma[i] + beta[i];
#endif
#endif
#endif
#endif
}
