/* op_conv.c — the convolution kernels' C entry: shape and dtype validation for conv2d and the
 * temporal convolution, the choice between the GPU and CPU kernels (conv.comp, conv_cpu.comp),
 * and splitting a batch into several dispatches where the input or output bindings would
 * exceed the device's limits (whole clips at a time for the temporal convolution; windows of
 * output rows when one image alone is too large, as a 256-channel 512×512 VAE map is for
 * lavapipe's 128 MiB storage bindings). 3×3 stride-1 convolutions may instead run as Winograd
 * F(2×2, 3×3) (winograd_w.comp, winograd_in.comp, the 16 products by evk_op_matmul,
 * winograd_out.comp), in chunks of tiles with small scratch tensors. */
#include "ops/op_conv.h"

#include "core/memory.h"
#include "ops/op_matmul.h"
#include "ops/op_resample.h"
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
        /* big convolutions: the large tile, with the weights' rows shuffled where that runs
         * (bench/CONV.md, run 5: 1.1–1.2× on the UNet's shapes; small ones lost) */
        const bool large = j->o >= 64 && N >= 1024 && K >= 64, shuffle = large && evk__cpu_shuffle_fits(info);
        desc.shader = shuffle ? "conv_cpu_shuffle" : "conv_cpu";
        desc.kinds[0] = evk__texel_kind(j->w->dtype, vec_w);
        desc.kinds[1] = evk__texel_kind(j->x->dtype, vec_x);
        desc.kinds[2] = j->bias ? EVK_BINDING_TEXEL_R32F : desc.kinds[0];
        desc.kinds[3] = EVK_BINDING_STORAGE;
        const evk__cpu_tile tile = large ? EVK__CPU_TILE_LARGE : EVK__CPU_TILE_SMALL, *t = &tile;
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

/* ---- Winograd F(2×2, 3×3) -------------------------------------------------------------------- */

typedef struct evk__wino_in_push {
    uint32_t c, h, w, tw, tiles;
    int32_t pad;
    uint32_t g0, np, c0, nc, x_shift, v_off, up_shift;
} evk__wino_in_push;

typedef struct evk__wino_out_push {
    uint32_t o, ho, wo, tw, tiles, g0, np, o0, no, y_shift, m_off, b_off;
} evk__wino_out_push;

typedef struct evk__wino_w_push {
    uint32_t oc, e0, count, w_shift, u_off, mode, xi0, xi1;
} evk__wino_w_push;

/* Scratch per chunk of tiles for V [16, C, np] and M [16, O, np]: 16 MiB each at most (and a
 * sixteenth of the memory budget) keeps the extra memory small while the 16 products stay large
 * (320 channels: 768 tiles per chunk, 2 chunks for a 64×64 latent). */
#define EVK__WINO_SCRATCH (16ull << 20)

static bool evk__wino_shape_ok(const evk_tensor *w) { return w->ndim == 4 && w->shape[2] == 3 && w->shape[3] == 3; }

