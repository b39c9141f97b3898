/* test_op_conv.c — evk_op_conv2d and evk_op_temporal_conv against double-precision references:
 * odd channel counts and image sizes (C=5, O=7, 13×11), 3×3 with stride 1 and 2, 1×1, 5×5 with
 * padding 2, a batch of images, bias on and off, f32 and f16 weights, both kernel families
 * forced, images larger than one binding (windows of rows), temporal convolution over 5-frame
 * clips with both weight layouts; Winograd F(2×2, 3×3) on odd and even sizes, padding 0 and 1,
 * in both families, with weights transformed in the call or beforehand (f32 or f16), in chunks
 * and channel groups beyond one binding, and its weight transform against G·w·Gᵀ; both
 * algorithms over the 2× nearest upsampling of the input (params.upsample), and Winograd reading
 * its input through per-(image, channel) scale and shift pairs with and without SiLU (a folded
 * group norm, params.input_affine); outputs
 * poisoned and every element checked; bad shapes rejected with a message.
 * Error bounds (relative L2 against the double reference): direct and Winograd with f32
 * transformed weights 1e-5 (measured ≤ 2.1e-7 for both), Winograd with f16 transformed weights
 * 1e-3 (measured ≤ 3.8e-4: U rounded to f16); the direct kernel with f16 weights keeps 2e-3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/op_conv.h"

static float round_to(evk_dtype dt, float v) { return dt == EVK_DTYPE_F16 ? evk_f16_to_f32(evk_f32_to_f16(v)) : v; }

typedef struct conv_case {
    int64_t n, c, o, h, w, k, stride, pad;
    bool bias;
    evk_dtype wdt;
    evk_kernel_variant variant;
    evk_conv_algorithm algorithm;
    int pre;       /* Winograd weights made first by evk_op_conv2d_winograd_weights: 1 with w, 2 alone (w NULL) */
    evk_dtype udt; /* their dtype */
    int up;        /* 2: convolve x's nearest 2× upsampling (fused), else x */
    int affine;    /* Winograd: 1: read x·a + b per (image, channel); 2: SiLU(x·a + b) */
} conv_case;

/* The largest relative L2 error seen per algorithm (direct: by weight dtype; Winograd: by the
 * transformed weights' dtype), printed by test_winograd_bounds. */
static double worst[3][2];

