// gmm.comp — the exact denoiser of an isotropic Gaussian mixture, one invocation per batch item.
// For x_t = a·x0 + b·ε and p(x0) = Σ_k w_k N(μ_k, s_k² I):
//   v_k = a² s_k² + b²,  logit_k = log w_k − D/2·log v_k − |x − a μ_k|² / (2 v_k),  r = softmax(logit)
//   ε̂ = Σ_k r_k · b (x − a μ_k) / v_k,      x̂0 = Σ_k r_k · (μ_k + a s_k² (x − a μ_k) / v_k)
// and the output is what the model declares: ε̂, v = a ε̂ − b x̂0, x̂0, or ε̂ − x̂0 (flow velocity).
// Parameters per component k at k·(D+2): log w_k, s_k², μ_k[0..D).
// Specialization: 0 = workgroup size, 1 = prediction (0 eps, 1 v, 2 x0, 3 flow).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint PRED = 0;

#define KMAX 32

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Alpha { float alpha[]; };
layout(std430, binding = 2) readonly buffer Sigma { float sigma[]; };
layout(std430, binding = 3) readonly buffer Params { float prm[]; };
layout(std430, binding = 4) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Push {
    uint rows, dim, comps, x_off, a_off, s_off, out_off;
} p;

void main() {
    uint row = evk_flat_index();
    if (row >= p.rows) return;
    float a = alpha[p.a_off + row], b = sigma[p.s_off + row];
    uint xb = p.x_off + row * p.dim, stride = p.dim + 2u;
    float lg[KMAX];
    float mx = uintBitsToFloat(0xff800000u);
    for (uint k = 0; k < p.comps; k++) {
        float s2 = prm[k * stride + 1u];
        float v = a * a * s2 + b * b;
        float d2 = 0.0;
        for (uint d = 0; d < p.dim; d++) {
            float t = x[xb + d] - a * prm[k * stride + 2u + d];
            d2 += t * t;
        }
        lg[k] = prm[k * stride] - 0.5 * float(p.dim) * log(v) - 0.5 * d2 / v;
        mx = max(mx, lg[k]);
    }
    float tot = 0.0;
    for (uint k = 0; k < p.comps; k++) { lg[k] = exp(lg[k] - mx); tot += lg[k]; }
    float ce[KMAX], cx[KMAX];
    for (uint k = 0; k < p.comps; k++) {
        float r = lg[k] / tot, s2 = prm[k * stride + 1u], v = a * a * s2 + b * b;
        lg[k] = r;
        ce[k] = r * b / v;
        cx[k] = r * a * s2 / v;
    }
    uint ob = p.out_off + row * p.dim;
    for (uint d = 0; d < p.dim; d++) {
        float xd = x[xb + d], e = 0.0, x0 = 0.0;
        for (uint k = 0; k < p.comps; k++) {
            float mu = prm[k * stride + 2u + d], diff = xd - a * mu;
            e += ce[k] * diff;
            x0 += lg[k] * mu + cx[k] * diff;
        }
        float r = PRED == 0 ? e : PRED == 1 ? a * e - b * x0 : PRED == 2 ? x0 : e - x0;
        o[ob + d] = r;
    }
}
