/* op_conv.c — the convolution kernels' C entry: shape and dtype validation for conv2d and the
 * temporal convolution, the choice between the GPU and CPU kernels (conv.comp, conv_cpu.comp),
 * and splitting a batch into several dispatches where the input or output bindings would
 * exceed the device's limits (whole clips at a time for the temporal convolution; windows of
 * output rows when one image alone is too large, as a 256-channel 512×512 VAE map is for
 * lavapipe's 128 MiB storage bindings). */
#include "ops/op_conv.h"

#include "ops/ops_internal.h"

#include <string.h>

/* CPU tiles (ops_internal.h) as matmul's (see op_matmul.c: large tiles run faster but compile for seconds).
 * Measured on lavapipe for 3×3 320→320 at 64×64, GFLOP per CPU second in one session:
 * 16×8/K8 22.8, 32×8/K8 27.8, 16×16/K4 25.7, 32×16/K4 29.4 (temporal conv, 16 frames of
 * 320 channels at 32×32: 22.8 → 30.7). The large workgroup tile is 64 channels × 128 pixels. */
enum { MODE_IM2COL = 0, MODE_PLANES = 1 };

typedef struct evk__conv_push {
    uint32_t o, k, c, h, w, ho, wo;
    int32_t pad;
    uint32_t frames, x_off, y_off;
} evk__conv_push;

typedef struct evk__conv_job {
    const char *what;             /* "conv2d" or "temporal_conv" for messages */
    const evk_tensor *x, *w, *bias, *y;
    uint32_t mode, kh, kw, stride, pad, frames; /* frames: images per indivisible group */
    int64_t images, c, h, wd, o, ho, wo;
    evk_kernel_variant variant;
} evk__conv_job;

static evk_status evk__conv_run(evk_stream *s, const evk__conv_job *j);

/* One image larger than a binding: windows of output rows. Each window's input rows (its
 * receptive field, clipped to the image and started on a multiple of the stride) are copied out
 * of every channel plane into a small tensor, convolved there with the same padding, and the
 * window's rows copied into place. Rows a window keeps read only real input rows or the image's
 * own padding, and every output sums the same products in the same order as one pass, so the
 * result is that of one pass; the cost is two copies and a few halo rows per window. */
