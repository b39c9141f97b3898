// reduce.comp — one workgroup per row: sum / mean / L2 norm / max of the row (variant rows), or
// the cosine similarity of row r of A with row r (or the shared row 0) of B (variant cosine).
// Partial results are combined in a fixed tree, so a row's result does not depend on how many
// rows are dispatched together (chunked searches give identical numbers).
// Specialization: 0 = workgroup size (power of two, <= 256), 1 = reduction (0 sum, 1 mean, 2 L2, 3 max).
// variant: rows -DCOSINE=0
// variant: cosine -DCOSINE=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint OP = 0;

layout(std430, binding = 0) readonly buffer A { float a[]; };
#if COSINE
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Out { float outv[]; };
#else
layout(std430, binding = 1) writeonly buffer Out { float outv[]; };
#endif
layout(push_constant) uniform Push {
    uint rows, cols, a_off, b_off, out_off, b_shared;
} p;

shared float s0[256];
#if COSINE
shared float s1[256], s2[256];
#endif

void main() {
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= p.rows) return; // uniform across the workgroup
    uint t = gl_LocalInvocationID.x, n = gl_WorkGroupSize.x;
    uint base = p.a_off + row * p.cols;
#if COSINE
    uint bbase = p.b_off + (p.b_shared != 0 ? 0u : row * p.cols);
    float ab = 0.0, aa = 0.0, bb = 0.0;
    for (uint c = t; c < p.cols; c += n) {
        float x = a[base + c], y = b[bbase + c];
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    s0[t] = ab; s1[t] = aa; s2[t] = bb;
    barrier();
    for (uint w = n / 2; w > 0; w /= 2) {
        if (t < w) { s0[t] += s0[t + w]; s1[t] += s1[t + w]; s2[t] += s2[t + w]; }
        barrier();
    }
    if (t == 0) {
        float d = sqrt(s1[0]) * sqrt(s2[0]);
        outv[p.out_off + row] = d > 0.0 ? s0[0] / d : 0.0;
    }
#else
    float acc = OP == 3 ? uintBitsToFloat(0xff800000u) : 0.0;
    for (uint c = t; c < p.cols; c += n) {
        float x = a[base + c];
        if (OP == 2) acc += x * x;
        else if (OP == 3) { if (x > acc) acc = x; }
        else acc += x;
    }
    s0[t] = acc;
    barrier();
    for (uint w = n / 2; w > 0; w /= 2) {
        if (t < w) s0[t] = OP == 3 ? max(s0[t], s0[t + w]) : s0[t] + s0[t + w];
        barrier();
    }
    if (t == 0) {
        float r = s0[0];
        if (OP == 1) r = r / float(p.cols);
        else if (OP == 2) r = sqrt(r);
        outv[p.out_off + row] = r;
    }
#endif
}
