// quant.glsl — GGUF block-quantised weights (ggml's block layouts, exactly as a file stores them)
// read element by element out of a uint array `q` that the including shader declares (blocks of
// 18, 20, 22, 34, 144, 176 or 210 bytes keep no 4-byte alignment, so every field is read as
// bytes). One block type per build: EVK_Q4_0, EVK_Q4_1, EVK_Q5_0, EVK_Q5_1, EVK_Q8_0, EVK_Q4_K,
// EVK_Q5_K or EVK_Q6_K defined to 1. The arithmetic is the host reference's
// (runtime/formats/gguf_quant.c: ggml's dequantize_row_* order, K-quants forming d·scale and
// dmin·min first), marked `precise` so no driver contracts it into an fma: every value equals the
// host dequantisation bit for bit.
//   float deq1(uint i)  element i of the flattened blocks (element 0 starts byte 0)
//   vec4 deq4(uint i)   elements i .. i+3, i a multiple of 4 (all four in one block, one
//                       sub-block of the K-quants, so the scales are read once, and the packed
//                       integers as whole words)
#ifndef EVK_QUANT_GLSL
#define EVK_QUANT_GLSL

uint byte_at(uint off) { return (q[off >> 2] >> ((off & 3u) * 8u)) & 0xffu; }
// An f16 field: every one starts at an even byte (blocks have even sizes, fields even offsets),
// so it lies inside one word.
float half_at(uint off) { return unpackHalf2x16(q[off >> 2] >> ((off & 2u) * 8u)).x; }
// Four consecutive bytes from any offset, little-endian (byte k in bits 8k..8k+7). The second
// word is read only when the bytes straddle it, and then lies inside the blocks rounded up to
// whole words.
uint word_at(uint off) {
    uint i = off >> 2, sh = (off & 3u) * 8u;
    uint lo = q[i];
    return sh == 0u ? lo : (lo >> sh) | (q[i + 1u] << (32u - sh));
}
// The four bytes of w, each masked to `bits` low bits, as floats.
vec4 bytes4(uint w, uint bits) {
    uint m = (1u << bits) - 1u;
    return vec4(float(w & m), float((w >> 8) & m), float((w >> 16) & m), float((w >> 24) & m));
}

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

// The block's scale `d` and offset `mn` (y = d·x + mn for the integer x; -0 where there is none,
// which leaves every product as it is, -0 included), with `b` the block's
// first byte and `e` the element inside the block.
void block_scale(uint idx, out uint b, out uint e, out float d, out float mn) {
#if defined(EVK_Q4_0)
    b = (idx / 32u) * 18u; e = idx % 32u; d = half_at(b); mn = -0.0;
#elif defined(EVK_Q4_1)
    b = (idx / 32u) * 20u; e = idx % 32u; d = half_at(b); mn = half_at(b + 2u);
#elif defined(EVK_Q5_0)
    b = (idx / 32u) * 22u; e = idx % 32u; d = half_at(b); mn = -0.0;
#elif defined(EVK_Q5_1)
    b = (idx / 32u) * 24u; e = idx % 32u; d = half_at(b); mn = half_at(b + 2u);
#elif defined(EVK_Q8_0)
    b = (idx / 32u) * 34u; e = idx % 32u; d = half_at(b); mn = -0.0;
#elif defined(EVK_Q4_K) || defined(EVK_Q5_K)
#if defined(EVK_Q4_K)
    b = (idx / 256u) * 144u;
#else
    b = (idx / 256u) * 176u;
#endif
    e = idx % 256u;
    uint sc, m;
    scale_min_k4(e / 32u, b + 4u, sc, m);
    precise float d1 = half_at(b) * float(sc);
    precise float m1 = half_at(b + 2u) * float(m);
    d = d1;
    mn = -m1;
#elif defined(EVK_Q6_K)
    b = (idx / 256u) * 210u;
    e = idx % 256u;
    uint h = e / 128u, g = (e % 128u) / 32u, l = e % 32u;
    int sc = int(byte_at(b + 192u + h * 8u + l / 16u + 2u * g) << 24) >> 24;
    precise float ds = half_at(b + 208u) * float(sc);
    d = ds;
    mn = -0.0;
#endif
}

