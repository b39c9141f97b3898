/* bench_conv.c — `evoke bench` cases for the convolutions: the 3×3 convolutions of the SD UNet
 * (320→320 on 64×64 latents, 640→640 on 32×32, 1280→1280 on 16×16, batch 1) and of its VAE decoder
 * (512→512 on 64×64, 256→256 on 256×256), each by the kernel AUTO picks (Winograd, its weights
 * transformed once in set-up as runtime/nn does; kernel name "conv2d") and by the direct implicit
 * GEMM ("conv2d_direct"), with f32 and f16 weights; and a video UNet's temporal convolution (16
 * frames, 320 channels, 32×32); plus small cases for --quick. GFLOP/s count direct-convolution
 * FLOPs (2·N·O·C·9·H·W) for both, so Winograd's saving shows as a higher rate. */
#include <stdlib.h>

#include "bench.h"
#include "ops/op_conv.h"

typedef struct conv_params {
    int temporal;
    int64_t n, c, o, h, w, k; /* temporal: n = frames of one clip */
    evk_dtype weights;
    evk_conv_algorithm algorithm;
} conv_params;

typedef struct conv_state {
    const conv_params *p;
    evk_tensor x, w, bias, y, u; /* u: Winograd weights, when AUTO takes Winograd */
} conv_state;

static evk_status conv_setup(evk_context *ctx, const void *params, void **state) {
    const conv_params *p = params;
    conv_state *st = calloc(1, sizeof *st);
    if (!st) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    st->p = p;
    *state = st;
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){p->n, p->c, p->h, p->w}, &st->x));
    if (p->temporal) EVK_TRY(evk_tensor_alloc(ctx, p->weights, 3, (int64_t[]){p->o, p->c, 3}, &st->w));
    else EVK_TRY(evk_tensor_alloc(ctx, p->weights, 4, (int64_t[]){p->o, p->c, p->k, p->k}, &st->w));
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, &p->o, &st->bias));
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){p->n, p->o, p->h, p->w}, &st->y));
    EVK_TRY(bench_fill_uniform(ctx, &st->x, -1.0f, 1.0f, 3));
    EVK_TRY(bench_fill_uniform(ctx, &st->w, -1.0f, 1.0f, 4));
    EVK_TRY(bench_fill_uniform(ctx, &st->bias, -1.0f, 1.0f, 5));
    if (!p->temporal && p->k == 3 && p->algorithm != EVK_CONV_DIRECT) {
        /* what runtime/nn does at load: transform once, keep only the transformed weights */
        EVK_TRY(evk_tensor_alloc(ctx, p->weights, 3, (int64_t[]){16, p->o, p->c}, &st->u));
        evk_stream *s;
        EVK_TRY(evk_stream_create(ctx, &s));
        evk_status e = evk_stream_begin(s);
        if (!e) e = evk_op_conv2d_winograd_weights(s, &st->w, &st->u);
        if (!e) e = evk_stream_run(s);
        evk_stream_destroy(s);
        return e;
    }
    return EVK_OK;
}

static evk_status conv_record(evk_stream *s, void *state) {
    conv_state *st = state;
    if (st->p->temporal) {
        evk_temporal_conv_params tp = {.frames = (uint32_t)st->p->n};
        return evk_op_temporal_conv(s, &st->x, &st->w, &st->bias, &st->y, &tp);
    }
    evk_conv2d_params cp = {.stride = 1, .padding = (uint32_t)(st->p->k / 2), .algorithm = st->p->algorithm,
                            .winograd_w = st->u.buf.block ? &st->u : NULL};
    return evk_op_conv2d(s, &st->x, &st->w, &st->bias, &st->y, &cp);
}

static void conv_teardown(evk_context *ctx, void *state) {
    conv_state *st = state;
    if (!st) return;
    evk_tensor_free(ctx, &st->x);
    evk_tensor_free(ctx, &st->w);
    evk_tensor_free(ctx, &st->bias);
    evk_tensor_free(ctx, &st->y);
    evk_tensor_free(ctx, &st->u);
    free(st);
}

