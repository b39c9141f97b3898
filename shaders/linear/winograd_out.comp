// winograd_out.comp — the output transform of Winograd F(2×2, 3×3) convolution (op_conv.c): the
// 16 products' element M[ξ][o][q] of output channel o and tile q becomes the 2×2 output tile
// Aᵀ·m·A, plus the bias, written straight into y [N, O, Ho, Wo] (rows and columns past Ho, Wo,
// which odd sizes leave in the last tiles, are dropped). One invocation per (channel, tile). M is
// read as r32f texels, which CPU drivers gather as vectors (30 % less time on lavapipe than
// storage-buffer loads, bench/CONV.md run 7).
//   Aᵀ = [1 1 1 0; 0 1 −1 −1]
// Specialization: 0 bias present.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const bool HAS_BIAS = false;
layout(binding = 0) uniform samplerBuffer M;
layout(std430, binding = 1) readonly buffer Bb { float BIAS[]; };
layout(std430, binding = 2) writeonly buffer Yb { float Y[]; };

layout(push_constant) uniform Push {
    uint O, Ho, Wo;    // output channels and size
    uint tw, tiles;    // tiles per row and per image
    uint g0, np;       // first tile of the chunk (over the whole batch) and tiles in it
    uint o0, no;       // output channels of this dispatch
    uint y_shift;      // added (mod 2^32) to an element index of y to index the binding
    uint m_off, b_off; // element offsets of M and the bias in their bindings
} p;

void main() {
    const uint i = evk_flat_index();
    if (i >= p.no * p.np) return;
    const uint o = p.o0 + i / p.np, q = i % p.np, g = p.g0 + q;
    const uint n = g / p.tiles, t = g % p.tiles;
    const uint oy = 2u * (t / p.tw), ox = 2u * (t % p.tw);
    const uint plane = p.O * p.np, at = p.m_off + o * p.np + q;
    float m[16];
    for (uint k = 0; k < 16u; k++) m[k] = texelFetch(M, int(at + k * plane)).x;
    // Aᵀ·m (down the columns), then ·A (along the rows)
    float s0[4], s1[4];
    for (int s = 0; s < 4; s++) {
        s0[s] = m[s] + m[4 + s] + m[8 + s];
        s1[s] = m[4 + s] - m[8 + s] - m[12 + s];
    }
    const float b = HAS_BIAS ? BIAS[p.b_off + o] : 0.0;
    const float y00 = s0[0] + s0[1] + s0[2] + b, y01 = s0[1] - s0[2] - s0[3] + b;
    const float y10 = s1[0] + s1[1] + s1[2] + b, y11 = s1[1] - s1[2] - s1[3] + b;
    const uint row = (n * p.O + o) * p.Ho * p.Wo + p.y_shift + oy * p.Wo + ox;
    const bool right = ox + 1u < p.Wo;
    Y[row] = y00;
    if (right) Y[row + 1u] = y01;
    if (oy + 1u < p.Ho) {
        Y[row + p.Wo] = y10;
        if (right) Y[row + p.Wo + 1u] = y11;
    }
}