evk_status evk_op_conv2d_winograd_weights(evk_stream *s, const evk_tensor *w, const evk_tensor *u) {
    if (!s || !w || !u) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d winograd weights: stream, w and u are required");
    char sw[96], su[96];
    evk_tensor_shape_str(w, sw, sizeof sw);
    evk_tensor_shape_str(u, su, sizeof su);
    if ((w->dtype != EVK_DTYPE_F32 && w->dtype != EVK_DTYPE_F16) || (u->dtype != EVK_DTYPE_F32 && u->dtype != EVK_DTYPE_F16))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d winograd weights: w is %s and u %s; expected f32 or f16", evk_dtype_name(w->dtype),
                        evk_dtype_name(u->dtype));
    if (!evk__wino_shape_ok(w) || u->ndim != 3 || u->shape[0] != 16 || u->shape[1] != w->shape[0] || u->shape[2] != w->shape[1])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d winograd weights: w is %s and u %s; expected [O, C, 3, 3] and [16, O, C]", sw, su);
    if (evk__ranges_overlap(u, w)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d winograd weights: u overlaps w");
    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    const uint64_t oc = (uint64_t)(w->shape[0] * w->shape[1]), total = 16 * oc;
    if (9 * oc > 0xffffffffull) return evk_fail(EVK_ERROR_UNSUPPORTED, "conv2d winograd weights: more than 2^32 weights");
    const bool f16 = u->dtype == EVK_DTYPE_F16;
    evk_pipeline_desc desc = {.shader = f16 ? "winograd_w_f16" : "winograd_w_f32", .binding_count = 2, .push_size = sizeof(evk__wino_w_push)};
    desc.kinds[0] = evk__texel_kind(w->dtype, false);
    desc.kinds[1] = EVK_BINDING_STORAGE;
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    const uint64_t u_lim = evk__binding_limit(info, EVK_BINDING_STORAGE, 4) - 256, es = evk_dtype_size(u->dtype);
    if (oc % 2 == 0) {
        /* filters in pairs, all 16 values of each from its 9 weights; U bound for as many whole
         * planes as fit, then filter ranges inside a plane if even one does not */
        const uint64_t ulim_e = u_lim / es, wlim_f = (evk__binding_limit(info, desc.kinds[0], evk_dtype_size(w->dtype)) - 256) /
                                                        (9 * evk_dtype_size(w->dtype));
        uint64_t fpp = oc;
        if (fpp > wlim_f) fpp = wlim_f;
        if (fpp > ulim_e) fpp = ulim_e;
        fpp &= ~1ull;
        if (fpp < 2) return evk_fail(EVK_ERROR_UNSUPPORTED, "conv2d winograd weights: two filters exceed the device's binding limits");
        uint64_t planes = (ulim_e - fpp) / oc + 1;
        if (planes > 16) planes = 16;
        for (uint64_t xi0 = 0; xi0 < 16; xi0 += planes) {
            const uint64_t xi1 = xi0 + planes < 16 ? xi0 + planes : 16;
            for (uint64_t f0 = 0; f0 < oc; f0 += fpp) {
                const uint64_t nf = oc - f0 < fpp ? oc - f0 : fpp;
                evk_binding bind[2];
                uint32_t w_off, u_off;
                EVK_TRY(evk__bind_range(info, "conv2d winograd weights", "w", w, f0 * 9, nf * 9, desc.kinds[0], EVK_ACCESS_READ, &bind[0], &w_off));
                /* planes xi0 .. xi1 − 1 from filter f0 (one plane when filters are split) */
                EVK_TRY(evk__bind_range(info, "conv2d winograd weights", "u", u, xi0 * oc + f0, (xi1 - xi0 - 1) * oc + nf, EVK_BINDING_STORAGE,
                                       EVK_ACCESS_WRITE, &bind[1], &u_off));
                if (es == 2 && u_off % 2)
                    return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d winograd weights: u starts at an odd f16 element of its block");
                evk__wino_w_push push = {(uint32_t)oc, (uint32_t)f0, (uint32_t)nf, (uint32_t)(w_off - (uint32_t)(f0 * 9)),
                                         (uint32_t)(u_off - f0), 0, (uint32_t)xi0, (uint32_t)xi1};
                evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 2, .push = &push, .push_size = sizeof push,
                                  .label = "conv2d winograd weights"};
                evk__grid_1d((nf + 1) / 2, 64, d.groups);
                EVK_TRY(evk_stream_dispatch(s, &d));
            }
        }
        return EVK_OK;
    }
    /* odd O·C: elements of U's flat range on their own, in pieces of even length (so f16 pairs
     * never straddle two pieces); a piece inside one plane reads only its own weights */
    uint64_t piece = u_lim / es;
    if (piece > (1ull << 24)) piece = 1ull << 24;
    piece &= ~1ull;
    for (uint64_t e0 = 0; e0 < total; e0 += piece) {
        const uint64_t count = total - e0 < piece ? total - e0 : piece, ea = e0 % oc, eb = (e0 + count - 1) % oc;
        const bool one_plane = e0 / oc == (e0 + count - 1) / oc;
        const uint64_t w_first = one_plane ? ea * 9 : 0, w_count = one_plane ? (eb - ea + 1) * 9 : 9 * oc;
        evk_binding bind[2];
        uint32_t w_off, u_off;
        EVK_TRY(evk__bind_range(info, "conv2d winograd weights", "w", w, w_first, w_count, desc.kinds[0], EVK_ACCESS_READ, &bind[0], &w_off));
        EVK_TRY(evk__bind_range(info, "conv2d winograd weights", "u", u, e0, count, EVK_BINDING_STORAGE, EVK_ACCESS_WRITE, &bind[1], &u_off));
        if (f16 && u_off % 2)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d winograd weights: u starts at an odd f16 element of its block");
        evk__wino_w_push push = {(uint32_t)oc, (uint32_t)e0, (uint32_t)count, (uint32_t)(w_off - (uint32_t)w_first), u_off, 1, 0, 0};
        evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 2, .push = &push, .push_size = sizeof push,
                          .label = "conv2d winograd weights"};
        evk__grid_1d((count + 1) / 2, 64, d.groups);
        EVK_TRY(evk_stream_dispatch(s, &d));
    }
    return EVK_OK;
}