/* same-size outputs (stride 1, padding k/2): flops = 2·N·O·C·taps·H·W */
#define CONV_FLOPS(n, c, o, h, w, taps) (2.0 * (n) * (o) * (c) * (taps) * (h) * (w))
#define CONV_BYTES(n, c, o, h, w, taps, wb) (4.0 * (n) * (c) * (h) * (w) + (double)(wb) * (o) * (c) * (taps) + 4.0 * (n) * (o) * (h) * (w))
#define CONV_CASE(kernel, shape, dt, var, n, c, o, h, w, taps, wb) \
    {kernel, shape, dt, CONV_FLOPS(n, c, o, h, w, taps), CONV_BYTES(n, c, o, h, w, taps, wb), &var, conv_setup, conv_record, conv_teardown}

#define D EVK_CONV_DIRECT
static const conv_params c32 = {0, 1, 32, 32, 16, 16, 3, EVK_DTYPE_F32, 0};
static const conv_params c32d = {0, 1, 32, 32, 16, 16, 3, EVK_DTYPE_F32, D};
static const conv_params c320 = {0, 1, 320, 320, 64, 64, 3, EVK_DTYPE_F32, 0};
static const conv_params c320d = {0, 1, 320, 320, 64, 64, 3, EVK_DTYPE_F32, D};
static const conv_params c320h = {0, 1, 320, 320, 64, 64, 3, EVK_DTYPE_F16, 0};
static const conv_params c320hd = {0, 1, 320, 320, 64, 64, 3, EVK_DTYPE_F16, D};
static const conv_params c640 = {0, 1, 640, 640, 32, 32, 3, EVK_DTYPE_F32, 0};
static const conv_params c640d = {0, 1, 640, 640, 32, 32, 3, EVK_DTYPE_F32, D};
static const conv_params c640h = {0, 1, 640, 640, 32, 32, 3, EVK_DTYPE_F16, 0};
static const conv_params c640hd = {0, 1, 640, 640, 32, 32, 3, EVK_DTYPE_F16, D};
static const conv_params c1280h = {0, 1, 1280, 1280, 16, 16, 3, EVK_DTYPE_F16, 0};
static const conv_params c1280hd = {0, 1, 1280, 1280, 16, 16, 3, EVK_DTYPE_F16, D};
static const conv_params b1280h16 = {0, 2, 1280, 1280, 16, 16, 3, EVK_DTYPE_F16, 0};
static const conv_params b1280h16d = {0, 2, 1280, 1280, 16, 16, 3, EVK_DTYPE_F16, D};
static const conv_params b1280h8 = {0, 2, 1280, 1280, 8, 8, 3, EVK_DTYPE_F16, 0};
static const conv_params b1280h8d = {0, 2, 1280, 1280, 8, 8, 3, EVK_DTYPE_F16, D};
static const conv_params b640h32 = {0, 2, 640, 640, 32, 32, 3, EVK_DTYPE_F16, 0};
static const conv_params b640h32d = {0, 2, 640, 640, 32, 32, 3, EVK_DTYPE_F16, D};
static const conv_params v512h = {0, 1, 512, 512, 64, 64, 3, EVK_DTYPE_F16, 0};
static const conv_params v512hd = {0, 1, 512, 512, 64, 64, 3, EVK_DTYPE_F16, D};
static const conv_params v256h = {0, 1, 256, 256, 256, 256, 3, EVK_DTYPE_F16, 0};
static const conv_params v256hd = {0, 1, 256, 256, 256, 256, 3, EVK_DTYPE_F16, D};
static const conv_params t32 = {1, 4, 32, 32, 16, 16, 3, EVK_DTYPE_F32, 0};
static const conv_params t320 = {1, 16, 320, 320, 32, 32, 3, EVK_DTYPE_F32, 0};
static const conv_params t320h = {1, 16, 320, 320, 32, 32, 3, EVK_DTYPE_F16, 0};
#undef D

