// random.comp — Gaussian noise and mutation over rows of a population tensor. Row r draws from
// stream (stream0 + r), so a row's noise depends only on its key, never on how many rows are
// dispatched together or where a chunk starts.
//   noise:  x[r, e] = z
//   affine: x[r, e] = a_r * x[r, e] + b_r * z   (a_r, b_r from push constants, from pairs per row
//           (per_row = 1) or b_r = sigma per row with a_r = 1 (per_row = 2))
// √(1-β²)·x + β·ε (a variance-preserving mutation) and x + σ·ε are both the affine form; the
// host computes a_r and b_r so no device-dependent square root enters the result.
// Specialization: 0 = workgroup size.
// variant: noise -DAFFINE=0
// variant: affine -DAFFINE=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "random.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) buffer X { float x[]; };
#if AFFINE
layout(std430, binding = 1) readonly buffer P { float param[]; };
#endif
layout(push_constant) uniform Push {
    uint seed_lo, seed_hi, stream0, counter, domain;
    uint rows, cols, x_off, p_off, per_row;
    float a, b;
} p;

void main() {
    uint i = evk_flat_index();
    uint blocks = (p.cols + 3u) / 4u;
    if (i >= p.rows * blocks) return;
    uint row = i / blocks, blk = i - row * blocks;
    vec4 z = evk_normal4(uvec2(p.seed_lo, p.seed_hi), blk, p.counter, p.stream0 + row, p.domain);
    uint base = p.x_off + row * p.cols + blk * 4u;
    uint n = min(4u, p.cols - blk * 4u);
#if AFFINE
    float a = p.a, b = p.b;
    if (p.per_row == 1u) { a = param[p.p_off + 2u * row]; b = param[p.p_off + 2u * row + 1u]; }
    else if (p.per_row == 2u) { a = 1.0f; b = param[p.p_off + row]; }
    for (uint j = 0; j < n; j++) {
        precise float v = a * x[base + j] + b * z[j];
        x[base + j] = v;
    }
#else
    for (uint j = 0; j < n; j++) x[base + j] = z[j];
#endif
}
