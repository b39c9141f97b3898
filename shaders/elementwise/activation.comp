// activation.comp — elementwise activations y = f(x): SiLU, GELU (erf form and tanh form),
// quick-GELU, the affine y = α·x + β, and the gated GEGLU y[r, j] = x[r, j] · gelu(x[r, F + j])
// over rows of 2F (diffusers' GEGLU: the projection's first half is the hidden state, the second
// half the gate). Formulas match torch: gelu = 0.5·x·(1 + erf(x/√2)); gelu_tanh = 0.5·x·(1 +
// tanh(√(2/π)·(x + 0.044715·x³))); quick_gelu = x·sigmoid(1.702·x); silu = x·sigmoid(x).
// The _cpu build reads vec4s through an RGBA32F texel buffer (vectorised on CPU drivers).
// Specialization: 0 = workgroup size, 1 = op (0 silu, 1 gelu, 2 gelu_tanh, 3 quick_gelu, 4 affine),
// 2 = gated (GEGLU: the gate goes through op, the hidden half does not).
// variant: any
// variant: cpu -DEVK_CPU=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint OP = 0;
layout(constant_id = 2) const uint GATED = 0;

layout(push_constant) uniform Push {
    uint count;   // outputs (vec4s in the _cpu build)
    uint width;   // GEGLU: F (vec4s in the _cpu build)
    float alpha, beta;
} p;

#if EVK_CPU
layout(binding = 0) uniform samplerBuffer X;
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
#define T vec4
#define LOAD(i) texelFetch(X, int(i))
#else
layout(std430, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#define T float
#define LOAD(i) x[i]
#endif

// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit); GLSL has no erf.
T erf_(T v) {
    T z = abs(v);
    T t = 1.0 / (1.0 + 0.5 * z);
    T r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
              t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
              t * (-0.82215223 + t * 0.17087277)))))))));
    return sign(v) * (1.0 - r);
}

// tanh that saturates instead of producing inf/inf for large |v|
T tanh_(T v) {
    return 1.0 - 2.0 / (exp(2.0 * v) + 1.0);
}

T act(T v) {
    if (OP == 0) return v / (1.0 + exp(-v));
    if (OP == 1) return 0.5 * v * (1.0 + erf_(v * 0.70710678118654752));
    if (OP == 2) return 0.5 * v * (1.0 + tanh_(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    if (OP == 3) return v / (1.0 + exp(-1.702 * v));
    return p.alpha * v + p.beta;
}

void main() {
    uint i = evk_flat_index();
    if (i >= p.count) return;
    if (GATED != 0) {
        uint r = i / p.width, c = i % p.width;
        uint base = r * 2 * p.width + c;
        y[i] = LOAD(base) * act(LOAD(base + p.width));
    } else {
        y[i] = act(LOAD(i));
    }
}
