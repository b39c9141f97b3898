// layout.comp — data movement without arithmetic: batched 2-D transpose ([B, R, C] -> [B, C, R],
// e.g. NCHW <-> N(HW)C around a UNet's transformer blocks), row gather (out[i] = table[idx[i]],
// token and position embeddings, pooled outputs, population resampling), and im2col (the
// patches of a convolution as matrix rows, zero outside the image).
// variant: transpose -DTRANSPOSE=1
// variant: gather -DGATHER=1
// variant: im2col -DIM2COL=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

#if TRANSPOSE
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Push { uint batch, rows, cols; } p;

void main() {
    uint i = evk_flat_index(); // index into y = [B, cols, rows]
    uint n = p.batch * p.rows * p.cols;
    if (i >= n) return;
    uint r = i % p.rows;
    uint c = (i / p.rows) % p.cols;
    uint b = i / (p.rows * p.cols);
    y[i] = x[(b * p.rows + r) * p.cols + c];
}
#endif

#if GATHER
layout(std430, binding = 0) readonly buffer Table { float table[]; };
layout(std430, binding = 1) readonly buffer Index { int idx[]; };
layout(std430, binding = 2) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Push { uint count, width, table_rows; } p;

void main() {
    uint i = evk_flat_index();
    if (i >= p.count * p.width) return;
    uint row = i / p.width, col = i % p.width;
    int r = idx[row];
    // out-of-range indices are rejected on the host; clamp so a bad index can never read
    // outside the table
    uint src = uint(clamp(r, 0, int(p.table_rows) - 1));
    y[i] = table[src * p.width + col];
}
#endif

#if IM2COL
// x [N, C, H, W] -> cols [N, Ho*Wo, C*k*k], column order (c, ky, kx) as torch's weight [O, C, k, k]
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float cols[]; };
layout(push_constant) uniform Push { uint n, c, h, w, k, stride, pad, ho, wo; } p;

void main() {
    uint i = evk_flat_index();
    uint kk = p.k * p.k, width = p.c * kk;
    uint total = p.n * p.ho * p.wo * width;
    if (i >= total) return;
    uint col = i % width, row = (i / width) % (p.ho * p.wo), b = i / (width * p.ho * p.wo);
    uint ch = col / kk, ky = (col % kk) / p.k, kx = col % p.k;
    int y = int((row / p.wo) * p.stride + ky) - int(p.pad);
    int xx = int((row % p.wo) * p.stride + kx) - int(p.pad);
    float v = 0.0;
    if (y >= 0 && y < int(p.h) && xx >= 0 && xx < int(p.w)) v = x[((b * p.c + ch) * p.h + uint(y)) * p.w + uint(xx)];
    cols[i] = v;
}
#endif