static void run_conv(evk_context *ctx, const conv_case *t) {
    test_rng rng = {.state = (uint64_t)(t->c * 1000 + t->o * 100 + t->k * 10 + t->stride + t->pad * 7 + t->h * 3)};
    const int64_t up = t->up == 2 ? 2 : 1, uh = t->h * up, uw = t->w * up; /* the map convolved */
    const int64_t ho = (uh + 2 * t->pad - t->k) / t->stride + 1, wo = (uw + 2 * t->pad - t->k) / t->stride + 1;
    size_t nx = (size_t)(t->n * t->c * t->h * t->w), nw = (size_t)(t->o * t->c * t->k * t->k), ny = (size_t)(t->n * t->o * ho * wo);
    float *hx = malloc(nx * 4), *hw = malloc(nw * 4), *hb = malloc((size_t)t->o * 4), *hy = malloc(ny * 4);
    double *ref = malloc(ny * sizeof *ref);
    test_rng_fill(&rng, hx, nx, -1.0f, 1.0f);
    test_rng_fill(&rng, hw, nw, -0.5f, 0.5f);
    test_rng_fill(&rng, hb, (size_t)t->o, -1.0f, 1.0f);
    for (size_t i = 0; i < nw; i++) hw[i] = round_to(t->wdt, hw[i]);
    /* the input the convolution sees: x, or x·a + b (then SiLU) with a pair per (image, channel) */
    float *hab = malloc((size_t)(t->n * t->c * 2) * 4);
    double *xin = malloc(nx * sizeof *xin);
    for (int64_t i = 0; i < t->n * t->c; i++) {
        hab[2 * i] = 0.5f + (float)((i * 37) % 11) / 10.0f;
        hab[2 * i + 1] = -0.5f + (float)((i * 53) % 13) / 12.0f;
    }
    for (size_t i = 0; i < nx; i++) {
        const int64_t nc = (int64_t)i / (t->h * t->w);
        double v = hx[i];
        if (t->affine) v = v * hab[2 * nc] + hab[2 * nc + 1];
        if (t->affine == 2) v = v / (1.0 + exp(-v));
        xin[i] = v;
    }
    for (int64_t b = 0; b < t->n; b++)
        for (int64_t o = 0; o < t->o; o++)
            for (int64_t y = 0; y < ho; y++)
                for (int64_t x = 0; x < wo; x++) {
                    double acc = t->bias ? hb[o] : 0.0;
                    for (int64_t c = 0; c < t->c; c++)
                        for (int64_t r = 0; r < t->k; r++)
                            for (int64_t s = 0; s < t->k; s++) {
                                int64_t iy = y * t->stride - t->pad + r, ix = x * t->stride - t->pad + s;
                                if (iy < 0 || iy >= uh || ix < 0 || ix >= uw) continue;
                                acc += (double)hw[((o * t->c + c) * t->k + r) * t->k + s] * xin[((b * t->c + c) * t->h + iy / up) * t->w + ix / up];
                            }
                    ref[((b * t->o + o) * ho + y) * wo + x] = acc;
                }
    evk_tensor x, w, bias, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){t->n, t->c, t->h, t->w}, &x));
    TEST_OK(evk_tensor_alloc(ctx, t->wdt, 4, (int64_t[]){t->o, t->c, t->k, t->k}, &w));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, &t->o, &bias));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){t->n, t->o, ho, wo}, &y));
    TEST_OK(evk_tensor_upload_f32(ctx, &x, hx));
    TEST_OK(evk_tensor_upload_f32(ctx, &w, hw));
    TEST_OK(evk_tensor_upload_f32(ctx, &bias, hb));
    test_poison(ctx, &y.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_conv2d_params p = {.stride = (uint32_t)t->stride, .padding = (uint32_t)t->pad, .variant = t->variant, .algorithm = t->algorithm,
                           .upsample = (uint32_t)t->up, .input_silu = t->affine == 2};
    evk_tensor ab = {0};
    if (t->affine) {
        TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){t->n, t->c, 2}, &ab));
        TEST_OK(evk_tensor_upload_f32(ctx, &ab, hab));
        p.input_affine = &ab;
    }
    evk_tensor u = {0};
    if (t->pre) {
        TEST_OK(evk_tensor_alloc(ctx, t->udt, 3, (int64_t[]){16, t->o, t->c}, &u));
        test_poison(ctx, &u.buf);
        TEST_OK(evk_op_conv2d_winograd_weights(s, &w, &u));
        p.winograd_w = &u;
    }
    TEST_OK(evk_op_conv2d(s, &x, t->pre == 2 ? NULL : &w, t->bias ? &bias : NULL, &y, &p));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &y, hy));
    char what[160];
    snprintf(what, sizeof what, "conv2d %s%s%s%s n=%lld c=%lld o=%lld %lldx%lld k=%lld s=%lld p=%lld bias=%d w=%s",
             t->variant == EVK_KERNEL_CPU ? "cpu" : "gpu", t->algorithm == EVK_CONV_WINOGRAD ? " winograd" : "", up == 2 ? " upsampled" : "",
             t->affine == 2 ? " affine+silu" : t->affine ? " affine" : "",
             (long long)t->n, (long long)t->c, (long long)t->o, (long long)t->h, (long long)t->w, (long long)t->k, (long long)t->stride,
             (long long)t->pad, t->bias, evk_dtype_name(t->wdt));
    /* Winograd with f16 transformed weights rounds G·w·Gᵀ to f16: a relative error of up to 2^-11
     * per weight, which the direct kernel (exact f16 weights) does not have */
    const bool u16 = t->algorithm == EVK_CONV_WINOGRAD && (t->pre ? t->udt : t->wdt) == EVK_DTYPE_F16;
    double e = test_rel_l2(hy, ref, ny);
    double *wst = &worst[t->algorithm][t->algorithm == EVK_CONV_WINOGRAD ? u16 : t->wdt == EVK_DTYPE_F16];
    if (e > *wst) *wst = e;
    test_assert_close(hy, ref, ny, u16 ? 1e-3 : t->algorithm == EVK_CONV_WINOGRAD ? 1e-5 : t->wdt == EVK_DTYPE_F16 ? 2e-3 : 1e-5, what);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &ab);
    evk_tensor_free(ctx, &u);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &w);
    evk_tensor_free(ctx, &bias);
    evk_tensor_free(ctx, &y);
    free(hx); free(hw); free(hb); free(hy); free(ref); free(hab); free(xin);
}

