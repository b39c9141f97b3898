/* bench_mmdit.c — `evoke bench` rows for the MMDiT (SD3) kernels at SD3.5-Medium's widths for one
 * 1024² image (4096 image tokens of 1536 channels, 24 heads of 64): the AdaLayerNormZero
 * modulation x·(1 + scale) + shift and the gated residual h += gate·y, reading their chunks out
 * of the [1, 6·1536] projection; the RMS query/key norm over 4096·24 rows of 64; and the
 * unpatchify of [1, 4096, 2·2·16] tokens to a [1, 16, 128, 128] latent. All bandwidth-bound:
 * bytes = the big operands read once + the output written once. */
#include <stdlib.h>

#include "bench.h"
#include "ops/op_layout.h"
#include "ops/op_modulate.h"
#include "ops/op_norm.h"

typedef enum { MB_MODULATE, MB_GATE, MB_RMS, MB_UNPATCHIFY } mb_kind;
typedef struct mb_params { mb_kind kind; } mb_params;
typedef struct mb_state { mb_kind kind; evk_tensor x, y, e, o; } mb_state;

enum { MB_L = 4096, MB_D = 1536, MB_HD = 64 };

static void bench_mb_teardown(evk_context *ctx, void *state) {
    mb_state *st = state;
    if (!st) return;
    evk_tensor_free(ctx, &st->x);
    evk_tensor_free(ctx, &st->y);
    evk_tensor_free(ctx, &st->e);
    evk_tensor_free(ctx, &st->o);
    free(st);
}

static evk_status bench_mb_setup(evk_context *ctx, const void *params, void **state) {
    const mb_params *p = params;
    mb_state *st = calloc(1, sizeof *st);
    if (!st) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "bench mmdit: state");
    st->kind = p->kind;
    int64_t sx[3] = {1, MB_L, MB_D}, se[2] = {1, 6 * MB_D}, sr[2] = {(int64_t)MB_L * 24, MB_HD}, sg[1] = {MB_HD};
    int64_t su[3] = {1, MB_L, 64}, sl[4] = {1, 16, 128, 128};
    evk_status s = EVK_OK;
    switch (p->kind) {
    case MB_MODULATE:
    case MB_GATE:
        s = bench_random_tensor(ctx, 3, sx, -1.0f, 1.0f, 1, &st->x);
        if (!s) s = bench_random_tensor(ctx, 2, se, -1.0f, 1.0f, 2, &st->e);
        if (!s) s = p->kind == MB_GATE ? bench_random_tensor(ctx, 3, sx, -1.0f, 1.0f, 3, &st->y)
                                       : evk_tensor_alloc(ctx, EVK_DTYPE_F32, 3, sx, &st->o);
        break;
    case MB_RMS:
        s = bench_random_tensor(ctx, 2, sr, -1.0f, 1.0f, 1, &st->x);
        if (!s) s = bench_random_tensor(ctx, 1, sg, 0.5f, 1.5f, 2, &st->e);
        if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, sr, &st->o);
        break;
    case MB_UNPATCHIFY:
        s = bench_random_tensor(ctx, 3, su, -1.0f, 1.0f, 1, &st->x);
        if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sl, &st->o);
        break;
    }
    if (s) {
        bench_mb_teardown(ctx, st);
        return s;
    }
    *state = st;
    return EVK_OK;
}

static evk_status bench_mb_record(evk_stream *s, void *state) {
    mb_state *st = state;
    switch (st->kind) {
    case MB_MODULATE: return evk_op_modulate(s, &st->x, &st->e, 1, 0, &st->o);
    case MB_GATE: return evk_op_gate_add(s, &st->x, &st->y, &st->e, 2);
    case MB_RMS: return evk_op_rms_norm(s, &st->x, &st->e, 1e-6f, &st->o);
    case MB_UNPATCHIFY: return evk_op_unpatchify(s, &st->x, 64, 64, 2, &st->o);
    }
    return evk_fail(EVK_ERROR_INTERNAL, "bench mmdit: unknown case");
}

static const mb_params mb_modulate = {MB_MODULATE}, mb_gate = {MB_GATE}, mb_rms = {MB_RMS}, mb_unpatchify = {MB_UNPATCHIFY};

static const bench_case mmdit_cases[] = {
    {"modulate", "1x4096x1536 (1+scale)+shift, K6", "f32", 0, 2.0 * 4 * MB_L * MB_D, &mb_modulate, bench_mb_setup,
     bench_mb_record, bench_mb_teardown},
    {"modulate", "gate h += g*y 1x4096x1536", "f32", 0, 3.0 * 4 * MB_L * MB_D, &mb_gate, bench_mb_setup, bench_mb_record,
     bench_mb_teardown},
    {"rms_norm", "98304x64 (4096 tok x 24 heads)", "f32", 0, 2.0 * 4 * MB_L * 24 * MB_HD, &mb_rms, bench_mb_setup,
     bench_mb_record, bench_mb_teardown},
    {"unpatchify", "1x4096x64 -> 1x16x128x128", "f32", 0, 2.0 * 4 * MB_L * 64, &mb_unpatchify, bench_mb_setup,
     bench_mb_record, bench_mb_teardown},
};
BENCH_REGISTER(mmdit_cases)