// The integer of element e of the block at byte b (signed types already offset).
float block_int(uint b, uint e) {
#if defined(EVK_Q4_0) || defined(EVK_Q4_1) || defined(EVK_Q5_0) || defined(EVK_Q5_1)
    uint nib_shift = e < 16u ? 0u : 4u;
#endif
#if defined(EVK_Q4_0)
    return float(int((byte_at(b + 2u + (e & 15u)) >> nib_shift) & 15u) - 8);
#elif defined(EVK_Q4_1)
    return float((byte_at(b + 4u + (e & 15u)) >> nib_shift) & 15u);
#elif defined(EVK_Q5_0)
    uint hi = (byte_at(b + 2u + e / 8u) >> (e % 8u)) & 1u;
    return float(int(((byte_at(b + 6u + (e & 15u)) >> nib_shift) & 15u) | (hi << 4)) - 16);
#elif defined(EVK_Q5_1)
    uint hi = (byte_at(b + 4u + e / 8u) >> (e % 8u)) & 1u;
    return float(((byte_at(b + 8u + (e & 15u)) >> nib_shift) & 15u) | (hi << 4));
#elif defined(EVK_Q8_0)
    return float(int(byte_at(b + 2u + e) << 24) >> 24);
#elif defined(EVK_Q4_K) || defined(EVK_Q5_K)
#if defined(EVK_Q4_K)
    const uint qs = b + 16u;
#else
    const uint qs = b + 48u;
#endif
    uint sb = e / 32u, l = e % 32u;
    uint x = (byte_at(qs + (sb / 2u) * 32u + l) >> ((sb & 1u) * 4u)) & 15u;
#if defined(EVK_Q5_K)
    x |= ((byte_at(b + 16u + l) >> sb) & 1u) << 4;
#endif
    return float(x);
#elif defined(EVK_Q6_K)
    uint h = e / 128u, g = (e % 128u) / 32u, l = e % 32u;
    uint lo = (byte_at(b + h * 64u + l + (g & 1u) * 32u) >> ((g / 2u) * 4u)) & 15u;
    uint hi = (byte_at(b + 128u + h * 32u + l) >> (2u * g)) & 3u;
    return float(int(lo | (hi << 4)) - 32);
#endif
}

float deq1(uint idx) {
    uint b, e;
    float d, mn;
    block_scale(idx, b, e, d, mn);
    precise float y = d * block_int(b, e) + mn;
    return y;
}

// The integers of elements e .. e+3 of the block at byte b (e a multiple of 4), read as whole
// words: the same values as block_int, four at a time.
vec4 block_int4(uint b, uint e) {
#if defined(EVK_Q4_0) || defined(EVK_Q4_1) || defined(EVK_Q5_0) || defined(EVK_Q5_1)
    uint nib_shift = e < 16u ? 0u : 4u;
#endif
#if defined(EVK_Q8_0)
    int w = int(word_at(b + 2u + e));
    return vec4(float(bitfieldExtract(w, 0, 8)), float(bitfieldExtract(w, 8, 8)), float(bitfieldExtract(w, 16, 8)),
                float(bitfieldExtract(w, 24, 8)));
#elif defined(EVK_Q4_0)
    return bytes4(word_at(b + 2u + (e & 15u)) >> nib_shift, 4u) - 8.0;
#elif defined(EVK_Q4_1)
    return bytes4(word_at(b + 4u + (e & 15u)) >> nib_shift, 4u);
#elif defined(EVK_Q5_0) || defined(EVK_Q5_1)
#if defined(EVK_Q5_0)
    const uint qh = b + 2u, qs = b + 6u;
#else
    const uint qh = b + 4u, qs = b + 8u;
#endif
    uint h = word_at(qh) >> e; // bit e+k of the 32 high bits, moved to bit k
    uint lo = (word_at(qs + (e & 15u)) >> nib_shift) & 0x0f0f0f0fu;
    uint hi = ((h & 1u) | ((h & 2u) << 7) | ((h & 4u) << 14) | ((h & 8u) << 21)) << 4;
#if defined(EVK_Q5_0)
    return bytes4(lo | hi, 5u) - 16.0;
#else
    return bytes4(lo | hi, 5u);
#endif
#elif defined(EVK_Q4_K) || defined(EVK_Q5_K)
#if defined(EVK_Q4_K)
    const uint qs = b + 16u;
#else
    const uint qs = b + 48u;
#endif
    uint sb = e / 32u, l = e % 32u;
    uint x = (word_at(qs + (sb / 2u) * 32u + l) >> ((sb & 1u) * 4u)) & 0x0f0f0f0fu;
#if defined(EVK_Q5_K)
    x |= ((word_at(b + 16u + l) >> sb) & 0x01010101u) << 4;
#endif
    return bytes4(x, 5u);
#elif defined(EVK_Q6_K)
    uint h = e / 128u, g = (e % 128u) / 32u, l = e % 32u;
    uint lo = (word_at(b + h * 64u + l + (g & 1u) * 32u) >> ((g / 2u) * 4u)) & 0x0f0f0f0fu;
    uint hi = (word_at(b + 128u + h * 32u + l) >> (2u * g)) & 0x03030303u;
    return bytes4(lo | (hi << 4), 6u) - 32.0;
#endif
}

vec4 deq4(uint idx) {
    uint b, e;
    float d, mn;
    block_scale(idx, b, e, d, mn);
    precise vec4 y = d * block_int4(b, e) + mn;
    return y;
}

#endif