static void conv_sweep(evk_context *ctx, evk_kernel_variant v) {
    /* {k, stride, pad}: 3×3 same, 3×3 downsampling, 1×1 (the plane path), 5×5, 1×1 strided */
    static const int64_t kinds[5][3] = {{3, 1, 1}, {3, 2, 1}, {1, 1, 0}, {5, 1, 2}, {1, 2, 0}};
    for (int i = 0; i < 5; i++) {
        conv_case t = {.n = 2, .c = 5, .o = 7, .h = 13, .w = 11, .k = kinds[i][0], .stride = kinds[i][1], .pad = kinds[i][2],
                       .bias = i != 1, .wdt = EVK_DTYPE_F32, .variant = v};
        run_conv(ctx, &t);
        t.wdt = EVK_DTYPE_F16;
        t.bias = !t.bias;
        run_conv(ctx, &t);
    }
    /* K a multiple of 4 (rgba weight loads) and H·W a multiple of 4 (rgba 1×1 plane loads), more
     * output channels than one tile, several pixel tiles */
    conv_case t = {.n = 1, .c = 8, .o = 70, .h = 12, .w = 24, .k = 3, .stride = 1, .pad = 1, .bias = true, .wdt = EVK_DTYPE_F32, .variant = v};
    run_conv(ctx, &t);
    t.k = 1;
    t.pad = 0;
    run_conv(ctx, &t);
    /* over the 2× upsampled input (the direct kernel upsamples into scratch first): 3×3 same,
     * 3×3 strided, 1×1, on odd sizes */
    for (int i = 0; i < 3; i++) {
        conv_case u = {.n = 2, .c = 5, .o = 7, .h = 7, .w = 5, .k = kinds[i][0], .stride = kinds[i][1], .pad = kinds[i][2], .bias = i != 1,
                       .wdt = i == 1 ? EVK_DTYPE_F16 : EVK_DTYPE_F32, .variant = v, .algorithm = EVK_CONV_DIRECT, .up = 2};
        run_conv(ctx, &u);
    }
    if (v == EVK_KERNEL_CPU) {
        /* big enough for the CPU kernel's large tile */
        conv_case big = {.n = 1, .c = 8, .o = 72, .h = 32, .w = 33, .k = 3, .stride = 1, .pad = 1, .bias = true, .wdt = EVK_DTYPE_F32, .variant = v};
        run_conv(ctx, &big);
    }
}

/* Images larger than one binding (a context whose bindings are capped at 16 KiB, below one
 * 37×29 image of input or output): conv2d must run in windows of output rows and still match
 * the one-pass reference everywhere, window seams, strides and wide kernels included. Without
 * the windows these dispatches would be refused for their binding sizes. */
static void test_conv2d_beyond_binding_limit(void **state) {
    (void)state;
    evk_context *ctx = test_context_create_with((evk_context_config){.binding_limit = 16 << 10});
    static const int64_t kinds[4][3] = {{3, 1, 1}, {3, 2, 1}, {5, 1, 2}, {1, 2, 0}};
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < 4; i++) {
            conv_case t = {.n = 2, .c = 5, .o = 7, .h = 37, .w = 29, .k = kinds[i][0], .stride = kinds[i][1], .pad = kinds[i][2],
                           .bias = i != 1, .wdt = i == 2 ? EVK_DTYPE_F16 : EVK_DTYPE_F32,
                           .variant = v ? EVK_KERNEL_GPU : EVK_KERNEL_CPU};
            run_conv(ctx, &t);
        }
    evk_context_destroy(ctx);
}

