/* bench_norm.c — `evoke bench` rows for the row kernels and one elementwise op: group norm with
 * fused SiLU over a 320×64×64 feature map (32 groups, the first SD UNet level), layer norm over
 * CLIP-L's 77×768 tokens (×16 prompts), softmax over 8192 rows of 1024, and the time-embedding
 * injection add [2,320,64,64] + [2,320,1,1] plus SiLU. All bandwidth-bound: bytes = inputs read
 * once + outputs written once. */
#include <stdlib.h>

#include "bench.h"
#include "ops/op_elementwise.h"
#include "ops/op_norm.h"

typedef enum { NB_GROUP, NB_LAYER, NB_SOFTMAX, NB_ADD_BCAST, NB_SILU } nb_kind;
typedef struct nb_shape { nb_kind kind; int ndim; int64_t shape[4]; } nb_shape;
typedef struct nb_state { nb_kind kind; evk_tensor x, y, g, b; } nb_state;

static void bench_nb_teardown(evk_context *ctx, void *state) {
    nb_state *st = state;
    if (!st) return;
    evk_tensor_free(ctx, &st->x);
    evk_tensor_free(ctx, &st->y);
    evk_tensor_free(ctx, &st->g);
    evk_tensor_free(ctx, &st->b);
    free(st);
}

static evk_status bench_nb_setup(evk_context *ctx, const void *params, void **state) {
    const nb_shape *p = params;
    nb_state *st = calloc(1, sizeof *st);
    if (!st) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "bench norm: state");
    st->kind = p->kind;
    int64_t vec[1] = {p->kind == NB_GROUP ? p->shape[1] : p->shape[p->ndim - 1]};
    int64_t bshape[4] = {p->shape[0], p->shape[1], 1, 1};
    evk_status s = bench_random_tensor(ctx, p->ndim, p->shape, -1.0f, 1.0f, 1, &st->x);
    if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, p->ndim, p->shape, &st->y);
    if (!s && p->kind == NB_ADD_BCAST) s = bench_random_tensor(ctx, 4, bshape, -1.0f, 1.0f, 2, &st->g);
    if (!s && (p->kind == NB_GROUP || p->kind == NB_LAYER)) s = bench_random_tensor(ctx, 1, vec, -1.0f, 1.0f, 2, &st->g);
    if (!s && (p->kind == NB_GROUP || p->kind == NB_LAYER)) s = bench_random_tensor(ctx, 1, vec, -1.0f, 1.0f, 3, &st->b);
    if (s) {
        bench_nb_teardown(ctx, st);
        return s;
    }
    *state = st;
    return EVK_OK;
}

static evk_status bench_nb_record(evk_stream *s, void *state) {
    nb_state *st = state;
    switch (st->kind) {
    case NB_GROUP: return evk_op_group_norm(s, &st->x, &st->g, &st->b, 32, 1e-5f, true, &st->y);
    case NB_LAYER: return evk_op_layer_norm(s, &st->x, &st->g, &st->b, 1e-5f, &st->y);
    case NB_SOFTMAX: return evk_op_softmax(s, &st->x, &st->y);
    case NB_ADD_BCAST: return evk_op_add(s, &st->x, &st->g, &st->y);
    case NB_SILU: return evk_op_activation(s, EVK_ACT_SILU, &st->x, &st->y);
    }
    return evk_fail(EVK_ERROR_INTERNAL, "bench norm: unknown case");
}

static const nb_shape nb_group = {NB_GROUP, 4, {1, 320, 64, 64}};
static const nb_shape nb_layer = {NB_LAYER, 3, {16, 77, 768, 0}};
static const nb_shape nb_softmax = {NB_SOFTMAX, 2, {8192, 1024, 0, 0}};
static const nb_shape nb_add = {NB_ADD_BCAST, 4, {2, 320, 64, 64}};
static const nb_shape nb_silu = {NB_SILU, 4, {2, 320, 64, 64}};

static const bench_case norm_cases[] = {
    {"group_norm", "1x320x64x64 G32 +silu", "f32", 0, 2.0 * 4 * 320 * 64 * 64, &nb_group, bench_nb_setup,
     bench_nb_record, bench_nb_teardown},
    {"layer_norm", "16x77x768", "f32", 0, 2.0 * 4 * 16 * 77 * 768, &nb_layer, bench_nb_setup, bench_nb_record,
     bench_nb_teardown},
    {"softmax", "8192x1024", "f32", 0, 2.0 * 4 * 8192 * 1024, &nb_softmax, bench_nb_setup, bench_nb_record,
     bench_nb_teardown},
    {"elementwise", "add 2x320x64x64 + 2x320x1x1", "f32", 0, 2.0 * 4 * 2 * 320 * 64 * 64, &nb_add, bench_nb_setup,
     bench_nb_record, bench_nb_teardown},
    {"elementwise", "silu 2x320x64x64", "f32", 0, 2.0 * 4 * 2 * 320 * 64 * 64, &nb_silu, bench_nb_setup,
     bench_nb_record, bench_nb_teardown},
};
BENCH_REGISTER(norm_cases)
