// winograd_in.comp — the input transform of Winograd F(2×2, 3×3) convolution (op_conv.c): for
// every input channel c and 2×2 output tile q of a chunk of tiles, the 4×4 input patch d under
// the tile (zero in the padding) becomes V[ξ][c][q] = (Bᵀ·d·B)[ξ / 4][ξ % 4], the right-hand
// sides of the 16 products U[ξ]·V[ξ] (evk_op_matmul). Padding and the patch gather happen here,
// so the product reads plain rows. One invocation per (channel, tile), tiles fastest so that
// neighbouring invocations write neighbouring V elements.
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Xb { float X[]; };
layout(std430, binding = 1) writeonly buffer Vb { float V[]; };

layout(push_constant) uniform Push {
    uint C, H, W;      // input channels and size
    uint tw, tiles;    // tiles per row and per image
    int pad;
    uint g0, np;       // first tile of the chunk (over the whole batch) and tiles in it
    uint c0, nc;       // channels of this dispatch
    uint x_shift;      // added (mod 2^32) to an element index of x to index the binding
    uint v_off;        // element offset of V in its binding
} p;

void main() {
    const uint i = evk_flat_index();
    if (i >= p.nc * p.np) return;
    const uint c = p.c0 + i / p.np, q = i % p.np, g = p.g0 + q;
    const uint n = g / p.tiles, t = g % p.tiles;
    const int iy0 = int(2u * (t / p.tw)) - p.pad, ix0 = int(2u * (t % p.tw)) - p.pad;
    const uint base = (n * p.C + c) * p.H * p.W + p.x_shift;
    float d[16];
    for (int r = 0; r < 4; r++) {
        const int iy = iy0 + r;
        const bool row_ok = uint(iy) < p.H;
        for (int s = 0; s < 4; s++) {
            const int ix = ix0 + s;
            const bool ok = row_ok && uint(ix) < p.W;
            d[r * 4 + s] = ok ? X[base + uint(iy) * p.W + uint(ix)] : 0.0;
        }
    }
    // Bᵀ·d (down the columns), then ·B (along the rows)
    float e[16];
    for (int s = 0; s < 4; s++) {
        e[0 + s] = d[0 + s] - d[8 + s];
        e[4 + s] = d[4 + s] + d[8 + s];
        e[8 + s] = d[8 + s] - d[4 + s];
        e[12 + s] = d[4 + s] - d[12 + s];
    }
    const uint plane = p.C * p.np, at = p.v_off + c * p.np + q;
    for (int r = 0; r < 4; r++) {
        const float a = e[r * 4], b = e[r * 4 + 1], cc = e[r * 4 + 2], dd = e[r * 4 + 3];
        V[at + uint(r * 4 + 0) * plane] = a - cc;
        V[at + uint(r * 4 + 1) * plane] = b + cc;
        V[at + uint(r * 4 + 2) * plane] = cc - b;
        V[at + uint(r * 4 + 3) * plane] = b - dd;
    }
}