/* How many channels of an NCHW tensor one binding may span, starting at channel c0 of image
 * n_a, row `a`, and ending in image n_b at row `b` (exclusive): at least 1, or 0 when even one
 * channel's rows exceed `lim_e` elements. */
static int64_t evk__wino_channels(int64_t lim_e, int64_t n_a, int64_t n_b, int64_t ch, int64_t hw, int64_t a, int64_t b, int64_t w) {
    int64_t fixed = (n_b - n_a) * ch * hw + (b - a) * w;
    if (fixed > lim_e) return 0;
    int64_t cg = (lim_e - fixed) / hw + 1;
    return cg < ch ? cg : ch;
}

/* Winograd conv2d: x [N, C, H, W], u [16, O, C] (the transformed weights), y [N, O, Ho, Wo];
 * up_shift 1: x is read as its nearest 2× upsampling (the tiles cover 2H × 2W). */
static evk_status evk__conv_winograd(evk_stream *s, const evk_tensor *x, const evk_tensor *u, const evk_tensor *bias, const evk_tensor *y,
                                     uint32_t pad, uint32_t up_shift, const evk_tensor *affine, bool silu, evk_kernel_variant variant) {
    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], O = u->shape[1], Ho = y->shape[2], Wo = y->shape[3];
    const int64_t th = (Ho + 1) / 2, tw = (Wo + 1) / 2, tiles = th * tw, total = N * tiles, hw = H * W, ohw = Ho * Wo;
    if (N * C * hw > 0xffffffffLL || N * O * ohw > 0xffffffffLL)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "conv2d: more than 2^32 elements in one tensor");
    /* x and M are read as r32f texels (CPU drivers gather them as vectors), V and y written as
     * storage; the products read V as texels too */
    const uint64_t st_lim = info->max_storage_buffer_range - 256, tx_lim = evk__binding_limit(info, EVK_BINDING_TEXEL_R32F, 4) - 256;
    const uint64_t x_lim = tx_lim < st_lim ? tx_lim : st_lim;
    uint64_t scratch = EVK__WINO_SCRATCH;
    evk_memory_stats ms;
    evk_memory_get_stats(ctx, &ms);
    if (ms.budget && ms.budget / 16 < scratch) scratch = ms.budget / 16;
    if (scratch > x_lim) scratch = x_lim;
    int64_t np_max = (int64_t)(scratch / (64 * (uint64_t)(C > O ? C : O)));
    if (np_max < 1) return evk_fail(EVK_ERROR_UNSUPPORTED, "conv2d: %lld channels are too many for a Winograd tile's scratch", (long long)(C > O ? C : O));
    if (np_max > 128) np_max -= np_max % 128; /* whole 128-column tiles of the products where it can */
    /* whole images per chunk where they fit, else runs of tiles inside one image */
    int64_t ipc = np_max / tiles;
    if ((int64_t)(x_lim / (uint64_t)(C * hw * 4)) < ipc) ipc = (int64_t)(x_lim / (uint64_t)(C * hw * 4));
    if ((int64_t)(st_lim / (uint64_t)(O * ohw * 4)) < ipc) ipc = (int64_t)(st_lim / (uint64_t)(O * ohw * 4));
    const int64_t chunk = ipc >= 1 ? (ipc < N ? ipc : N) * tiles : (np_max < tiles ? np_max : tiles);
    evk_tensor v = {0}, m = {0};
    evk_status st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){16, C, chunk < total ? chunk : total}, &v);
    if (!st) st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){16, O, chunk < total ? chunk : total}, &m);
    evk_pipeline *p_in = NULL, *p_out = NULL;
    if (!st)
        st = evk_pipeline_get(ctx, &(evk_pipeline_desc){.shader = "winograd_in", .binding_count = 3, .push_size = sizeof(evk__wino_in_push),
                                                        .kinds = {EVK_BINDING_TEXEL_R32F},
                                                        .spec_count = 1, .spec = {affine ? (silu ? 2u : 1u) : 0u}}, &p_in);
    if (!st)
        st = evk_pipeline_get(ctx, &(evk_pipeline_desc){.shader = "winograd_out", .binding_count = 3, .push_size = sizeof(evk__wino_out_push),
                                                        .kinds = {EVK_BINDING_TEXEL_R32F},
                                                        .spec_count = 1, .spec = {bias != NULL}}, &p_out);
    for (int64_t g0 = 0; g0 < total && !st;) {
        const int64_t n_a = g0 / tiles, lim_img = ipc >= 1 ? total : (n_a + 1) * tiles;
        const int64_t g1 = g0 + chunk < lim_img ? g0 + chunk : lim_img, np = g1 - g0, n_b = (g1 - 1) / tiles;
        /* input rows the chunk reads (in its first and last image) and output rows it writes */
        const int64_t ty_a = (g0 % tiles) / tw, ty_b = ((g1 - 1) % tiles) / tw;
        int64_t a = 2 * ty_a - (int64_t)pad, b = 2 * ty_b + 4 - (int64_t)pad, oa = 2 * ty_a, ob = 2 * ty_b + 2;
        if (a < 0) a = 0;
        a >>= up_shift; /* rows of the upsampled map -> rows of x */
        b = (b + (1 << up_shift) - 1) >> up_shift;
        if (b > H) b = H;
        if (ob > Ho) ob = Ho;
        if (a >= b) a = b = 0; /* a tile of padding only reads nothing */
        evk_tensor vv = v, mv = m;
        vv.shape[2] = np;
        mv.shape[2] = np;
        const int64_t cg = evk__wino_channels((int64_t)(x_lim / 4), n_a, n_b, C, hw, a, b, W);
        const int64_t og = evk__wino_channels((int64_t)(st_lim / 4), n_a, n_b, O, ohw, oa, ob, Wo);
        if (cg == 0 || og == 0) {
            st = evk_fail(EVK_ERROR_UNSUPPORTED, "conv2d: rows of one image exceed the device's binding limits");
            break;
        }
        for (int64_t c0 = 0; c0 < C && !st; c0 += cg) {
            const int64_t nc = C - c0 < cg ? C - c0 : cg;
            const uint64_t first = (uint64_t)((n_a * C + c0) * hw + a * W), last = (uint64_t)((n_b * C + c0 + nc - 1) * hw + b * W);
            evk_binding bind[3];
            evk__wino_in_push push = {(uint32_t)C, (uint32_t)H, (uint32_t)W, (uint32_t)tw, (uint32_t)tiles, (int32_t)pad, (uint32_t)g0,
                                      (uint32_t)np, (uint32_t)c0, (uint32_t)nc, 0, 0, up_shift};
            uint32_t x_off;
            st = evk__bind_range(info, "conv2d", "x", x, first, last > first ? last - first : 1, EVK_BINDING_TEXEL_R32F, EVK_ACCESS_READ, &bind[0],
                                 &x_off);
            if (!st) st = evk__bind_range(info, "conv2d", "winograd V", &vv, 0, (uint64_t)(16 * C * np), EVK_BINDING_STORAGE, EVK_ACCESS_WRITE,
                                          &bind[1], &push.v_off);
            bind[2] = affine ? (evk_binding){.buffer = affine->buf, .range = evk_tensor_bytes(affine), .access = EVK_ACCESS_READ}
                             : bind[0]; /* never read (AFFINE is 0) */
            if (st) break;
            push.x_shift = x_off - (uint32_t)first;
            evk_dispatch d = {.pipeline = p_in, .bindings = bind, .binding_count = 3, .push = &push, .push_size = sizeof push,
                              .label = "conv2d winograd in"};
            evk__grid_1d((uint64_t)(nc * np), 64, d.groups);
            st = evk_stream_dispatch(s, &d);
        }
        if (!st) st = evk_op_matmul(s, u, &vv, NULL, &mv, &(evk_matmul_params){.variant = variant});
        for (int64_t o0 = 0; o0 < O && !st; o0 += og) {
            const int64_t no = O - o0 < og ? O - o0 : og;
            const uint64_t first = (uint64_t)((n_a * O + o0) * ohw + oa * Wo), last = (uint64_t)((n_b * O + o0 + no - 1) * ohw + ob * Wo);
            evk_binding bind[3];
            evk__wino_out_push push = {(uint32_t)O, (uint32_t)Ho, (uint32_t)Wo, (uint32_t)tw, (uint32_t)tiles, (uint32_t)g0, (uint32_t)np,
                                       (uint32_t)o0, (uint32_t)no, 0, 0, 0};
            uint32_t y_off;
            st = evk__bind_range(info, "conv2d", "winograd M", &mv, 0, (uint64_t)(16 * O * np), EVK_BINDING_TEXEL_R32F, EVK_ACCESS_READ, &bind[0],
                                 &push.m_off);
            if (!st && bias) st = evk__bind_range(info, "conv2d", "bias", bias, 0, (uint64_t)O, EVK_BINDING_STORAGE, EVK_ACCESS_READ, &bind[1], &push.b_off);
            else bind[1] = bind[0]; /* never read (HAS_BIAS is off) */
            if (!st) st = evk__bind_range(info, "conv2d", "y", y, first, last - first, EVK_BINDING_STORAGE, EVK_ACCESS_WRITE, &bind[2], &y_off);
            if (st) break;
            push.y_shift = y_off - (uint32_t)first;
            evk_dispatch d = {.pipeline = p_out, .bindings = bind, .binding_count = 3, .push = &push, .push_size = sizeof push,
                              .label = "conv2d winograd out"};
            evk__grid_1d((uint64_t)(no * np), 64, d.groups);
            st = evk_stream_dispatch(s, &d);
        }
        g0 = g1;
    }
    /* freed while the stream still uses them: the stream orders any reuse (see ENGINEERING.md) */
    evk_tensor_free(ctx, &v);
    evk_tensor_free(ctx, &m);
    return st;
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

