/* bench_registry.c — the list of benchmark cases that bench_*.c files register at start-up, and
 * the seeded random inputs they set up. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define BENCH_MAX 256
static bench_case registry[BENCH_MAX];
static int registry_count;

void bench_register(const bench_case *cases, int count) {
    for (int i = 0; i < count; i++) {
        if (registry_count == BENCH_MAX) {
            fprintf(stderr, "evoke bench: more than %d cases registered; raise BENCH_MAX\n", BENCH_MAX);
            return;
        }
        registry[registry_count++] = cases[i];
    }
}

const bench_case *bench_cases(int *count) {
    *count = registry_count;
    return registry;
}

evk_status bench_fill_uniform(evk_context *ctx, const evk_tensor *t, float lo, float hi, uint64_t seed) {
    int64_t n = evk_tensor_numel(t);
    float *h = malloc((size_t)n * sizeof *h);
    if (!h) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "bench: out of host memory for %lld values", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = lo + (hi - lo) * (float)((double)((seed >> 11) | 1) / 9007199254740992.0);
    }
    evk_status st = evk_tensor_upload_f32(ctx, t, h);
    free(h);
    return st;
}

evk_status bench_random_tensor(evk_context *ctx, int ndim, const int64_t *shape, float lo, float hi, uint64_t seed,
                               evk_tensor *out) {
    EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, ndim, shape, out));
    return bench_fill_uniform(ctx, out, lo, hi, seed);
}
