// modulate.comp — the adaptive-norm arithmetic of MMDiT blocks (diffusers AdaLayerNormZero /
// AdaLayerNormContinuous and the gated residuals of JointTransformerBlock), reading the
// per-sample modulation vectors straight out of the conditioning projection emb [B, K·D], whose
// row b holds K chunks of D (shift, scale, gate, ...):
//   modulate: out[b, l, d] = x[b, l, d] · (1 + emb[b, A·D + d]) + emb[b, S·D + d]
//   gate:     h[b, l, d] += emb[b, A·D + d] · y[b, l, d]            (in place on h)
// One invocation per element; the chunk offsets A·D and S·D come in as push constants.
// variant: modulate -DMODULATE=1
// variant: gate -DGATE=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint count;   // B·L·D
    uint per;     // L·D: elements per batch item
    uint dim;     // D
    uint estride; // K·D: elements per row of emb
    uint off_a;   // scale (modulate) or gate (gate) chunk offset
    uint off_b;   // shift chunk offset (modulate)
} p;

#if MODULATE
layout(std430, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, binding = 1) readonly buffer Eb { float e[]; };
layout(std430, binding = 2) writeonly buffer Ob { float o[]; };
#else
layout(std430, binding = 0) buffer Hb { float h[]; };
layout(std430, binding = 1) readonly buffer Yb { float y[]; };
layout(std430, binding = 2) readonly buffer Eb { float e[]; };
#endif

void main() {
    uint i = evk_flat_index();
    if (i >= p.count) return;
    uint b = i / p.per, d = i % p.dim;
    uint row = b * p.estride;
#if MODULATE
    o[i] = x[i] * (1.0 + e[row + p.off_a + d]) + e[row + p.off_b + d];
#else
    h[i] = h[i] + e[row + p.off_a + d] * y[i];
#endif
}