static evk_status evk__conv_windows(evk_stream *s, const evk__conv_job *j, uint64_t x_lim, uint64_t y_lim) {
    evk_context *ctx = evk_stream_context(s);
    const uint64_t es = evk_dtype_size(j->x->dtype), in_row = (uint64_t)(j->c * j->wd) * es, out_row = (uint64_t)(j->o * j->wo) * 4;
    /* windows of at most 32 MiB keep the extra memory small; halo rows cost a few per cent */
    const uint64_t cap = 32ull << 20;
    if (x_lim > cap) x_lim = cap;
    if (y_lim > cap) y_lim = cap;
    /* a window computes up to (2·padding + stride − 1) / stride rows more than it keeps */
    const int64_t extra = (2 * (int64_t)j->pad + (int64_t)j->stride - 1) / (int64_t)j->stride;
    int64_t rows_in = (int64_t)(x_lim / in_row), rows = (int64_t)(y_lim / out_row) - extra;
    if (rows_in < (int64_t)(j->kh + j->stride - 1) || rows < 1)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: one row of input (%llu bytes) or output (%llu bytes) exceeds the device's binding limits",
                        j->what, (unsigned long long)in_row, (unsigned long long)out_row);
    /* at most rows_in input rows, including up to stride − 1 rows that align the window's start */
    int64_t by_in = (rows_in - (int64_t)j->kh - (int64_t)j->stride + 1) / (int64_t)j->stride + 1;
    if (by_in < rows) rows = by_in;
    if (rows < 1) rows = 1;
    if (rows > j->ho) rows = j->ho;
    const int64_t s_ = j->stride, pad = j->pad;
    const int64_t win_in = (rows - 1) * s_ + (int64_t)j->kh + s_ - 1;
    int64_t xs[4] = {1, j->c, win_in < j->h ? win_in : j->h, j->wd};
    int64_t ys[4] = {1, j->o, rows + extra < j->ho ? rows + extra : j->ho, j->wo};
    evk_tensor xw = {0}, yw = {0};
    evk_status st = evk_tensor_alloc(ctx, j->x->dtype, 4, xs, &xw);
    if (!st) st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, ys, &yw);
    for (int64_t n = 0; n < j->images && !st; n++)
        for (int64_t y0 = 0; y0 < j->ho && !st; y0 += rows) {
            const int64_t y1 = y0 + rows < j->ho ? y0 + rows : j->ho;
            int64_t a = y0 * s_ - pad, b = (y1 - 1) * s_ - pad + (int64_t)j->kh;
            if (a < 0) a = 0;
            a -= a % s_;
            if (b > j->h) b = j->h;
            /* the window's own conv: output row r is image row r + a / stride */
            const int64_t wh = b - a, who = (wh + 2 * pad - (int64_t)j->kh) / s_ + 1, r0 = y0 - a / s_;
            evk_tensor xv = xw, yv = yw;
            xv.shape[2] = wh;
            yv.shape[2] = who;
            st = evk_stream_copy_strided(s, &j->x->buf, (uint64_t)((n * j->c * j->h + a) * j->wd) * es, (uint64_t)(j->h * j->wd) * es,
                                         &xw.buf, 0, (uint64_t)(wh * j->wd) * es, (uint64_t)(wh * j->wd) * es, (uint64_t)j->c);
            if (st) break;
            evk__conv_job sub = *j;
            sub.x = &xv;
            sub.y = &yv;
            sub.images = 1;
            sub.h = wh;
            sub.ho = who;
            st = evk__conv_run(s, &sub);
            if (!st)
                st = evk_stream_copy_strided(s, &yw.buf, (uint64_t)(r0 * j->wo) * 4, (uint64_t)(who * j->wo) * 4, &j->y->buf,
                                             (uint64_t)((n * j->o * j->ho + y0) * j->wo) * 4, (uint64_t)(j->ho * j->wo) * 4,
                                             (uint64_t)((y1 - y0) * j->wo) * 4, (uint64_t)j->o);
        }
    /* freed while the stream still uses them: the stream orders any reuse (see ENGINEERING.md) */
    evk_tensor_free(ctx, &xw);
    evk_tensor_free(ctx, &yw);
    return st;
}

