// resample.comp — spatial resampling of NCHW planes: nearest-neighbour upsampling ×2 (diffusers'
// Upsample2D before its conv: F.interpolate(scale_factor=2, mode="nearest")) and 2×2 average
// pooling with stride 2 (Downsample2D without conv: F.avg_pool2d(kernel 2, stride 2), odd edges
// dropped). One invocation per output element; every leading dim is a batch of planes.
// Specialization: 0 = workgroup size, 1 = mode (0 upsample nearest ×2, 1 average-pool 2×2).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;

layout(push_constant) uniform Push {
    uint count;     // outputs
    uint h, w;      // input plane
    uint oh, ow;    // output plane
} p;

layout(std430, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, binding = 1) writeonly buffer Yb { float y[]; };

void main() {
    uint i = evk_flat_index();
    if (i >= p.count) return;
    uint ox = i % p.ow, t = i / p.ow;
    uint oy = t % p.oh, plane = t / p.oh;
    uint base = plane * p.h * p.w;
    if (MODE == 0) {
        y[i] = x[base + (oy >> 1) * p.w + (ox >> 1)];
    } else {
        uint r = base + 2 * oy * p.w + 2 * ox;
        y[i] = ((x[r] + x[r + 1]) + (x[r + p.w] + x[r + p.w + 1])) * 0.25;
    }
}
