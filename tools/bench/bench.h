/* bench.h — how a kernel joins `evoke bench`: each tools/bench_*.c file describes cases (kernel,
 * shape, dtype, work per run, and set-up / record / tear-down callbacks) and registers them
 * with BENCH_REGISTER. The runner (cmd_bench.c) times each case with GPU timestamps: warm-up,
 * then at least 10 runs, median and min, GFLOP/s or GB/s, and % of the measured peak. */
#ifndef EVOKE_BENCH_H
#define EVOKE_BENCH_H

#include "core/stream.h"
#include "core/tensor.h"

typedef struct bench_case {
    const char *kernel;  /* family name used by --kernel: "matmul", "conv2d", "attention", ... */
    const char *shape;   /* "1024x1024x1024" */
    const char *dtype;   /* "f32", "f16" */
    double flops;        /* floating-point operations per run (0: bandwidth-bound kernel) */
    double bytes;        /* minimum bytes moved per run (inputs read + outputs written) */
    const void *params;  /* passed to setup: the case's own shape description */
    /* Allocate and initialise inputs (random, never zeros); *state is handed to record/teardown. */
    evk_status (*setup)(evk_context *ctx, const void *params, void **state);
    /* Record exactly one run of the kernel into the stream (already begun). */
    evk_status (*record)(evk_stream *s, void *state);
    void (*teardown)(evk_context *ctx, void *state);
} bench_case;

/* Register cases (called from constructors, before main). The array must outlive the program. */
void bench_register(const bench_case *cases, int count);
/* All registered cases, in registration order. */
const bench_case *bench_cases(int *count);

/* Fill t (f32/f16/bf16) with seeded uniform values in [lo, hi) (never exactly lo). */
evk_status bench_fill_uniform(evk_context *ctx, const evk_tensor *t, float lo, float hi, uint64_t seed);
/* Allocate an f32 tensor of the shape and fill it as bench_fill_uniform does. */
evk_status bench_random_tensor(evk_context *ctx, int ndim, const int64_t *shape, float lo, float hi, uint64_t seed,
                               evk_tensor *out);

/* Register a static array of cases from a bench_*.c file. */
#define BENCH_REGISTER(array)                                                            \
    __attribute__((constructor)) static void bench__register_##array(void) {            \
        bench_register(array, (int)(sizeof(array) / sizeof(array[0])));                \
    }

#endif