static void test_conv2d_cpu(void **state) { conv_sweep(*state, EVK_KERNEL_CPU); }
static void test_conv2d_gpu(void **state) { conv_sweep(*state, EVK_KERNEL_GPU); }

/* Winograd F(2×2, 3×3) in both kernel families: odd and even sizes (partial last tiles), padding
 * 1 and 0, 1-pixel-wide images, channel counts that fill no tile, a batch, bias on and off, f32 and
 * f16 weights, weights transformed inside the call or once beforehand (with w, and alone), f16
 * transformed weights from f32 ones, and AUTO's choice on a shape it gives to Winograd. */
static void winograd_sweep(evk_context *ctx, evk_kernel_variant v) {
    static const int64_t shapes[][6] = {/* n, c, o, h, w, pad */
                                        {2, 5, 7, 13, 11, 1}, {1, 3, 9, 12, 10, 1}, {2, 6, 5, 13, 11, 0}, {1, 4, 3, 1, 1, 1},
                                        {1, 5, 4, 3, 7, 0}, {1, 17, 70, 9, 15, 1}, {3, 33, 19, 6, 5, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        conv_case t = {.n = shapes[i][0], .c = shapes[i][1], .o = shapes[i][2], .h = shapes[i][3], .w = shapes[i][4], .k = 3, .stride = 1,
                       .pad = shapes[i][5], .bias = i % 2 == 0, .wdt = EVK_DTYPE_F32, .variant = v, .algorithm = EVK_CONV_WINOGRAD};
        run_conv(ctx, &t);
        t.wdt = EVK_DTYPE_F16;
        t.bias = !t.bias;
        run_conv(ctx, &t);
        t.pre = 1 + (int)(i % 2);
        t.udt = i % 3 ? EVK_DTYPE_F16 : EVK_DTYPE_F32;
        run_conv(ctx, &t);
        t.wdt = EVK_DTYPE_F32;
        t.pre = 2;
        t.udt = i % 3 ? EVK_DTYPE_F32 : EVK_DTYPE_F16;
        run_conv(ctx, &t);
        /* the input read through its 2× upsampling, which is never stored */
        t.up = 2;
        run_conv(ctx, &t);
        t.pre = 0;
        run_conv(ctx, &t);
        /* a group norm's per-channel scale and shift folded into the read, with and without
         * SiLU, over the plain and the upsampled input */
        t.affine = 1 + (int)(i % 2);
        run_conv(ctx, &t);
        t.up = 0;
        t.pre = 1;
        run_conv(ctx, &t);
    }
    /* AUTO takes Winograd here (EVK_CONV_WINOGRAD_MIN_CHANNELS+ channels, 8×8+ outputs) */
    conv_case t = {.n = 1, .c = EVK_CONV_WINOGRAD_MIN_CHANNELS + 1, .o = EVK_CONV_WINOGRAD_MIN_CHANNELS + 3, .h = 9, .w = 9, .k = 3, .stride = 1, .pad = 1, .bias = true, .wdt = EVK_DTYPE_F32, .variant = v};
    run_conv(ctx, &t);
    t.h = t.w = 5; /* and with upsampling: 10×10 outputs */
    t.up = 2;
    run_conv(ctx, &t);
}

static void test_winograd_cpu(void **state) { winograd_sweep(*state, EVK_KERNEL_CPU); }
static void test_winograd_gpu(void **state) { winograd_sweep(*state, EVK_KERNEL_GPU); }

/* Winograd beyond one binding: chunks of tiles inside one image and channel groups per
 * dispatch (a context with 16 KiB bindings, below one 37×29 image of 5 channels) */
static void test_winograd_beyond_binding_limit(void **state) {
    (void)state;
    evk_context *ctx = test_context_create_with((evk_context_config){.binding_limit = 16 << 10});
    for (int v = 0; v < 2; v++)
        for (int pad = 0; pad < 2; pad++) {
            conv_case t = {.n = 2, .c = 5, .o = 7, .h = 37, .w = 29, .k = 3, .stride = 1, .pad = pad, .bias = pad == 1,
                           .wdt = pad ? EVK_DTYPE_F16 : EVK_DTYPE_F32, .variant = v ? EVK_KERNEL_GPU : EVK_KERNEL_CPU,
                           .algorithm = EVK_CONV_WINOGRAD, .pre = pad + 1, .udt = EVK_DTYPE_F32};
            run_conv(ctx, &t);
            /* upsampled: chunks of tiles whose input rows are half as many rows of x */
            t.h = 19, t.w = 15, t.up = 2;
            run_conv(ctx, &t);
            /* and normalised while read: channel groups of several images per dispatch */
            t.affine = 2;
            run_conv(ctx, &t);
        }
    /* the weight transform alone with planes (64·70 f32) beyond a binding: filters split, and
     * f16 output in groups of planes; checked against G·w·Gᵀ in double */
    const int64_t O = 70, C = 64;
    const size_t nw = (size_t)(O * C * 9), nu = 16 * (size_t)(O * C);
    float *hw = malloc(nw * 4), *hu = malloc(nu * 4);
    double *ref = malloc(nu * sizeof *ref);
    test_rng rng = {.state = 77};
    test_rng_fill(&rng, hw, nw, -1.0f, 1.0f);
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    for (int64_t f = 0; f < O * C; f++)
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++) {
                double acc = 0;
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++) acc += G[r][a] * hw[f * 9 + a * 3 + b] * G[q][b];
                ref[(size_t)(r * 4 + q) * (size_t)(O * C) + (size_t)f] = acc;
            }
    for (int d = 0; d < 2; d++) {
        evk_tensor w, u;
        TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){O, C, 3, 3}, &w));
        TEST_OK(evk_tensor_alloc(ctx, d ? EVK_DTYPE_F16 : EVK_DTYPE_F32, 3, (int64_t[]){16, O, C}, &u));
        TEST_OK(evk_tensor_upload_f32(ctx, &w, hw));
        test_poison(ctx, &u.buf);
        evk_stream *s;
        TEST_OK(evk_stream_create(ctx, &s));
        TEST_OK(evk_stream_begin(s));
        TEST_OK(evk_op_conv2d_winograd_weights(s, &w, &u));
        TEST_OK(evk_stream_run(s));
        TEST_OK(evk_tensor_download_f32(ctx, &u, hu));
        test_assert_close(hu, ref, nu, d ? 1e-3 : 1e-6, d ? "winograd weights f16 (split)" : "winograd weights f32 (split)");
        test_assert_no_validation(ctx);
        evk_stream_destroy(s);
        evk_tensor_free(ctx, &w);
        evk_tensor_free(ctx, &u);
    }
    free(hw); free(hu); free(ref);
    evk_context_destroy(ctx);
}

