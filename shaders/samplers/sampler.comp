// sampler.comp — one sampler step over the whole population: out = a·x + b·m + c·z, with z the
// Philox noise of (seed, stream0 + row, counter, domain) when c != 0 (variant step; in place when
// out is x), or classifier-free guidance out = u + w·(c − u) (variant cfg). Coefficients come
// from the host (sampler.c); `precise` keeps the arithmetic identical on every device.
// Specialization: 0 = workgroup size.
// variant: step -DCFG=0
// variant: cfg -DCFG=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "random.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer M { float m[]; };
layout(std430, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Push {
    uint seed_lo, seed_hi, stream0, counter, domain;
    uint rows, cols, x_off, m_off, o_off, noisy;
    float a, b, c;
} p;

void main() {
    uint i = evk_flat_index();
    uint blocks = (p.cols + 3u) / 4u;
    if (i >= p.rows * blocks) return;
    uint row = i / blocks, blk = i - row * blocks;
    uint e0 = row * p.cols + blk * 4u;
    uint n = min(4u, p.cols - blk * 4u);
#if CFG
    for (uint j = 0; j < n; j++) {
        float c = x[p.x_off + e0 + j], u = m[p.m_off + e0 + j];
        precise float r = u + p.a * (c - u);
        o[p.o_off + e0 + j] = r;
    }
#else
    vec4 z = vec4(0.0);
    if (p.noisy != 0u) z = evk_normal4(uvec2(p.seed_lo, p.seed_hi), blk, p.counter, p.stream0 + row, p.domain);
    for (uint j = 0; j < n; j++) {
        precise float r = p.a * x[p.x_off + e0 + j] + p.b * m[p.m_off + e0 + j];
        if (p.noisy != 0u) r = r + p.c * z[j];
        o[p.o_off + e0 + j] = r;
    }
#endif
}
