// reward.comp — analytic rewards on vectors, one workgroup per sample: linear d·x, Gaussian bump
// exp(−|x − c|² / 2w²), negative distance −|x − c|; out[n] = (accumulate ? out[n] : 0) + weight·r.
// The partial sums meet in a fixed tree, so a sample's score does not depend on the batch.
// Specialization: 0 = workgroup size (power of two <= 256), 1 = kind (0 linear, 1 bump, 2 distance).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint KIND = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer V { float vec[]; };
layout(std430, binding = 2) buffer Out { float o[]; };
layout(push_constant) uniform Push {
    uint rows, dim, x_off, o_off, accumulate;
    float weight, inv_two_w2;
} p;

shared float part[256];

void main() {
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= p.rows) return;
    uint t = gl_LocalInvocationID.x, n = gl_WorkGroupSize.x;
    uint base = p.x_off + row * p.dim;
    float acc = 0.0;
    for (uint d = t; d < p.dim; d += n) {
        float xv = x[base + d];
        if (KIND == 0) acc += vec[d] * xv;
        else { float e = xv - vec[d]; acc += e * e; }
    }
    part[t] = acc;
    barrier();
    for (uint w = n / 2; w > 0; w /= 2) {
        if (t < w) part[t] += part[t + w];
        barrier();
    }
    if (t == 0) {
        float s = part[0];
        float r = KIND == 0 ? s : KIND == 1 ? exp(-s * p.inv_two_w2) : -sqrt(s);
        float prev = p.accumulate != 0u ? o[p.o_off + row] : 0.0;
        o[p.o_off + row] = prev + p.weight * r;
    }
}