static void test_winograd_bounds(void **state) {
    (void)state;
    printf("worst relative L2 error: direct f32 %.3g, f16 weights %.3g; winograd (f32 or f16 weights) with f32 transformed weights %.3g, with f16 ones %.3g\n",
           worst[EVK_CONV_AUTO][0] > worst[EVK_CONV_DIRECT][0] ? worst[EVK_CONV_AUTO][0] : worst[EVK_CONV_DIRECT][0],
           worst[EVK_CONV_AUTO][1], worst[EVK_CONV_WINOGRAD][0], worst[EVK_CONV_WINOGRAD][1]);
}

typedef struct tconv_case {
    int64_t b, f, c, o, h, w;
    bool bias, w5d;
    evk_dtype wdt;
    evk_kernel_variant variant;
} tconv_case;

static void run_tconv(evk_context *ctx, const tconv_case *t) {
    test_rng rng = {.state = (uint64_t)(t->f * 100 + t->h * 10 + t->w + t->w5d)};
    const int64_t bf = t->b * t->f, hw = t->h * t->w;
    size_t nx = (size_t)(bf * t->c * hw), nw = (size_t)(t->o * t->c * 3), ny = (size_t)(bf * t->o * hw);
    float *hx = malloc(nx * 4), *hwt = malloc(nw * 4), *hb = malloc((size_t)t->o * 4), *hy = malloc(ny * 4);
    double *ref = malloc(ny * sizeof *ref);
    test_rng_fill(&rng, hx, nx, -1.0f, 1.0f);
    test_rng_fill(&rng, hwt, nw, -0.5f, 0.5f);
    test_rng_fill(&rng, hb, (size_t)t->o, -1.0f, 1.0f);
    for (size_t i = 0; i < nw; i++) hwt[i] = round_to(t->wdt, hwt[i]);
    for (int64_t b = 0; b < t->b; b++)
        for (int64_t f = 0; f < t->f; f++)
            for (int64_t o = 0; o < t->o; o++)
                for (int64_t p = 0; p < hw; p++) {
                    double acc = t->bias ? hb[o] : 0.0;
                    for (int64_t c = 0; c < t->c; c++)
                        for (int64_t k = 0; k < 3; k++) {
                            int64_t ff = f + k - 1;
                            if (ff < 0 || ff >= t->f) continue;
                            acc += (double)hwt[(o * t->c + c) * 3 + k] * hx[(((b * t->f + ff) * t->c) + c) * hw + p];
                        }
                    ref[((b * t->f + f) * t->o + o) * hw + p] = acc;
                }
    evk_tensor x, w, bias, y;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){bf, t->c, t->h, t->w}, &x));
    if (t->w5d) TEST_OK(evk_tensor_alloc(ctx, t->wdt, 5, (int64_t[]){t->o, t->c, 3, 1, 1}, &w));
    else TEST_OK(evk_tensor_alloc(ctx, t->wdt, 3, (int64_t[]){t->o, t->c, 3}, &w));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, &t->o, &bias));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){bf, t->o, t->h, t->w}, &y));
    TEST_OK(evk_tensor_upload_f32(ctx, &x, hx));
    TEST_OK(evk_tensor_upload_f32(ctx, &w, hwt));
    TEST_OK(evk_tensor_upload_f32(ctx, &bias, hb));
    test_poison(ctx, &y.buf);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_temporal_conv_params p = {.frames = (uint32_t)t->f, .variant = t->variant};
    TEST_OK(evk_op_temporal_conv(s, &x, &w, t->bias ? &bias : NULL, &y, &p));
    TEST_OK(evk_stream_run(s));
    TEST_OK(evk_tensor_download_f32(ctx, &y, hy));
    char what[160];
    snprintf(what, sizeof what, "temporal conv %s b=%lld f=%lld c=%lld o=%lld %lldx%lld bias=%d w=%s%s", t->variant == EVK_KERNEL_CPU ? "cpu" : "gpu",
             (long long)t->b, (long long)t->f, (long long)t->c, (long long)t->o, (long long)t->h, (long long)t->w, t->bias,
             evk_dtype_name(t->wdt), t->w5d ? " (5-d)" : "");
    test_assert_close(hy, ref, ny, t->wdt == EVK_DTYPE_F16 ? 2e-3 : 1e-5, what);
    test_assert_no_validation(ctx);
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &w);
    evk_tensor_free(ctx, &bias);
    evk_tensor_free(ctx, &y);
    free(hx); free(hwt); free(hb); free(hy); free(ref);
}

