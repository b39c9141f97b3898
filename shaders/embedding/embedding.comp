// embedding.comp — sinusoidal timestep embeddings, as diffusers' get_timestep_embedding:
// freq_i = exp(−ln(max_period)·i / (half − shift)), arg = scale·t·freq_i, out = [sin | cos]
// (or [cos | sin] when flip_sin_to_cos), zero-padded when dim is odd. One invocation per output.
// GPU sin/cos are only accurate near [−π, π] and timesteps reach 1000 (guidance embeddings of
// w·1000 go further), so the argument is formed in float-float (two floats, Dekker products: no
// fma needed, lavapipe's fma is mul+add) from freq = base^i with base = e^c from the host, then
// reduced by π/2 split into exact parts (Cody–Waite) and evaluated with minimax polynomials: the
// result matches the double-precision formula to ~1e-7 for |arg| up to ~1e5.
// Specialization: 0 = workgroup size.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint n, dim, half_dim, flip;
    float base_hi, base_lo;   // e^(−ln(max_period)/(half − shift)) as float-float
    float scale;
} p;

layout(std430, binding = 0) readonly buffer Tb { float ts[]; };
layout(std430, binding = 1) writeonly buffer Ob { float o[]; };

// float-float helpers; `precise` keeps the compiler from contracting or reassociating them
vec2 two_prod(float a, float b) {
    precise float prod = a * b;
    precise float ca = 4097.0 * a;
    precise float ah = ca - (ca - a);
    precise float al = a - ah;
    precise float cb = 4097.0 * b;
    precise float bh = cb - (cb - b);
    precise float bl = b - bh;
    precise float err = ((ah * bh - prod) + ah * bl + al * bh) + al * bl;
    return vec2(prod, err);
}

vec2 quick_two_sum(float a, float b) {
    precise float s = a + b;
    precise float e = b - (s - a);
    return vec2(s, e);
}

vec2 ff_mul(vec2 x, vec2 y) {
    precise vec2 pe = two_prod(x.x, y.x);
    precise float e = pe.y + (x.x * y.y + x.y * y.x);
    return quick_two_sum(pe.x, e);
}

void main() {
    uint idx = evk_flat_index();
    if (idx >= p.n * p.dim) return;
    uint row = idx / p.dim, j = idx % p.dim;
    if (j >= 2 * p.half_dim) { o[idx] = 0.0; return; }
    bool second = j >= p.half_dim;
    uint i = second ? j - p.half_dim : j;
    bool want_sin = second == (p.flip != 0);

    // freq = base^i by binary powering
    vec2 f = vec2(1.0, 0.0), b = vec2(p.base_hi, p.base_lo);
    for (uint e = i; e != 0; e >>= 1) {
        if ((e & 1) != 0) f = ff_mul(f, b);
        b = ff_mul(b, b);
    }
    precise vec2 arg = ff_mul(two_prod(ts[row], p.scale), f);

    // arg − k·π/2 with π/2 = P1 + P2 + P3 + P4 (P1..P3 of 8 bits: k·Pi exact for k < 2^16)
    const float P1 = 1.5703125, P2 = 0.000484466552734375, P3 = -6.407499313354492e-07, P4 = 9.920935184482005e-10;
    precise float k = floor(arg.x * 0.63661977236758134 + 0.5);
    precise float r = (((arg.x - k * P1) - k * P2) - k * P3 + arg.y) - k * P4;
    int q = int(k - 4.0 * floor(k * 0.25));
    float z = r * r;
    float s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
    float c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
    // sin(r + qπ/2), cos(r + qπ/2)
    float sv = q == 0 ? s : (q == 1 ? c : (q == 2 ? -s : -c));
    float cv = q == 0 ? c : (q == 1 ? -s : (q == 2 ? -c : s));
    o[idx] = want_sin ? sv : cv;
}
