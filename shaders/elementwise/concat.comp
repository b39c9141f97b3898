// concat.comp — out = a ++ b along one axis (UNet skip connections: [N,Ca,H,W] ++ [N,Cb,H,W] on
// channels). Seen from the axis, each tensor is [outer, inner_x] with inner_x = its axis extent ×
// the elements after the axis; out's row r is a's row r followed by b's row r.
// Specialization: 0 = workgroup size.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint count, inner_a, inner_b;
} p;

layout(std430, binding = 0) readonly buffer Ab { float a[]; };
layout(std430, binding = 1) readonly buffer Bb { float b[]; };
layout(std430, binding = 2) writeonly buffer Ob { float o[]; };

void main() {
    uint i = evk_flat_index();
    if (i >= p.count) return;
    uint w = p.inner_a + p.inner_b;
    uint r = i / w, c = i % w;
    o[i] = c < p.inner_a ? a[r * p.inner_a + c] : b[r * p.inner_b + (c - p.inner_a)];
}
