/* bench_layout.c — `evoke bench` rows for the data-movement and image kernels: the NCHW →
 * N(HW)C transpose around a UNet transformer block at SD's first level (2×320×64×64), the
 * token-embedding gather of 16 prompts (16·77 rows of 768 from a 49408-row table), and the CLIP
 * image preprocessing of 32 images (bicubic 512² → 224², then crop + normalise). All
 * bandwidth-bound: bytes = inputs read once + outputs written once. */
#include <stdlib.h>

#include "bench.h"
#include "ops/op_image.h"
#include "ops/op_layout.h"

typedef enum { LB_TRANSPOSE, LB_GATHER, LB_RESIZE, LB_CROP } lb_kind;
typedef struct lb_state { lb_kind kind; evk_tensor a, b, c; } lb_state;

static void bench_lb_teardown(evk_context *ctx, void *state) {
    lb_state *st = state;
    if (!st) return;
    evk_tensor_free(ctx, &st->a);
    evk_tensor_free(ctx, &st->b);
    evk_tensor_free(ctx, &st->c);
    free(st);
}

static evk_status bench_lb_setup(evk_context *ctx, const void *params, void **state) {
    lb_state *st = calloc(1, sizeof *st);
    if (!st) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "bench layout: state");
    st->kind = *(const lb_kind *)params;
    evk_status s = EVK_OK;
    switch (st->kind) {
    case LB_TRANSPOSE:
        s = bench_random_tensor(ctx, 3, (int64_t[]){2, 320, 4096}, 0.01f, 1.0f, 12345, &st->a);
        if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, (int64_t[]){2, 4096, 320}, &st->b);
        break;
    case LB_GATHER: {
        s = bench_random_tensor(ctx, 2, (int64_t[]){49408, 768}, 0.01f, 1.0f, 12345, &st->a);
        if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_I32, 1, (int64_t[]){16 * 77}, &st->c);
        int32_t idx[16 * 77];
        for (int i = 0; i < 16 * 77; i++) idx[i] = (int32_t)((i * 7919u) % 49408u);
        if (!s) s = evk_buffer_upload(ctx, &st->c.buf, 0, idx, sizeof idx);
        if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){16 * 77, 768}, &st->b);
        break;
    }
    case LB_RESIZE:
        s = bench_random_tensor(ctx, 4, (int64_t[]){32, 3, 512, 512}, 0.01f, 1.0f, 12345, &st->a);
        if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){32, 3, 512, 224}, &st->c);
        if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){32, 3, 224, 224}, &st->b);
        break;
    case LB_CROP:
        s = bench_random_tensor(ctx, 4, (int64_t[]){32, 3, 256, 256}, 0.01f, 1.0f, 12345, &st->a);
        if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, (int64_t[]){32, 3, 224, 224}, &st->b);
        break;
    }
    if (s) {
        bench_lb_teardown(ctx, st);
        return s;
    }
    *state = st;
    return EVK_OK;
}

static evk_status bench_lb_record(evk_stream *s, void *state) {
    lb_state *st = state;
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, sd[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    switch (st->kind) {
    case LB_TRANSPOSE: return evk_op_transpose(s, &st->a, 2, 320, 4096, &st->b);
    case LB_GATHER: return evk_op_gather_rows(s, &st->a, &st->c, &st->b);
    case LB_RESIZE: return evk_op_resize_bicubic(s, &st->a, &st->c, &st->b);
    case LB_CROP: return evk_op_crop_normalize(s, &st->a, 16, 16, mean, sd, &st->b);
    }
    return evk_fail(EVK_ERROR_INTERNAL, "bench layout: unknown case");
}

static const lb_kind lb_transpose = LB_TRANSPOSE, lb_gather = LB_GATHER, lb_resize = LB_RESIZE, lb_crop = LB_CROP;

static const bench_case layout_cases[] = {
    {"transpose", "2x320x4096 -> 2x4096x320", "f32", 0, 2.0 * 4 * 2 * 320 * 4096, &lb_transpose, bench_lb_setup, bench_lb_record,
     bench_lb_teardown},
    {"gather", "16x77 rows of 768 from 49408", "f32", 0, 2.0 * 4 * 16 * 77 * 768 + 4 * 16 * 77, &lb_gather, bench_lb_setup,
     bench_lb_record, bench_lb_teardown},
    {"resize_bicubic", "32x3x512x512 -> 224x224", "f32", 0, 4.0 * 32 * 3 * (512 * 512 + 2 * 512 * 224 + 224 * 224), &lb_resize,
     bench_lb_setup, bench_lb_record, bench_lb_teardown},
    {"crop_normalize", "32x3x256x256 -> 224x224", "f32", 0, 2.0 * 4 * 32 * 3 * 224 * 224, &lb_crop, bench_lb_setup,
     bench_lb_record, bench_lb_teardown},
};
BENCH_REGISTER(layout_cases)