static void test_temporal(void **state) {
    evk_context *ctx = *state;
    const evk_kernel_variant vs[2] = {EVK_KERNEL_CPU, EVK_KERNEL_GPU};
    for (int v = 0; v < 2; v++) {
        /* 3×5 planes (one texel per element) and 4×6 planes (four per texel) */
        tconv_case t = {.b = 2, .f = 5, .c = 5, .o = 7, .h = 3, .w = 5, .bias = true, .wdt = EVK_DTYPE_F32, .variant = vs[v]};
        run_tconv(ctx, &t);
        t.h = 4; t.w = 6; t.w5d = true; t.bias = false; t.wdt = EVK_DTYPE_F16;
        run_tconv(ctx, &t);
        t.b = 1; t.f = 1; t.c = 4; t.o = 20; t.w5d = false; t.bias = true; t.wdt = EVK_DTYPE_F32; /* one frame: only the centre tap */
        run_tconv(ctx, &t);
    }
    /* big enough for the CPU kernel's large tile (and its shuffle build where the device has one):
     * 70 filters, 33×32 planes, 3 frames */
    tconv_case big = {.b = 1, .f = 3, .c = 22, .o = 70, .h = 33, .w = 32, .bias = true, .wdt = EVK_DTYPE_F16, .variant = EVK_KERNEL_CPU};
    run_tconv(ctx, &big);
}

