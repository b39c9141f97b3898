// image.comp — image post- and pre-processing on the GPU: a model's sample to a [0, 1] image
// (affine + clamp), separable resampling with PIL's bicubic filter (antialiased when shrinking,
// as transformers' CLIPImageProcessor resizes through PIL), and center crop + per-channel
// normalisation ((x − mean) / std) into a reward model's input.
// variant: affine_clamp -DAFFINE_CLAMP=1
// variant: resize -DRESIZE=1
// variant: crop_normalize -DCROP_NORMALIZE=1
// variant: blend -DBLEND=1
// variant: place -DPLACE=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

#if AFFINE_CLAMP
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Push { uint n; float a, b, lo, hi; } p;
void main() {
    uint i = evk_flat_index();
    if (i >= p.n) return;
    y[i] = clamp(x[i] * p.a + p.b, p.lo, p.hi);
}
#endif

#if RESIZE
// One pass along one axis of [planes, H, W]: horizontal (axis 0) maps W_in -> W_out, vertical
// (axis 1) maps H_in -> H_out. Weights follow PIL's ImagingResample: support scaled by the
// shrink factor, taps normalised to sum 1.
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Push { uint planes, h_in, w_in, h_out, w_out, vertical; } p;

float bicubic(float t) {
    const float a = -0.5;
    t = abs(t);
    if (t < 1.0) return ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    if (t < 2.0) return (((t - 5.0) * t + 8.0) * t - 4.0) * a;
    return 0.0;
}

void main() {
    uint i = evk_flat_index();
    uint n = p.planes * p.h_out * p.w_out;
    if (i >= n) return;
    uint ox = i % p.w_out, oy = (i / p.w_out) % p.h_out, plane = i / (p.w_out * p.h_out);
    uint in_size = p.vertical != 0 ? p.h_in : p.w_in;
    uint out_size = p.vertical != 0 ? p.h_out : p.w_out;
    uint o = p.vertical != 0 ? oy : ox;
    float scale = float(in_size) / float(out_size);
    float fscale = max(scale, 1.0);
    float support = 2.0 * fscale;
    float center = (float(o) + 0.5) * scale;
    int lo = max(int(center - support + 0.5), 0);
    int hi = min(int(center + support + 0.5), int(in_size));
    float acc = 0.0, wsum = 0.0;
    for (int j = lo; j < hi; j++) {
        float w = bicubic((float(j) - center + 0.5) / fscale);
        uint src = p.vertical != 0 ? (plane * p.h_in + uint(j)) * p.w_in + ox : (plane * p.h_in + oy) * p.w_in + uint(j);
        acc += w * x[src];
        wsum += w;
    }
    y[i] = wsum != 0.0 ? acc / wsum : 0.0;
}
#endif

#if CROP_NORMALIZE
// [B, C, H, W] -> [B, C, ch, cw] from offset (top, left), then (x - mean[c]) / std[c].
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Push {
    uint batch, channels, h, w, ch, cw, top, left;
    vec4 mean;
    vec4 inv_std;
} p;
void main() {
    uint i = evk_flat_index();
    uint n = p.batch * p.channels * p.ch * p.cw;
    if (i >= n) return;
    uint xx = i % p.cw, yy = (i / p.cw) % p.ch, c = (i / (p.cw * p.ch)) % p.channels, b = i / (p.cw * p.ch * p.channels);
    float v = x[((b * p.channels + c) * p.h + yy + p.top) * p.w + xx + p.left];
    uint k = min(c, 3u);
    y[i] = (v - p.mean[k]) * p.inv_std[k];
}
#endif

#if BLEND
// In place on b [P, Hb, Wb]: for the first `extent` rows (vertical) or columns of b,
// b = a_tail · (1 − t/extent) + b · (t/extent), a_tail being a's last `extent` rows / columns.
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) buffer Bt { float b[]; };
layout(push_constant) uniform Push { uint planes, ha, wa, hb, wb, extent, vertical; } p;
void main() {
    uint i = evk_flat_index();
    uint n = p.planes * p.hb * p.wb;
    if (i >= n) return;
    uint x = i % p.wb, y = (i / p.wb) % p.hb, plane = i / (p.wb * p.hb);
    uint t = p.vertical != 0 ? y : x;
    if (t >= p.extent) return;
    uint src = p.vertical != 0 ? (plane * p.ha + (p.ha - p.extent + y)) * p.wa + x
                               : (plane * p.ha + y) * p.wa + (p.wa - p.extent + x);
    float w = float(t) / float(p.extent);
    b[i] = a[src] * (1.0 - w) + b[i] * w;
}
#endif

#if PLACE
// image[b, c, oy + y, ox + x] = tile[b, c, y, x] for y < h, x < w (the kept part of a tile).
layout(std430, binding = 0) readonly buffer T { float tile[]; };
layout(std430, binding = 1) buffer O { float img[]; };
layout(push_constant) uniform Push { uint planes, th, tw, h, w, ih, iw, oy, ox; } p;
void main() {
    uint i = evk_flat_index();
    uint n = p.planes * p.h * p.w;
    if (i >= n) return;
    uint x = i % p.w, y = (i / p.w) % p.h, plane = i / (p.w * p.h);
    img[(plane * p.ih + p.oy + y) * p.iw + p.ox + x] = tile[(plane * p.th + y) * p.tw + x];
}
#endif
