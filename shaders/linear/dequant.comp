// dequant.comp — GGUF block-quantised weights (ggml's block layouts, as the file stores them)
// to f32, one variant per block type: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K. One
// invocation per output element; the blocks are read as bytes out of a uint array because blocks
// of 18, 20, 22, 34, 144, 176 or 210 bytes do not keep 4-byte alignment. The arithmetic is the
// host reference's (runtime/formats/gguf_quant.c: ggml's dequantize_row_* order, K-quants forming
// d·scale and dmin·min first), marked `precise` so no driver contracts it into an fma: the
// output equals the host dequantisation bit for bit. This is the reference the dequantising
// matmul variants are checked against, and a way to expand quantised weights on the device.
// Specialization: 0 = workgroup size.
// variant: q4_0 -DEVK_Q4_0=1
// variant: q4_1 -DEVK_Q4_1=1
// variant: q5_0 -DEVK_Q5_0=1
// variant: q5_1 -DEVK_Q5_1=1
// variant: q8_0 -DEVK_Q8_0=1
// variant: q4_k -DEVK_Q4_K=1
// variant: q5_k -DEVK_Q5_K=1
// variant: q6_k -DEVK_Q6_K=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint n;  // output elements
} p;

layout(std430, binding = 0) readonly buffer Qb { uint q[]; };
layout(std430, binding = 1) writeonly buffer Ob { float o[]; };

uint byte_at(uint off) { return (q[off >> 2] >> ((off & 3u) * 8u)) & 0xffu; }
float half_at(uint off) { return unpackHalf2x16(byte_at(off) | (byte_at(off + 1u) << 8)).x; }

#if defined(EVK_Q4_K) || defined(EVK_Q5_K)
// 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes at `s`
void scale_min_k4(uint j, uint s, out uint sc, out uint m) {
    if (j < 4u) {
        sc = byte_at(s + j) & 63u;
        m = byte_at(s + j + 4u) & 63u;
    } else {
        sc = (byte_at(s + j + 4u) & 15u) | ((byte_at(s + j - 4u) >> 6) << 4);
        m = (byte_at(s + j + 4u) >> 4) | ((byte_at(s + j) >> 6) << 4);
    }
}
#endif

void main() {
    uint idx = evk_flat_index();
    if (idx >= p.n) return;
#if defined(EVK_Q4_0) || defined(EVK_Q4_1) || defined(EVK_Q5_0) || defined(EVK_Q5_1) || defined(EVK_Q8_0)
    uint j = idx % 32u;
    uint nib_shift = j < 16u ? 0u : 4u;
#endif
#if defined(EVK_Q4_0)
    uint b = (idx / 32u) * 18u;
    precise float y = half_at(b) * float(int((byte_at(b + 2u + (j & 15u)) >> nib_shift) & 15u) - 8);
#elif defined(EVK_Q4_1)
    uint b = (idx / 32u) * 20u;
    precise float y = half_at(b) * float((byte_at(b + 4u + (j & 15u)) >> nib_shift) & 15u) + half_at(b + 2u);
#elif defined(EVK_Q5_0)
    uint b = (idx / 32u) * 22u;
    uint hi = (byte_at(b + 2u + j / 8u) >> (j % 8u)) & 1u;
    uint x = ((byte_at(b + 6u + (j & 15u)) >> nib_shift) & 15u) | (hi << 4);
    precise float y = half_at(b) * float(int(x) - 16);
#elif defined(EVK_Q5_1)
    uint b = (idx / 32u) * 24u;
    uint hi = (byte_at(b + 4u + j / 8u) >> (j % 8u)) & 1u;
    uint x = ((byte_at(b + 8u + (j & 15u)) >> nib_shift) & 15u) | (hi << 4);
    precise float y = half_at(b) * float(x) + half_at(b + 2u);
#elif defined(EVK_Q8_0)
    uint b = (idx / 32u) * 34u;
    precise float y = float(int(byte_at(b + 2u + j) << 24) >> 24) * half_at(b);
#elif defined(EVK_Q4_K) || defined(EVK_Q5_K)
#if defined(EVK_Q4_K)
    uint b = (idx / 256u) * 144u, qs = b + 16u;
#else
    uint b = (idx / 256u) * 176u, qs = b + 48u;
#endif
    uint e = idx % 256u, sb = e / 32u, l = e % 32u;
    uint sc, m;
    scale_min_k4(sb, b + 4u, sc, m);
    uint x = (byte_at(qs + (sb / 2u) * 32u + l) >> ((sb & 1u) * 4u)) & 15u;
#if defined(EVK_Q5_K)
    x |= ((byte_at(b + 16u + l) >> sb) & 1u) << 4;
#endif
    precise float d1 = half_at(b) * float(sc);
    precise float m1 = half_at(b + 2u) * float(m);
    precise float y = d1 * float(x) - m1;
#elif defined(EVK_Q6_K)
    uint b = (idx / 256u) * 210u;
    uint e = idx % 256u, h = e / 128u, g = (e % 128u) / 32u, l = e % 32u;
    uint lo = (byte_at(b + h * 64u + l + (g & 1u) * 32u) >> ((g / 2u) * 4u)) & 15u;
    uint hi = (byte_at(b + 128u + h * 32u + l) >> (2u * g)) & 3u;
    int sc = int(byte_at(b + 192u + h * 8u + l / 16u + 2u * g) << 24) >> 24;
    precise float ds = half_at(b + 208u) * float(sc);
    precise float y = ds * float(int(lo | (hi << 4)) - 32);
#endif
    o[idx] = y;
}
