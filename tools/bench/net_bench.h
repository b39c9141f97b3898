/* net_bench.h — what the one-network benchmarks (unet_bench.c, mmdit_bench.c, vc2_bench.c) share:
 * reading a call's inputs from a small safetensors file onto the device, the timing loop (one
 * warm-up call unless no_warmup is set, then `reps` timed calls, each = upload the inputs + record
 * + submit + wait + download), and the outputs: the last result as raw little-endian f32 and a
 * JSON summary (wall and GPU time per call and their medians, dispatches and barriers per call,
 * device memory held by the weights and at the peak of a call, host peak RSS, the per-kernel GPU
 * time of the timed calls).
 * Header-only, included once by each benchmark program; those are compiled by the Python runners
 * (tools/bench/bench_net.py), not by the CMake build. Errors end the program with the evoke
 * message (these are tools run by hand, not library code). The tests' tests/net_fixture.h reads
 * the same kind of file but fails through cmocka, so the benchmarks keep their own reader here. */
#ifndef EVK_NET_BENCH_H
#define EVK_NET_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "core/memory.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "formats/weights.h"

#define NB_CHECK(x)                                                                \
    do {                                                                           \
        evk_status _s = (x);                                                       \
        if (_s) { fprintf(stderr, "%s: %s\n", #x, evk_error_message()); exit(1); } \
    } while (0)

#define NB_MAX_INPUTS 8

typedef struct net_bench {
    const char *name; /* program name for the progress lines */
    evk_context *ctx;
    int reps;
    bool no_warmup;            /* no warm-up call: the first timed call pays the pipelines' first use */
    const char *storage;       /* weight storage, as the summary names it */
    double load_ms;            /* time to open and load the weights */
    unsigned long long weight_bytes;
    evk_tensor in[NB_MAX_INPUTS];
    float *host[NB_MAX_INPUTS];
    int n_in;
    evk_tensor out;
    float *host_out;
    double *wall, *gpu; /* reps + 1 entries: [0] is the warm-up call (-1 when skipped) */
    uint32_t dispatches, barriers;
    evk_memory_stats after;
} net_bench;

static inline double nb_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline int nb__cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double nb_median(const double *v, int n) {
    double *c = malloc(sizeof *c * (size_t)n);
    memcpy(c, v, sizeof *c * (size_t)n);
    qsort(c, (size_t)n, sizeof *c, nb__cmp);
    double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

/* Peak resident set of this process in bytes (VmHWM), 0 if unknown. On a CPU driver the device
 * memory is host memory, so this bounds what the run really used. */
static inline unsigned long long nb_peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024ull;
}

/* A context with the profiler on, and `reps` (argument text, NULL = 3) checked. */
static inline void nb_init(net_bench *b, const char *name, const char *reps_arg, const char *storage) {
    memset(b, 0, sizeof *b);
    b->name = name;
    b->storage = storage;
    b->reps = reps_arg ? atoi(reps_arg) : 3;
    if (b->reps < 1 || b->reps > 100) { fprintf(stderr, "%s: reps must be 1..100\n", name); exit(2); }
    evk_context_config cc = {.profile = true};
    NB_CHECK(evk_context_create(&cc, &b->ctx));
}

/* The shape of an input tensor of the file; exits unless it has `ndim` dimensions. */
static inline void nb_input_shape(evk_weights *in, const char *name, int ndim, int64_t shape[EVK_ST_MAX_DIMS]) {
    int nd;
    NB_CHECK(evk_weights_shape(in, name, &nd, shape));
    if (nd != ndim) { fprintf(stderr, "input '%s' has %d dimensions, expected %d\n", name, nd, ndim); exit(2); }
}

/* Read an f32 input of exactly `shape` from the inputs file into host memory and a new device
 * tensor (uploaded before every call); returns that tensor. */
static inline evk_tensor *nb_input(net_bench *b, evk_weights *in, const char *name, int ndim, const int64_t *shape) {
    if (b->n_in == NB_MAX_INPUTS) { fprintf(stderr, "too many inputs\n"); exit(2); }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    int k = b->n_in++;
    b->host[k] = malloc(sizeof(float) * (size_t)n);
    NB_CHECK(evk_weights_read_f32(in, name, ndim, shape, b->host[k]));
    NB_CHECK(evk_tensor_alloc(b->ctx, EVK_DTYPE_F32, ndim, shape, &b->in[k]));
    return &b->in[k];
}

/* Call after the weights are loaded: the device memory in use now is the weights'. */
static inline void nb_loaded(net_bench *b, double t0) {
    b->load_ms = nb_now_ms() - t0;
    evk_memory_stats st;
    evk_memory_get_stats(b->ctx, &st);
    b->weight_bytes = st.in_use;
}

/* One warm-up call (none with b->no_warmup) then b->reps timed ones: `record` records the
 * network's call into the stream (reading b->in[], writing b->out, allocated by the caller as
 * f32). */
typedef evk_status (*nb_record_fn)(void *user, evk_stream *s);

static inline void nb_run(net_bench *b, nb_record_fn record, void *user) {
    const size_t on = (size_t)evk_tensor_numel(&b->out);
    b->host_out = malloc(sizeof(float) * on);
    evk_stream *s;
    NB_CHECK(evk_stream_create(b->ctx, &s));
    evk_memory_reset_peak(b->ctx);
    b->wall = calloc((size_t)b->reps + 1, sizeof *b->wall);
    b->gpu = calloc((size_t)b->reps + 1, sizeof *b->gpu);
    b->wall[0] = b->gpu[0] = -1.0;
    for (int i = b->no_warmup ? 1 : 0; i <= b->reps; i++) {
        if (i == 1) evk_profile_reset(b->ctx); /* the breakdown covers the timed calls only */
        const double c0 = nb_now_ms();
        for (int k = 0; k < b->n_in; k++) NB_CHECK(evk_tensor_upload_f32(b->ctx, &b->in[k], b->host[k]));
        NB_CHECK(evk_stream_begin(s));
        NB_CHECK(record(user, s));
        b->dispatches = evk_stream_dispatch_count(s);
        b->barriers = evk_stream_barrier_count(s);
        NB_CHECK(evk_stream_run(s));
        NB_CHECK(evk_tensor_download_f32(b->ctx, &b->out, b->host_out));
        b->wall[i] = nb_now_ms() - c0;
        b->gpu[i] = evk_stream_gpu_ms(s);
        fprintf(stderr, "%s: call %d%s: %.0f ms wall, %.0f ms GPU\n", b->name, i, i ? "" : " (warm-up)", b->wall[i], b->gpu[i]);
    }
    evk_memory_get_stats(b->ctx, &b->after);
    evk_stream_destroy(s);
}

/* The last output to `out_path` (raw f32) and the summary to `summary_path`; frees the inputs,
 * output and timings (the caller frees its network, then the context with nb_done). */
static inline void nb_write(net_bench *b, const char *out_path, const char *summary_path) {
    const size_t on = (size_t)evk_tensor_numel(&b->out);
    FILE *fo = fopen(out_path, "wb");
    if (!fo || fwrite(b->host_out, sizeof(float), on, fo) != on) { fprintf(stderr, "cannot write %s\n", out_path); exit(1); }
    fclose(fo);
    FILE *f = fopen(summary_path, "w");
    if (!f) { fprintf(stderr, "cannot write %s\n", summary_path); exit(1); }
    const int reps = b->reps;
    const evk_device_info *dev = evk_context_device(b->ctx);
    fprintf(f, "{\n  \"device\": \"%s\", \"driver\": \"%s\",\n", dev->name, dev->driver_info);
    fprintf(f, "  \"storage\": \"%s\", \"reps\": %d, \"load_ms\": %.1f,\n", b->storage, reps, b->load_ms);
    if (b->no_warmup)
        fprintf(f, "  \"warmup_ms\": null, \"wall_ms\": [");
    else
        fprintf(f, "  \"warmup_ms\": %.1f, \"wall_ms\": [", b->wall[0]);
    for (int i = 1; i <= reps; i++) fprintf(f, "%s%.1f", i > 1 ? ", " : "", b->wall[i]);
    fprintf(f, "], \"gpu_ms\": [");
    for (int i = 1; i <= reps; i++) fprintf(f, "%s%.1f", i > 1 ? ", " : "", b->gpu[i]);
    fprintf(f, "],\n  \"wall_ms_median\": %.1f, \"gpu_ms_median\": %.1f,\n", nb_median(b->wall + 1, reps),
            nb_median(b->gpu + 1, reps));
    fprintf(f, "  \"dispatches\": %u, \"barriers\": %u,\n", b->dispatches, b->barriers);
    fprintf(f, "  \"weight_bytes\": %llu, \"peak_bytes\": %llu, \"reserved_bytes\": %llu, \"host_peak_rss\": %llu,\n",
            b->weight_bytes, (unsigned long long)b->after.peak, (unsigned long long)b->after.reserved, nb_peak_rss());
    uint32_t nrows = 0;
    const evk_profile_row *rows = evk_profile_rows(b->ctx, &nrows);
    fprintf(f, "  \"kernels\": [\n");
    for (uint32_t i = 0; i < nrows; i++)
        fprintf(f, "    {\"label\": \"%s\", \"calls\": %llu, \"total_ms\": %.3f}%s\n", rows[i].label,
                (unsigned long long)rows[i].calls, rows[i].total_ms, i + 1 < nrows ? "," : "");
    fprintf(f, "  ]\n}\n");
    fclose(f);
    for (int k = 0; k < b->n_in; k++) evk_tensor_free(b->ctx, &b->in[k]), free(b->host[k]);
    evk_tensor_free(b->ctx, &b->out);
    free(b->host_out), free(b->wall), free(b->gpu);
    b->n_in = 0;
}

static inline void nb_done(net_bench *b) { evk_context_destroy(b->ctx); }

#endif