static void test_bad_shapes(void **state) {
    evk_context *ctx = *state;
    evk_tensor x, w, w3, y, ybad;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){2, 5, 8, 8}, &x));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){7, 4, 3, 3}, &w));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){7, 5, 3}, &w3));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){2, 7, 8, 8}, &y));
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){2, 7, 6, 6}, &ybad));
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    evk_conv2d_params p = {.padding = 1};
    assert_int_equal(evk_op_conv2d(s, &x, &w, NULL, &y, &p), EVK_ERROR_INVALID_ARGUMENT); /* C 4 vs 5 */
    assert_non_null(strstr(evk_error_message(), "weights"));
    evk_tensor w5;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){7, 5, 3, 3}, &w5));
    p.upsample = 3; /* only 2× */
    assert_int_equal(evk_op_conv2d(s, &x, &w5, NULL, &y, &p), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "upsampling by 3"));
    p.upsample = 2; /* the output of an upsampled 8×8 input is 16×16 */
    assert_int_equal(evk_op_conv2d(s, &x, &w5, NULL, &y, &p), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "expected 2x7x16x16"));
    evk_tensor ab;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){2, 5, 2}, &ab));
    evk_tensor y16;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){2, 7, 8, 8}, &y16));
    p = (evk_conv2d_params){.padding = 1, .algorithm = EVK_CONV_DIRECT, .input_affine = &ab};
    assert_int_equal(evk_op_conv2d(s, &x, &w5, NULL, &y16, &p), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "Winograd input transform only"));
    p = (evk_conv2d_params){.padding = 1, .algorithm = EVK_CONV_WINOGRAD, .input_affine = &w5};
    assert_int_equal(evk_op_conv2d(s, &x, &w5, NULL, &y16, &p), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "expected f32 [2, 5, 2]"));
    evk_tensor_free(ctx, &ab);
    evk_tensor_free(ctx, &y16);
    evk_tensor_free(ctx, &w5);
    assert_int_equal(evk_op_temporal_conv(s, &x, &w3, NULL, &ybad, &(evk_temporal_conv_params){.frames = 2}), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "output"));
    assert_int_equal(evk_op_temporal_conv(s, &x, &w3, NULL, &y, &(evk_temporal_conv_params){.frames = 3}), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "clips"));
    assert_int_equal(evk_op_temporal_conv(s, &x, &w3, NULL, &y, NULL), EVK_ERROR_INVALID_ARGUMENT);
    TEST_OK(evk_op_temporal_conv(s, &x, &w3, NULL, &y, &(evk_temporal_conv_params){.frames = 2}));
    TEST_OK(evk_stream_run(s));
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &w);
    evk_tensor_free(ctx, &w3);
    evk_tensor_free(ctx, &y);
    evk_tensor_free(ctx, &ybad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_cpu),
        cmocka_unit_test(test_conv2d_gpu),
        cmocka_unit_test(test_conv2d_beyond_binding_limit),
        cmocka_unit_test(test_winograd_cpu),
        cmocka_unit_test(test_winograd_gpu),
        cmocka_unit_test(test_winograd_beyond_binding_limit),
        cmocka_unit_test(test_winograd_bounds),
        cmocka_unit_test(test_temporal),
        cmocka_unit_test(test_bad_shapes),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