static evk_status evk__conv_run(evk_stream *s, const evk__conv_job *j) {
    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    const int64_t K = j->c * j->kh * j->kw, N = j->ho * j->wo, hw = j->h * j->wd;
    if (j->images * j->c * hw > 0xffffffffLL || j->images * j->o * N > 0xffffffffLL || j->o * K > 0xffffffffLL)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: more than 2^32 elements in one tensor", j->what);
    if (evk__ranges_overlap(j->y, j->x) || evk__ranges_overlap(j->y, j->w) || evk__ranges_overlap(j->y, j->bias))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: the output overlaps an input", j->what);
    evk_kernel_variant variant = j->variant;
    if (variant == EVK_KERNEL_AUTO) variant = evk_context_is_cpu(ctx) ? EVK_KERNEL_CPU : EVK_KERNEL_GPU;
    if (variant == EVK_KERNEL_GPU && j->w->dtype == EVK_DTYPE_F16 && !info->features.storage_16bit) variant = EVK_KERNEL_CPU;
    const bool cpu = variant == EVK_KERNEL_CPU;

    evk_pipeline_desc desc = {.binding_count = 4, .push_size = sizeof(evk__conv_push), .spec_count = 0};
    uint32_t tile_m, tile_n;
    const uint32_t taps_h = j->mode == MODE_IM2COL ? j->kh : j->kh * j->kw; /* MODE_PLANES: T taps */
    if (cpu) {
        bool vec_w = K % 4 == 0, vec_x = j->mode == MODE_PLANES && hw % 4 == 0;
        desc.shader = "conv_cpu";
        desc.kinds[0] = evk__texel_kind(j->w->dtype, vec_w);
        desc.kinds[1] = evk__texel_kind(j->x->dtype, vec_x);
        desc.kinds[2] = j->bias ? EVK_BINDING_TEXEL_R32F : desc.kinds[0];
        desc.kinds[3] = EVK_BINDING_STORAGE;
        const evk__cpu_tile tile = j->o >= 64 && N >= 1024 && K >= 64 ? EVK__CPU_TILE_LARGE : EVK__CPU_TILE_SMALL, *t = &tile;
        uint32_t spec[12] = {t->lanes_n * t->lanes_m, t->tm, t->tn, t->lanes_n, j->mode, vec_w, vec_x, j->bias != NULL,
                             taps_h, j->mode == MODE_IM2COL ? j->kw : 1, j->stride, t->ku};
        desc.spec_count = 12;
        memcpy(desc.spec, spec, sizeof spec);
        tile_m = t->tm * t->lanes_m;
        tile_n = t->tn * t->lanes_n;
    } else {
        desc.shader = j->w->dtype == EVK_DTYPE_F16 ? "conv_w16" : "conv_f32";
        uint32_t spec[11] = {(EVK__GPU_BM / EVK__GPU_TM) * (EVK__GPU_BN / EVK__GPU_TN), EVK__GPU_BM, EVK__GPU_BN, EVK__GPU_BK, EVK__GPU_TM, EVK__GPU_TN, j->mode, j->bias != NULL,
                             taps_h, j->mode == MODE_IM2COL ? j->kw : 1, j->stride};
        desc.spec_count = 11;
        memcpy(desc.spec, spec, sizeof spec);
        tile_m = EVK__GPU_BM;
        tile_n = EVK__GPU_BN;
    }
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));

    uint64_t gx = ((uint64_t)N + tile_n - 1) / tile_n, gy = ((uint64_t)j->o + tile_m - 1) / tile_m;
    if (gx > info->max_workgroup_count[0] || gy > info->max_workgroup_count[1])
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: %lldx%lld outputs need %llux%llu workgroups, beyond the device's limits", j->what,
                        (long long)j->o, (long long)N, (unsigned long long)gy, (unsigned long long)gx);
    /* images per dispatch: whole groups (clips) while every binding fits */
    const uint64_t group = j->frames ? j->frames : 1;
    const uint64_t x_group = (uint64_t)group * j->c * hw * evk_dtype_size(j->x->dtype), y_group = (uint64_t)group * j->o * N * 4;
    const uint64_t x_lim = evk__binding_limit(info, desc.kinds[1], evk_dtype_size(j->x->dtype)) - 64, y_lim = info->max_storage_buffer_range - 64;
    uint64_t groups_per = x_lim / x_group < y_lim / y_group ? x_lim / x_group : y_lim / y_group;
    if (groups_per * group > info->max_workgroup_count[2]) groups_per = info->max_workgroup_count[2] / group;
    if (groups_per == 0 && group == 1) return evk__conv_windows(s, j, x_lim, y_lim);
    if (groups_per == 0)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: one clip of input (%llu bytes) or output (%llu bytes) exceeds the device's binding limits",
                        j->what, (unsigned long long)x_group, (unsigned long long)y_group);
    const uint64_t per = groups_per * group;
    for (uint64_t z0 = 0; z0 < (uint64_t)j->images; z0 += per) {
        uint64_t nz = (uint64_t)j->images - z0 < per ? (uint64_t)j->images - z0 : per;
        evk__conv_push push = {(uint32_t)j->o, (uint32_t)K, (uint32_t)j->c, (uint32_t)j->h, (uint32_t)j->wd, (uint32_t)j->ho,
                               (uint32_t)j->wo, (int32_t)j->pad, (uint32_t)group, 0, 0};
        evk_binding bind[4];
        uint32_t unused;
        EVK_TRY(evk__bind_range(info, j->what, "w", j->w, 0, (uint64_t)(j->o * K), cpu ? desc.kinds[0] : EVK_BINDING_STORAGE, EVK_ACCESS_READ,
                               &bind[0], &unused));
        EVK_TRY(evk__bind_range(info, j->what, "x", j->x, z0 * j->c * hw, nz * j->c * hw, cpu ? desc.kinds[1] : EVK_BINDING_STORAGE,
                               EVK_ACCESS_READ, &bind[1], &push.x_off));
        if (j->bias)
            EVK_TRY(evk__bind_range(info, j->what, "bias", j->bias, 0, (uint64_t)j->o, cpu ? desc.kinds[2] : EVK_BINDING_STORAGE, EVK_ACCESS_READ,
                                   &bind[2], &unused));
        else
            bind[2] = bind[0]; /* never read (HAS_BIAS is off); any valid binding of that kind */
        EVK_TRY(evk__bind_range(info, j->what, "y", j->y, z0 * j->o * N, nz * j->o * N, EVK_BINDING_STORAGE, EVK_ACCESS_WRITE, &bind[3],
                               &push.y_off));
        evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 4, .push = &push, .push_size = sizeof push,
                          .groups = {(uint32_t)gx, (uint32_t)gy, (uint32_t)nz}, .label = j->what};
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
}

