/* runtime_bench.c — measures the runtime's fixed costs: context start-up with a cold and a
 * warm pipeline cache, and the per-dispatch overhead of many tiny dispatches recorded into one
 * submission versus one submission each. Built and run by tools/bench/runtime_bench.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/context.h"
#include "core/memory.h"
#include "ops/op_fill.h"
#include "core/pipeline.h"
#include "core/stream.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define CHECK(x)                                                                   \
    do {                                                                           \
        evk_status _s = (x);                                                       \
        if (_s) { fprintf(stderr, "%s: %s\n", #x, evk_error_message()); exit(1); } \
    } while (0)

/* Context creation plus one pipeline per embedded shader variant that takes the fill layout,
 * and every fill specialization the runtime uses. */
static double startup_ms(const char *cache_dir) {
    double t0 = now_ms();
    evk_context_config cfg = {.cache_dir = cache_dir};
    evk_context *ctx;
    CHECK(evk_context_create(&cfg, &ctx));
    for (uint32_t local = 32; local <= 1024; local *= 2)
        for (uint32_t mode = 0; mode < 2; mode++) {
            evk_pipeline_desc d = {.shader = "fill", .binding_count = 1, .push_size = 16, .spec_count = 2, .spec = {local, mode}};
            evk_pipeline *p;
            CHECK(evk_pipeline_get(ctx, &d, &p));
        }
    double t1 = now_ms();
    evk_context_destroy(ctx);
    return t1 - t0;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1) reps = 1;
    char dir[] = "/tmp/evoke-startup-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    double cold[64], warm[64];
    for (int r = 0; r < reps && r < 64; r++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -f %s/*.bin", dir);
        if (system(cmd) != 0) return 1;
        cold[r] = startup_ms(dir);
        warm[r] = startup_ms(dir);
    }
    printf("startup (context + 12 pipelines): cold cache %.1f ms, warm cache %.1f ms (median of %d)\n",
           median(cold, reps), median(warm, reps), reps);

    evk_context_config cfg = {.cache_dir = dir};
    evk_context *ctx;
    CHECK(evk_context_create(&cfg, &ctx));
    printf("device: %s\n", evk_context_device(ctx)->name);
    evk_buffer b;
    const int n = 1000;
    CHECK(evk_buffer_alloc(ctx, (uint64_t)n * 64 * 4, &b));
    evk_stream *s;
    CHECK(evk_stream_create(ctx, &s));
    double batched[64], single[64];
    for (int r = 0; r < reps && r < 64; r++) {
        double t0 = now_ms();
        CHECK(evk_stream_begin(s));
        for (int i = 0; i < n; i++) CHECK(evk_op_fill_bits(s, &b, (uint64_t)i * 64, 64, (uint32_t)i));
        CHECK(evk_stream_run(s));
        batched[r] = (now_ms() - t0) * 1e3 / n;
        t0 = now_ms();
        for (int i = 0; i < n; i++) {
            CHECK(evk_stream_begin(s));
            CHECK(evk_op_fill_bits(s, &b, (uint64_t)i * 64, 64, (uint32_t)i));
            CHECK(evk_stream_run(s));
        }
        single[r] = (now_ms() - t0) * 1e3 / n;
    }
    double mb = median(batched, reps), ms = median(single, reps);
    printf("per-dispatch cost, %d tiny dispatches: %.1f us in one submission, %.1f us with one submission each (%.1fx)\n",
           n, mb, ms, ms / mb);
    evk_stream_destroy(s);
    evk_buffer_free(ctx, &b);
    evk_context_destroy(ctx);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) != 0;
}