/* AUTO's rule, from `evoke bench` on lavapipe (bench/CONV.md): Winograd wins 1.4–4× on the
 * UNet's and VAE's 3×3 layers (256 channels and more) and loses 2–20× at 32 channels on small
 * maps, where its transforms and scratch cost more than the multiplies they save; between the two
 * nothing was measured, so it starts at EVK_CONV_WINOGRAD_MIN_CHANNELS in and out, on maps of 8×8
 * and more. The 16 products bind the transformed weights whole, so they must fit one storage
 * binding. */
static bool evk__wino_auto(const evk_device_info *info, const evk_tensor *w, int64_t c, int64_t o, int64_t ho, int64_t wo) {
    return c >= EVK_CONV_WINOGRAD_MIN_CHANNELS && o >= EVK_CONV_WINOGRAD_MIN_CHANNELS && ho * wo >= 64 && (uint64_t)(16 * o * c) * evk_dtype_size(w->dtype) <= info->max_storage_buffer_range;
}

evk_status evk_op_conv2d(evk_stream *s, const evk_tensor *x, const evk_tensor *w, const evk_tensor *bias, const evk_tensor *y,
                         const evk_conv2d_params *params) {
    evk_conv2d_params prm = params ? *params : (evk_conv2d_params){0};
    if (prm.stride == 0) prm.stride = 1;
    if (!s) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: no stream");
    const evk_tensor *u = prm.winograd_w;
    if (!w && !u) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: x, w and y are required");
    if (u) {
        char su[96];
        evk_tensor_shape_str(u, su, sizeof su);
        if ((u->dtype != EVK_DTYPE_F32 && u->dtype != EVK_DTYPE_F16) || u->ndim != 3 || u->shape[0] != 16 || !x || u->shape[2] != x->shape[1] ||
            (w && (!evk__wino_shape_ok(w) || w->shape[0] != u->shape[1])))
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: winograd weights are %s %s; expected f32 or f16 [16, O, C] of 3×3 weights", evk_dtype_name(u->dtype), su);
        if (prm.stride != 1 || prm.algorithm == EVK_CONV_DIRECT)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: winograd weights given for a %s convolution", prm.stride != 1 ? "strided" : "direct");
    }
    /* the checks below read w's dtype and shape: for u alone, a stand-in with u's */
    evk_tensor w_shape;
    if (!w) {
        w_shape = *u;
        w_shape.ndim = 4;
        w_shape.shape[0] = u->shape[1];
        w_shape.shape[1] = u->shape[2];
        w_shape.shape[2] = w_shape.shape[3] = 3;
    }
    const evk_tensor *wc = w ? w : &w_shape;
    EVK_TRY(evk__conv_common_checks("conv2d", x, wc, bias, y));
    char sx[96], sw[96], sy[96];
    evk_tensor_shape_str(x, sx, sizeof sx);
    evk_tensor_shape_str(wc, sw, sizeof sw);
    evk_tensor_shape_str(y, sy, sizeof sy);
    if (wc->ndim != 4 || wc->shape[1] != x->shape[1])
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: weights %s do not fit input %s: expected [O, %lld, kh, kw]", sw, sx,
                        (long long)x->shape[1]);
    if (prm.stride > 64 || prm.padding > 4096)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: stride %u / padding %u out of range", prm.stride, prm.padding);
    if (prm.upsample > 2) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: upsampling by %u; only 2 (or 0 / 1: none) is supported", prm.upsample);
    const evk_tensor *aff = prm.input_affine;
    if (aff && (aff->dtype != EVK_DTYPE_F32 || aff->ndim != 3 || aff->shape[0] != x->shape[0] || aff->shape[1] != x->shape[1] || aff->shape[2] != 2)) {
        char sa[96];
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: input_affine is %s %s; expected f32 [%lld, %lld, 2] (evk_op_group_norm_affine)",
                        evk_dtype_name(aff->dtype), evk_tensor_shape_str(aff, sa, sizeof sa), (long long)x->shape[0], (long long)x->shape[1]);
    }
    const uint32_t up_shift = prm.upsample == 2;
    evk__conv_job j = {.what = "conv2d", .x = x, .w = wc, .bias = bias, .y = y, .mode = MODE_IM2COL, .kh = (uint32_t)wc->shape[2],
                       .kw = (uint32_t)wc->shape[3], .stride = prm.stride, .pad = prm.padding, .images = x->shape[0],
                       .c = x->shape[1], .h = x->shape[2] << up_shift, .wd = x->shape[3] << up_shift, .o = wc->shape[0], .variant = prm.variant};
    int64_t hp = j.h + 2 * (int64_t)prm.padding - j.kh, wp = j.wd + 2 * (int64_t)prm.padding - j.kw;
    if (hp < 0 || wp < 0 || j.kh == 0 || j.kw == 0)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: kernel %s larger than the padded input %s (padding %u)", sw, sx, prm.padding);
    j.ho = hp / prm.stride + 1;
    j.wo = wp / prm.stride + 1;
    if (y->shape[0] != j.images || y->shape[1] != j.o || y->shape[2] != j.ho || y->shape[3] != j.wo)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: output is %s, expected %lldx%lldx%lldx%lld for input %s, weights %s, stride %u, padding %u",
                        sy, (long long)j.images, (long long)j.o, (long long)j.ho, (long long)j.wo, sx, sw, prm.stride, prm.padding);
    if (evk__ranges_overlap(y, x) || evk__ranges_overlap(y, w) || evk__ranges_overlap(y, u) || evk__ranges_overlap(y, bias))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: the output overlaps an input");
    const bool wino_ok = j.kh == 3 && j.kw == 3 && prm.stride == 1;
    if (prm.algorithm == EVK_CONV_WINOGRAD && !wino_ok)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: Winograd needs 3×3 weights and stride 1 (weights %s, stride %u)", sw, prm.stride);
    if (u || (wino_ok && (prm.algorithm == EVK_CONV_WINOGRAD || (prm.algorithm == EVK_CONV_AUTO && evk__wino_auto(evk_context_device(evk_stream_context(s)), wc, j.c, j.o, j.ho, j.wo))))) {
        if (u) return evk__conv_winograd(s, x, u, bias, y, prm.padding, up_shift, aff, prm.input_silu, prm.variant);
        /* no transformed weights given: transform into scratch (freed in stream order) */
        evk_context *ctx = evk_stream_context(s);
        evk_tensor ut = {0};
        evk_status st = evk_tensor_alloc(ctx, w->dtype, 3, (int64_t[]){16, j.o, j.c}, &ut);
        if (!st) st = evk_op_conv2d_winograd_weights(s, w, &ut);
        if (!st) st = evk__conv_winograd(s, x, &ut, bias, y, prm.padding, up_shift, aff, prm.input_silu, prm.variant);
        evk_tensor_free(ctx, &ut);
        return st;
    }
    if (!w) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: w is required");
    if (aff) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "conv2d: input_affine is read by the Winograd input transform only; this %s convolution is direct",
                             sw);
    if (up_shift) {
        /* the direct kernel reads a stored map: upsample into scratch (freed in stream order) */
        evk_context *ctx = evk_stream_context(s);
        evk_tensor xu = {0};
        evk_conv2d_params plain = prm;
        plain.upsample = 0;
        evk_status st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){j.images, j.c, j.h, j.wd}, &xu);
        if (!st) st = evk_op_upsample_nearest2x(s, x, &xu);
        if (!st) st = evk_op_conv2d(s, &xu, w, bias, y, &plain);
        evk_tensor_free(ctx, &xu);
        return st;
    }
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
