// winograd_in.comp — the input transform of Winograd F(2×2, 3×3) convolution (op_conv.c): for
// every input channel c and 2×2 output tile q of a chunk of tiles, the 4×4 input patch d under
// the tile (zero in the padding) becomes V[ξ][c][q] = (Bᵀ·d·B)[ξ / 4][ξ % 4], the right-hand
// sides of the 16 products U[ξ]·V[ξ] (evk_op_matmul). Padding and the patch gather happen here,
// so the product reads plain rows. x is read as r32f texels, which CPU drivers gather as
// vectors (storage-buffer loads go lane by lane). One invocation per (channel, tile), tiles
// fastest so that neighbouring invocations write neighbouring V elements. With up_shift 1 the patches come from
// x's nearest-neighbour 2× upsampling (row iy of it is row iy / 2 of x), which is never stored.
// With AFFINE (specialisation 0) each value read becomes x·a + b with (a, b) its image's and
// channel's pair from A [N, C, 2] (a group norm folded into the read, evk_op_group_norm_affine),
// then SiLU when AFFINE is 2; the padding stays zero, as it is after the norm.
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint AFFINE = 0; // 0: x as it is; 1: x·a + b; 2: SiLU(x·a + b)
layout(binding = 0) uniform samplerBuffer X;
layout(std430, binding = 1) writeonly buffer Vb { float V[]; };
layout(std430, binding = 2) readonly buffer Ab { float A[]; }; // [N, C, 2], whole; unread when AFFINE is 0

layout(push_constant) uniform Push {
    uint C, H, W;      // input channels and size
    uint tw, tiles;    // tiles per row and per image
    int pad;
    uint g0, np;       // first tile of the chunk (over the whole batch) and tiles in it
    uint c0, nc;       // channels of this dispatch
    uint x_shift;      // added (mod 2^32) to an element index of x to index the binding
    uint v_off;        // element offset of V in its binding
    uint up_shift;     // 1: read x upsampled 2× (nearest), 0: as it is
} p;

void main() {
    const uint i = evk_flat_index();
    if (i >= p.nc * p.np) return;
    const uint c = p.c0 + i / p.np, q = i % p.np, g = p.g0 + q;
    const uint n = g / p.tiles, t = g % p.tiles;
    const int iy0 = int(2u * (t / p.tw)) - p.pad, ix0 = int(2u * (t % p.tw)) - p.pad;
    const uint base = (n * p.C + c) * p.H * p.W + p.x_shift;
    const uint uh = p.H << p.up_shift, uw = p.W << p.up_shift;
    float sa = 1.0, sb = 0.0;
    if (AFFINE != 0) {
        sa = A[2 * (n * p.C + c)];
        sb = A[2 * (n * p.C + c) + 1];
    }
    float d[16];
    for (int r = 0; r < 4; r++) {
        const int iy = iy0 + r;
        const bool row_ok = uint(iy) < uh;
        for (int s = 0; s < 4; s++) {
            const int ix = ix0 + s;
            const bool ok = row_ok && uint(ix) < uw;
            float v = ok ? texelFetch(X, int(base + (uint(iy) >> p.up_shift) * p.W + (uint(ix) >> p.up_shift))).x : 0.0;
            if (AFFINE != 0 && ok) {
                v = v * sa + sb;
                if (AFFINE == 2) v = v / (1.0 + exp(-v));
            }
            d[r * 4 + s] = v;
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
