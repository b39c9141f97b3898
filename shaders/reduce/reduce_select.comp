// reduce_select.comp — ranking and indexing for searches: argmax (one workgroup scans the array),
// exact top-k by rank counting (element i goes to slot rank(i) when that is < k; ranks order by
// value descending, then index ascending, NaN last, so every slot is written exactly once).
// Specialization: 0 = workgroup size (argmax: power of two <= 256).
// variant: argmax -DMODE=0
// variant: topk -DMODE=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer I { uint oi[]; };
layout(std430, binding = 2) writeonly buffer V { float ov[]; };
layout(push_constant) uniform Push { uint x_off, i_off, v_off, n, k; } p;

// NaN ranks below everything, including -inf.
bool better(float va, uint ia, float vb, uint ib) {
    bool na = isnan(va), nb = isnan(vb);
    if (na || nb) return !na && nb || (na && nb && ia < ib);
    return va > vb || (va == vb && ia < ib);
}

#if MODE == 0
shared float sv[256];
shared uint si[256];
#else
shared float tile[128];
#endif

void main() {
#if MODE == 0
    uint t = gl_LocalInvocationID.x, n = gl_WorkGroupSize.x;
    float bv = uintBitsToFloat(0x7fc00000u);
    uint bi = 0xffffffffu;
    for (uint i = t; i < p.n; i += n) {
        float v = x[p.x_off + i];
        if (bi == 0xffffffffu || better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    sv[t] = bv; si[t] = bi;
    barrier();
    for (uint w = n / 2; w > 0; w /= 2) {
        if (t < w && si[t + w] != 0xffffffffu && (si[t] == 0xffffffffu || better(sv[t + w], si[t + w], sv[t], si[t]))) {
            sv[t] = sv[t + w];
            si[t] = si[t + w];
        }
        barrier();
    }
    if (t == 0) { oi[p.i_off] = si[0]; ov[p.v_off] = sv[0]; }
#else
    uint i = evk_flat_index();
    bool live = i < p.n;
    float v = live ? x[p.x_off + i] : 0.0;
    uint rank = 0;
    uint ts = gl_WorkGroupSize.x;
    for (uint start = 0; start < p.n; start += ts) {
        uint j = start + gl_LocalInvocationID.x;
        if (j < p.n) tile[gl_LocalInvocationID.x] = x[p.x_off + j];
        barrier();
        uint m = min(ts, p.n - start);
        if (live)
            for (uint q = 0; q < m; q++)
                if (better(tile[q], start + q, v, i)) rank++;
        barrier();
    }
    if (live && rank < p.k) { oi[p.i_off + rank] = i; ov[p.v_off + rank] = v; }
#endif
}