static evk_status evk__conv_common_checks(const char *what, const evk_tensor *x, const evk_tensor *w, const evk_tensor *bias,
                                          const evk_tensor *y) {
    if (!x || !w || !y) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x, w and y are required", what);
    if (x->dtype != EVK_DTYPE_F32 || y->dtype != EVK_DTYPE_F32 || (w->dtype != EVK_DTYPE_F32 && w->dtype != EVK_DTYPE_F16))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x is %s, w %s, y %s; expected f32, f32 or f16, f32", what, evk_dtype_name(x->dtype),
                        evk_dtype_name(w->dtype), evk_dtype_name(y->dtype));
    if (x->ndim != 4 || y->ndim != 4) {
        char sx[96], sy[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: x (%s) and y (%s) must have 4 dimensions", what,
                        evk_tensor_shape_str(x, sx, sizeof sx), evk_tensor_shape_str(y, sy, sizeof sy));
    }
    if (bias && (bias->dtype != EVK_DTYPE_F32 || evk_tensor_numel(bias) != w->shape[0])) {
        char sb[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: bias is %s %s, expected f32 with %lld elements", what,
                        evk_dtype_name(bias->dtype), evk_tensor_shape_str(bias, sb, sizeof sb), (long long)w->shape[0]);
    }
    return EVK_OK;
}

