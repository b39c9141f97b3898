/* bench_peak.c — the device's measured peak for `evoke bench`: multiply-add throughput with many
 * independent chains (like vkpeak) and large-buffer copy bandwidth, read both through storage
 * buffers and through texel buffers. The runner takes the best of each kind as the 100 % mark. */
#include <stdlib.h>

#include "bench.h"
#include "ops/op_fill.h"
#include "ops/ops_internal.h"

enum { PEAK_LOCAL = 64, PEAK_CHAINS = 12 };

typedef struct peak_params {
    int kind; /* 0 fma, 1 copy via storage, 2 copy via texel */
    uint32_t groups, iters;
    uint64_t bytes;
} peak_params;

typedef struct peak_state {
    const peak_params *p;
    evk_buffer a, b;
} peak_state;

static evk_status peak_setup(evk_context *ctx, const void *params, void **state) {
    const peak_params *p = params;
    peak_state *st = calloc(1, sizeof *st);
    if (!st) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    st->p = p;
    *state = st;
    uint64_t out_bytes = p->kind == 0 ? (uint64_t)p->groups * PEAK_LOCAL * 4 : p->bytes;
    EVK_TRY(evk_buffer_alloc(ctx, out_bytes, &st->a));
    if (p->kind != 0) {
        EVK_TRY(evk_buffer_alloc(ctx, p->bytes, &st->b));
        /* give the source real values (the copy does not care, but never read garbage) */
        evk_stream *s;
        EVK_TRY(evk_stream_create(ctx, &s));
        evk_status r = evk_stream_begin(s);
        if (r == EVK_OK) r = evk_op_fill_ramp(s, &st->b, 0, p->bytes / 4, 1.0f, 1e-6f);
        if (r == EVK_OK) r = evk_stream_run(s);
        evk_stream_destroy(s);
        return r;
    }
    return EVK_OK;
}

static evk_status peak_record(evk_stream *s, void *state) {
    peak_state *st = state;
    const peak_params *p = st->p;
    evk_context *ctx = evk_stream_context(s);
    evk_pipeline *pipe;
    if (p->kind == 0) {
        evk_pipeline_desc d = {.shader = "peak_fma", .binding_count = 1, .push_size = 12, .spec_count = 1, .spec = {PEAK_LOCAL}};
        EVK_TRY(evk_pipeline_get(ctx, &d, &pipe));
        struct { uint32_t iters; float a, b; } push = {p->iters, 0.999f, 1e-4f};
        evk_binding b = {.buffer = st->a, .access = EVK_ACCESS_WRITE};
        evk_dispatch dd = {.pipeline = pipe, .bindings = &b, .binding_count = 1, .push = &push, .push_size = sizeof push,
                           .groups = {p->groups, 1, 1}, .label = "peak_fma"};
        return evk_stream_dispatch(s, &dd);
    }
    evk_pipeline_desc d = {.shader = p->kind == 1 ? "peak_copy_storage" : "peak_copy_texel", .binding_count = 2, .push_size = 4,
                           .spec_count = 1, .spec = {PEAK_LOCAL}};
    if (p->kind == 2) d.kinds[0] = EVK_BINDING_TEXEL_RGBA32F;
    EVK_TRY(evk_pipeline_get(ctx, &d, &pipe));
    uint32_t count = (uint32_t)(p->bytes / 16);
    evk_binding b[2] = {{.buffer = st->b, .access = EVK_ACCESS_READ}, {.buffer = st->a, .access = EVK_ACCESS_WRITE}};
    evk_dispatch dd = {.pipeline = pipe, .bindings = b, .binding_count = 2, .push = &count, .push_size = 4, .label = "peak_copy"};
    evk__grid_1d(count / 16, PEAK_LOCAL, dd.groups); /* 16 texels per invocation (peak_copy.comp) */
    return evk_stream_dispatch(s, &dd);
}

static void peak_teardown(evk_context *ctx, void *state) {
    peak_state *st = state;
    if (!st) return;
    evk_buffer_free(ctx, &st->a);
    evk_buffer_free(ctx, &st->b);
    free(st);
}

/* FMA: 4096 groups of 64 with 12 chains × 1024 steps = 6.4 GFLOP per run (about 0.1 s on one
 * CPU core, well above timer resolution on a GPU). Copy: 64 MiB each way. */
static const peak_params fma_params = {.kind = 0, .groups = 4096, .iters = 1024};
static const peak_params copy_storage_params = {.kind = 1, .bytes = 64ull << 20};
static const peak_params copy_texel_params = {.kind = 2, .bytes = 64ull << 20};

static const bench_case peak_cases[] = {
    {"peak", "fma-chains", "f32", 4096.0 * PEAK_LOCAL * PEAK_CHAINS * 1024 * 2, 0, &fma_params, peak_setup, peak_record, peak_teardown},
    {"peak", "copy-storage-64MiB", "f32", 0, 2.0 * (64 << 20), &copy_storage_params, peak_setup, peak_record, peak_teardown},
    {"peak", "copy-texel-64MiB", "f32", 0, 2.0 * (64 << 20), &copy_texel_params, peak_setup, peak_record, peak_teardown},
};
BENCH_REGISTER(peak_cases)
