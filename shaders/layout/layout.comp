// layout.comp — data movement without arithmetic: batched 2-D transpose ([B, R, C] -> [B, C, R],
// e.g. NCHW <-> N(HW)C around a UNet's transformer blocks), and row gather (out[i] = table[idx[i]],
// token and position embeddings, pooled outputs, population resampling), and the unpatchify of
// patch-token transformers (tokens [B, h·w, p·p·C] -> images [B, C, h·p, w·p], diffusers'
// einsum "nhwpqc->nchpwq").
// variant: transpose -DTRANSPOSE=1
// variant: gather -DGATHER=1
// variant: unpatchify -DUNPATCHIFY=1
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
// The table may be larger than one binding: each dispatch sees rows [row_begin, row_begin +
// table_rows) and writes only the outputs whose index falls there.
layout(push_constant) uniform Push { uint count, width, table_rows, row_begin, total_rows; } p;

void main() {
    uint i = evk_flat_index();
    if (i >= p.count * p.width) return;
    uint row = i / p.width, col = i % p.width;
    // out-of-range indices are rejected by callers that take them from input; clamp so a bad
    // index can never read outside the table
    uint r = uint(clamp(idx[row], 0, int(p.total_rows) - 1));
    if (r < p.row_begin || r >= p.row_begin + p.table_rows) return;
    y[i] = table[(r - p.row_begin) * p.width + col];
}
#endif


#if UNPATCHIFY
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Push { uint batch, channels, h, w, ps; } p;

void main() {
    uint i = evk_flat_index(); // index into y = [B, C, h·p, w·p]
    uint W = p.w * p.ps, H = p.h * p.ps;
    if (i >= p.batch * p.channels * H * W) return;
    uint xw = i % W, yh = (i / W) % H, c = (i / (W * H)) % p.channels, b = i / (W * H * p.channels);
    uint token = (b * p.h + yh / p.ps) * p.w + xw / p.ps;
    y[i] = x[(token * p.ps * p.ps + (yh % p.ps) * p.ps + xw % p.ps) * p.channels + c];
}
#endif
