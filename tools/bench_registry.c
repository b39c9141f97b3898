/* bench_registry.c — the list of benchmark cases that bench_*.c files register at start-up. */
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