/* shapes: N x C->O x H x W x taps; dtype "f16" = f16 weights */
static const bench_case conv_cases[] = {
    CONV_CASE("conv2d", "1x32->32x16x16 k3", "f32", c32, 1, 32, 32, 16, 16, 9, 4),
    CONV_CASE("conv2d_direct", "1x32->32x16x16 k3", "f32", c32d, 1, 32, 32, 16, 16, 9, 4),
    CONV_CASE("conv2d", "1x320->320x64x64 k3", "f32", c320, 1, 320, 320, 64, 64, 9, 4),
    CONV_CASE("conv2d_direct", "1x320->320x64x64 k3", "f32", c320d, 1, 320, 320, 64, 64, 9, 4),
    CONV_CASE("conv2d", "1x320->320x64x64 k3", "f16", c320h, 1, 320, 320, 64, 64, 9, 2),
    CONV_CASE("conv2d_direct", "1x320->320x64x64 k3", "f16", c320hd, 1, 320, 320, 64, 64, 9, 2),
    CONV_CASE("conv2d", "1x640->640x32x32 k3", "f32", c640, 1, 640, 640, 32, 32, 9, 4),
    CONV_CASE("conv2d_direct", "1x640->640x32x32 k3", "f32", c640d, 1, 640, 640, 32, 32, 9, 4),
    CONV_CASE("conv2d", "1x640->640x32x32 k3", "f16", c640h, 1, 640, 640, 32, 32, 9, 2),
    CONV_CASE("conv2d_direct", "1x640->640x32x32 k3", "f16", c640hd, 1, 640, 640, 32, 32, 9, 2),
    CONV_CASE("conv2d", "1x1280->1280x16x16 k3", "f16", c1280h, 1, 1280, 1280, 16, 16, 9, 2),
    CONV_CASE("conv2d_direct", "1x1280->1280x16x16 k3", "f16", c1280hd, 1, 1280, 1280, 16, 16, 9, 2),
    CONV_CASE("conv2d", "2x640->640x32x32 k3", "f16", b640h32, 2, 640, 640, 32, 32, 9, 2),
    CONV_CASE("conv2d_direct", "2x640->640x32x32 k3", "f16", b640h32d, 2, 640, 640, 32, 32, 9, 2),
    CONV_CASE("conv2d", "2x1280->1280x16x16 k3", "f16", b1280h16, 2, 1280, 1280, 16, 16, 9, 2),
    CONV_CASE("conv2d_direct", "2x1280->1280x16x16 k3", "f16", b1280h16d, 2, 1280, 1280, 16, 16, 9, 2),
    CONV_CASE("conv2d", "2x1280->1280x8x8 k3", "f16", b1280h8, 2, 1280, 1280, 8, 8, 9, 2),
    CONV_CASE("conv2d_direct", "2x1280->1280x8x8 k3", "f16", b1280h8d, 2, 1280, 1280, 8, 8, 9, 2),
    CONV_CASE("conv2d", "1x512->512x64x64 k3 (VAE)", "f16", v512h, 1, 512, 512, 64, 64, 9, 2),
    CONV_CASE("conv2d_direct", "1x512->512x64x64 k3 (VAE)", "f16", v512hd, 1, 512, 512, 64, 64, 9, 2),
    CONV_CASE("conv2d", "1x256->256x256x256 k3 (VAE)", "f16", v256h, 1, 256, 256, 256, 256, 9, 2),
    CONV_CASE("conv2d_direct", "1x256->256x256x256 k3 (VAE)", "f16", v256hd, 1, 256, 256, 256, 256, 9, 2),
    CONV_CASE("temporal_conv", "4fx32->32x16x16", "f32", t32, 4, 32, 32, 16, 16, 3, 4),
    CONV_CASE("temporal_conv", "16fx320->320x32x32", "f32", t320, 16, 320, 320, 32, 32, 3, 4),
    CONV_CASE("temporal_conv", "16fx320->320x32x32", "f16", t320h, 16, 320, 320, 32, 32, 3, 2),
};
BENCH_REGISTER(conv_cases)
