/* bench_attention.c — `evoke bench` rows for fused attention: SD 2.x self-attention at 64×64
 * latents (L = 4096, 5 heads of 64), its cross-attention to 77 text tokens, temporal attention
 * over 16 frames with one batch entry per pixel (video UNets), SD 1.x's 8 heads of 40, and SD 1.5's
 * 1280-channel level at 512×512 (16×16 latent tokens, 8 heads of 160: self and cross).
 * Work per run: 4·B·H·Lq·Lk·D flops (two matmuls); bytes: q, k, v read once and out written once. */
#include <stdlib.h>

#include "bench.h"
#include "ops/op_attention.h"

typedef struct att_shape { int64_t B, Lq, Lk, H, D; } att_shape;
typedef struct att_state { evk_tensor q, k, v, out; } att_state;

static void bench_att_teardown(evk_context *ctx, void *state) {
    att_state *st = state;
    if (!st) return;
    evk_tensor_free(ctx, &st->q);
    evk_tensor_free(ctx, &st->k);
    evk_tensor_free(ctx, &st->v);
    evk_tensor_free(ctx, &st->out);
    free(st);
}

static evk_status bench_att_setup(evk_context *ctx, const void *params, void **state) {
    const att_shape *p = params;
    att_state *st = calloc(1, sizeof *st);
    if (!st) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "bench attention: state");
    int64_t sq[4] = {p->B, p->Lq, p->H, p->D}, sk[4] = {p->B, p->Lk, p->H, p->D};
    evk_status s = bench_random_tensor(ctx, 4, sq, -1.0f, 1.0f, 1, &st->q);
    if (!s) s = bench_random_tensor(ctx, 4, sk, -1.0f, 1.0f, 2, &st->k);
    if (!s) s = bench_random_tensor(ctx, 4, sk, -1.0f, 1.0f, 3, &st->v);
    if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, sq, &st->out);
    if (s) {
        bench_att_teardown(ctx, st);
        return s;
    }
    *state = st;
    return EVK_OK;
}

static evk_status bench_att_record(evk_stream *s, void *state) {
    att_state *st = state;
    return evk_op_attention(s, &st->q, &st->k, &st->v, &st->out, NULL);
}

static const att_shape att_self_sd2 = {2, 4096, 4096, 5, 64};
static const att_shape att_cross_sd2 = {2, 4096, 77, 5, 64};
static const att_shape att_temporal = {2 * 32 * 32, 16, 16, 5, 64};
static const att_shape att_self_sd1 = {1, 4096, 4096, 8, 40};
static const att_shape att_self_sd15_160 = {2, 256, 256, 8, 160};
static const att_shape att_cross_sd15_160 = {2, 256, 77, 8, 160};

#define ATT_FLOPS(B, Lq, Lk, H, D) (4.0 * (B) * (H) * (double)(Lq) * (Lk) * (D))
#define ATT_BYTES(B, Lq, Lk, H, D) (4.0 * (B) * (H) * (D) * (2.0 * (Lq) + 2.0 * (Lk)))

static const bench_case attention_cases[] = {
    {"attention", "self B2 H5 L4096 D64", "f32", ATT_FLOPS(2, 4096, 4096, 5, 64), ATT_BYTES(2, 4096, 4096, 5, 64),
     &att_self_sd2, bench_att_setup, bench_att_record, bench_att_teardown},
    {"attention", "cross B2 H5 Lq4096 Lk77 D64", "f32", ATT_FLOPS(2, 4096, 77, 5, 64), ATT_BYTES(2, 4096, 77, 5, 64),
     &att_cross_sd2, bench_att_setup, bench_att_record, bench_att_teardown},
    {"attention", "temporal B2048 H5 L16 D64", "f32", ATT_FLOPS(2048, 16, 16, 5, 64), ATT_BYTES(2048, 16, 16, 5, 64),
     &att_temporal, bench_att_setup, bench_att_record, bench_att_teardown},
    {"attention", "self B1 H8 L4096 D40", "f32", ATT_FLOPS(1, 4096, 4096, 8, 40), ATT_BYTES(1, 4096, 4096, 8, 40),
     &att_self_sd1, bench_att_setup, bench_att_record, bench_att_teardown},
    {"attention", "self B2 H8 L256 D160", "f32", ATT_FLOPS(2, 256, 256, 8, 160), ATT_BYTES(2, 256, 256, 8, 160),
     &att_self_sd15_160, bench_att_setup, bench_att_record, bench_att_teardown},
    {"attention", "cross B2 H8 Lq256 Lk77 D160", "f32", ATT_FLOPS(2, 256, 77, 8, 160), ATT_BYTES(2, 256, 77, 8, 160),
     &att_cross_sd15_160, bench_att_setup, bench_att_record, bench_att_teardown},
};
BENCH_REGISTER(attention_cases)