evk_status evk_op_conv2d(evk_stream *s, const evk_tensor *x, const evk_tensor *w, const evk_tensor *bias, const evk_tensor *y,
                         const evk_conv2d_params *params) {
    evk_conv2d_params prm = params ? *params : (evk_conv2d_params){0};
    if (prm.stride == 0) prm.stride = 1;
    if (!s) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: no stream");
    EVK_TRY(evk__conv_common_checks("conv2d", x, w, bias, y));
    char sx[96], sw[96], sy[96];
    evk_tensor_shape_str(x, sx, sizeof sx);
    evk_tensor_shape_str(w, sw, sizeof sw);
    evk_tensor_shape_str(y, sy, sizeof sy);
    if (w->ndim != 4 || w->shape[1] != x->shape[1])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: weights %s do not fit input %s: expected [O, %lld, kh, kw]", sw, sx,
                        (long long)x->shape[1]);
    if (prm.stride > 64 || prm.padding > 4096)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: stride %u / padding %u out of range", prm.stride, prm.padding);
    evk__conv_job j = {.what = "conv2d", .x = x, .w = w, .bias = bias, .y = y, .mode = MODE_IM2COL, .kh = (uint32_t)w->shape[2],
                       .kw = (uint32_t)w->shape[3], .stride = prm.stride, .pad = prm.padding, .images = x->shape[0],
                       .c = x->shape[1], .h = x->shape[2], .wd = x->shape[3], .o = w->shape[0], .variant = prm.variant};
    int64_t hp = j.h + 2 * (int64_t)prm.padding - j.kh, wp = j.wd + 2 * (int64_t)prm.padding - j.kw;
    if (hp < 0 || wp < 0 || j.kh == 0 || j.kw == 0)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: kernel %s larger than the padded input %s (padding %u)", sw, sx, prm.padding);
    j.ho = hp / prm.stride + 1;
    j.wo = wp / prm.stride + 1;
    if (y->shape[0] != j.images || y->shape[1] != j.o || y->shape[2] != j.ho || y->shape[3] != j.wo)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: output is %s, expected %lldx%lldx%lldx%lld for input %s, weights %s, stride %u, padding %u",
                        sy, (long long)j.images, (long long)j.o, (long long)j.ho, (long long)j.wo, sx, sw, prm.stride, prm.padding);
    if (j.kh == 1 && j.kw == 1 && prm.stride == 1 && prm.padding == 0) {
        /* a 1×1 convolution is a product per image with contiguous pixels: the plane loads */
        j.mode = MODE_PLANES;
    }
    return evk__conv_run(s, &j);
}

evk_status evk_op_temporal_conv(evk_stream *s, const evk_tensor *x, const evk_tensor *w, const evk_tensor *bias, const evk_tensor *y,
                                const evk_temporal_conv_params *params) {
    if (!s || !params) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "temporal_conv: stream and params (frames) are required");
    EVK_TRY(evk__conv_common_checks("temporal_conv", x, w, bias, y));
    char sx[96], sw[96], sy[96];
    evk_tensor_shape_str(x, sx, sizeof sx);
    evk_tensor_shape_str(w, sw, sizeof sw);
    evk_tensor_shape_str(y, sy, sizeof sy);
    bool w_ok = (w->ndim == 3 || (w->ndim == 5 && w->shape[3] == 1 && w->shape[4] == 1)) && w->shape[2] == 3 && w->shape[1] == x->shape[1];
    if (!w_ok)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "temporal_conv: weights %s do not fit input %s: expected [O, %lld, 3] or [O, %lld, 3, 1, 1]",
                        sw, sx, (long long)x->shape[1], (long long)x->shape[1]);
    if (params->frames == 0 || x->shape[0] % params->frames)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "temporal_conv: input %s holds %lld images, not a whole number of %u-frame clips", sx,
                        (long long)x->shape[0], params->frames);
    if (y->shape[0] != x->shape[0] || y->shape[1] != w->shape[0] || y->shape[2] != x->shape[2] || y->shape[3] != x->shape[3])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "temporal_conv: output is %s, expected %lldx%lldx%lldx%lld", sy, (long long)x->shape[0],
                        (long long)w->shape[0], (long long)x->shape[2], (long long)x->shape[3]);
    /* k = (c, t) with t fastest: exactly the [O, C, 3] weight layout */
    evk__conv_job j = {.what = "temporal_conv", .x = x, .w = w, .bias = bias, .y = y, .mode = MODE_PLANES, .kh = 3, .kw = 1,
                       .stride = 1, .pad = 0, .frames = params->frames, .images = x->shape[0], .c = x->shape[1], .h = x->shape[2],
                       .wd = x->shape[3], .o = w->shape[0], .ho = x->shape[2], .wo = x->shape[3], .variant = params->variant};
    return evk__conv_run(s, &j);
}
