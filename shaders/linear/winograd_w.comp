// winograd_w.comp — the weight transform of Winograd F(2×2, 3×3) convolution (op_conv.c):
// U[ξ][o][c] = (G·w[o][c]·Gᵀ)[ξ / 4][ξ % 4] for 3×3 weights w [O, C, 3, 3], run once per weight
// tensor (evk_op_conv2d_winograd_weights). Each invocation writes two consecutive elements of
// each plane (for f16 output packed into one 32-bit word, so no 16-bit storage feature is
// needed); the weights are read through a texel buffer (R32F or R16F). Two ways, by push mode:
//   0: when O·C is even, invocation i transforms the filters 2i and 2i+1 (nine loads each) and
//      writes their planes xi0 .. xi1 − 1 (U bound from plane xi0);
//   1: otherwise, invocation i computes elements e0 + 2i and e0 + 2i + 1 of U's flat range on
//      their own (nine loads per element; planes may start mid-word).
//   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
// Variants: F16 writes U as f16.
// variant: f32
// variant: f16 -DOUT_F16
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) uniform samplerBuffer Wt;
#ifdef OUT_F16
layout(std430, binding = 1) writeonly buffer Ub { uint U[]; };
#else
layout(std430, binding = 1) writeonly buffer Ub { float U[]; };
#endif

layout(push_constant) uniform Push {
    uint OC;           // O·C: elements per ξ plane
    uint e0, count;    // mode 1: this dispatch's first element of U and its element count (even);
                       // mode 0: first filter (even) and filters
    uint w_off, u_off; // w_off: added to a filter's first weight index; u_off: element offset (even for f16)
    uint mode, xi0, xi1;
} p;

const float G[12] = float[12](1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.0, 0.0, 1.0);

float u_at(uint e) {
    const uint xi = e / p.OC, oc = e % p.OC, r = xi / 4u, s = xi % 4u;
    const int base = int(p.w_off + oc * 9u);
    float acc = 0.0;
    for (uint a = 0; a < 3u; a++) {
        float row = 0.0;
        for (uint b = 0; b < 3u; b++) row += texelFetch(Wt, base + int(a * 3u + b)).x * G[s * 3u + b];
        acc += G[r * 3u + a] * row;
    }
    return acc;
}

// All 16 values of filter f: (G·g·Gᵀ) with g its 3×3 weights.
void transform(uint f, out float u[16]) {
    const int base = int(p.w_off + f * 9u);
    float g[9];
    for (int k = 0; k < 9; k++) g[k] = texelFetch(Wt, base + k).x;
    float t[12]; // G·g: 4 rows of 3
    for (int b = 0; b < 3; b++) {
        t[b] = g[b];
        t[3 + b] = 0.5 * (g[b] + g[3 + b] + g[6 + b]);
        t[6 + b] = 0.5 * (g[b] - g[3 + b] + g[6 + b]);
        t[9 + b] = g[6 + b];
    }
    for (int r = 0; r < 4; r++) { // ·Gᵀ
        u[r * 4 + 0] = t[r * 3];
        u[r * 4 + 1] = 0.5 * (t[r * 3] + t[r * 3 + 1] + t[r * 3 + 2]);
        u[r * 4 + 2] = 0.5 * (t[r * 3] - t[r * 3 + 1] + t[r * 3 + 2]);
        u[r * 4 + 3] = t[r * 3 + 2];
    }
}

void main() {
    const uint i = evk_flat_index();
    if (p.mode == 0u) {
        if (2u * i >= p.count) return;
        const uint f = p.e0 + 2u * i;
        float a[16], b[16];
        transform(f, a);
        transform(f + 1u, b);
        for (uint xi = p.xi0; xi < p.xi1; xi++) {
            const uint at = p.u_off + (xi - p.xi0) * p.OC + f; // even: f and OC are
#ifdef OUT_F16
            U[at >> 1] = packHalf2x16(vec2(a[xi], b[xi]));
#else
            U[at] = a[xi];
            U[at + 1u] = b[xi];
#endif
        }
        return;
    }
    if (2u * i >= p.count) return;
    const uint e = p.e0 + 2u * i;
#ifdef OUT_F16
    U[(p.u_off >> 1) + i] = packHalf2x16(vec2(u_at(e), u_at(e + 1u)));
#else
    U[p.u_off + 2u * i] = u_at(e);
    U[p.u_off + 2u * i + 1u] = u_at(e + 1u);
#endif
}
