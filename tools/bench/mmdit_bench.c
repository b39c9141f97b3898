/* mmdit_bench.c — times one SD3Transformer2DModel (MMDiT / MMDiT-X) call on the device and
 * measures its memory.
 *
 * Loads a diffusers transformer config and its safetensors weights (linear and patch weights in
 * the storage dtype asked for), reads the call's inputs (sample, timestep, encoder_hidden_states,
 * pooled_projections) from a small safetensors file, runs one warm-up call and then `reps` timed calls, and writes
 * the last output as raw little-endian f32 plus a JSON summary: wall time per call (record +
 * submit + wait + download), GPU time per call when the profiler is on, the device memory held
 * by the weights and at the peak of a call, the host peak RSS, and the per-kernel GPU time of
 * the timed calls. Built and run by tools/bench/bench_mmdit.py; not part of the CMake build.
 *   mmdit_bench CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/config.h"
#include "core/context.h"
#include "core/memory.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "models/mmdit/mmdit.h"
#include "formats/weights.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double *c = malloc(sizeof *c * (size_t)n);
    memcpy(c, v, sizeof *c * (size_t)n);
    qsort(c, (size_t)n, sizeof *c, cmp);
    double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

/* Peak resident set of this process in bytes (VmHWM), 0 if unknown. On a CPU driver the
 * device memory is host memory, so this bounds what the run really used. */
static unsigned long long peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024ull;
}

#define CHECK(x)                                                                   \
    do {                                                                           \
        evk_status _s = (x);                                                       \
        if (_s) { fprintf(stderr, "%s: %s\n", #x, evk_error_message()); exit(1); } \
    } while (0)

/* Read an f32 input of exactly `shape` from the inputs file into a new device tensor. */
static evk_tensor input(evk_context *ctx, evk_weights *in, const char *name, int ndim, const int64_t *shape, float **host) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    *host = malloc(sizeof(float) * (size_t)n);
    CHECK(evk_weights_read_f32(in, name, ndim, shape, *host));
    evk_tensor t;
    CHECK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, ndim, shape, &t));
    return t;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32]\n", argv[0]);
        return 2;
    }
    const int reps = argc > 6 ? atoi(argv[6]) : 3;
    const evk_dtype storage = argc > 7 && !strcmp(argv[7], "f32") ? EVK_DTYPE_F32 : EVK_DTYPE_F16;
    if (reps < 1 || reps > 100) { fprintf(stderr, "reps must be 1..100\n"); return 2; }

    evk_context_config cc = {.profile = true};
    evk_context *ctx;
    CHECK(evk_context_create(&cc, &ctx));
    evk_mmdit_config cfg;
    CHECK(evk_mmdit_config_load(argv[1], &cfg));
    /* the latent size comes from the inputs file's sample tensor */
    evk_weights *in;
    CHECK(evk_weights_open(NULL, argv[3], &in));
    int nd;
    int64_t xs[EVK_ST_MAX_DIMS], cs[EVK_ST_MAX_DIMS];
    CHECK(evk_weights_shape(in, "sample", &nd, xs));
    if (nd != 4) { fprintf(stderr, "sample must be [B, C, H, W]\n"); return 2; }
    CHECK(evk_weights_shape(in, "encoder_hidden_states", &nd, cs));
    if (nd != 3) { fprintf(stderr, "encoder_hidden_states must be [B, L, D]\n"); return 2; }

    double t0 = now_ms();
    evk_weights *ws;
    CHECK(evk_weights_open(ctx, argv[2], &ws));
    evk_mmdit *u;
    CHECK(evk_mmdit_load(ctx, &cfg, ws, storage, (int)xs[2], (int)xs[3], &u));
    const double load_ms = now_ms() - t0;
    evk_memory_stats st;
    evk_memory_get_stats(ctx, &st);
    const unsigned long long weight_bytes = st.in_use;

    const int64_t ts[1] = {xs[0]}, ps[2] = {xs[0], cfg.pooled_projection_dim};
    const int64_t os[4] = {xs[0], cfg.out_channels, xs[2], xs[3]};
    float *hx, *ht, *hc, *hp;
    evk_tensor tx = input(ctx, in, "sample", 4, xs, &hx), tt = input(ctx, in, "timestep", 1, ts, &ht),
               tc = input(ctx, in, "encoder_hidden_states", 3, cs, &hc), tp = input(ctx, in, "pooled_projections", 2, ps, &hp), out;
    CHECK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, 4, os, &out));
    const size_t on = (size_t)evk_tensor_numel(&out);
    float *ho = malloc(sizeof(float) * on);

    evk_stream *s;
    CHECK(evk_stream_create(ctx, &s));
    evk_memory_reset_peak(ctx);
    double *wall = calloc((size_t)reps + 1, sizeof *wall), *gpu = calloc((size_t)reps + 1, sizeof *gpu);
    uint32_t dispatches = 0, barriers = 0;
    for (int i = 0; i <= reps; i++) {
        if (i == 1) evk_profile_reset(ctx); /* the breakdown covers the timed calls only */
        const double c0 = now_ms();
        CHECK(evk_tensor_upload_f32(ctx, &tx, hx));
        CHECK(evk_tensor_upload_f32(ctx, &tt, ht));
        CHECK(evk_tensor_upload_f32(ctx, &tc, hc));
        CHECK(evk_tensor_upload_f32(ctx, &tp, hp));
        CHECK(evk_stream_begin(s));
        CHECK(evk_mmdit_forward(u, s, &tx, &tt, &tc, &tp, &out));
        dispatches = evk_stream_dispatch_count(s);
        barriers = evk_stream_barrier_count(s);
        CHECK(evk_stream_run(s));
        CHECK(evk_tensor_download_f32(ctx, &out, ho));
        wall[i] = now_ms() - c0;
        gpu[i] = evk_stream_gpu_ms(s);
        fprintf(stderr, "mmdit_bench: call %d%s: %.0f ms wall, %.0f ms GPU\n", i, i ? "" : " (warm-up)", wall[i], gpu[i]);
    }
    evk_memory_get_stats(ctx, &st);

    FILE *fo = fopen(argv[4], "wb");
    if (!fo || fwrite(ho, sizeof(float), on, fo) != on) { fprintf(stderr, "cannot write %s\n", argv[4]); return 1; }
    fclose(fo);

    FILE *f = fopen(argv[5], "w");
    if (!f) { fprintf(stderr, "cannot write %s\n", argv[5]); return 1; }
    const evk_device_info *dev = evk_context_device(ctx);
    fprintf(f, "{\n  \"device\": \"%s\", \"driver\": \"%s\",\n", dev->name, dev->driver_info);
    fprintf(f, "  \"storage\": \"%s\", \"reps\": %d, \"load_ms\": %.1f,\n", storage == EVK_DTYPE_F16 ? "f16" : "f32", reps, load_ms);
    fprintf(f, "  \"warmup_ms\": %.1f, \"wall_ms\": [", wall[0]);
    for (int i = 1; i <= reps; i++) fprintf(f, "%s%.1f", i > 1 ? ", " : "", wall[i]);
    fprintf(f, "], \"gpu_ms\": [");
    for (int i = 1; i <= reps; i++) fprintf(f, "%s%.1f", i > 1 ? ", " : "", gpu[i]);
    fprintf(f, "],\n  \"wall_ms_median\": %.1f, \"gpu_ms_median\": %.1f,\n", median(wall + 1, reps), median(gpu + 1, reps));
    fprintf(f, "  \"dispatches\": %u, \"barriers\": %u,\n", dispatches, barriers);
    fprintf(f, "  \"weight_bytes\": %llu, \"peak_bytes\": %llu, \"reserved_bytes\": %llu, \"host_peak_rss\": %llu,\n",
            weight_bytes, (unsigned long long)st.peak, (unsigned long long)st.reserved, peak_rss());
    uint32_t nrows = 0;
    const evk_profile_row *rows = evk_profile_rows(ctx, &nrows);
    fprintf(f, "  \"kernels\": [\n");
    for (uint32_t i = 0; i < nrows; i++)
        fprintf(f, "    {\"label\": \"%s\", \"calls\": %llu, \"total_ms\": %.3f}%s\n", rows[i].label,
                (unsigned long long)rows[i].calls, rows[i].total_ms, i + 1 < nrows ? "," : "");
    fprintf(f, "  ]\n}\n");
    fclose(f);

    evk_stream_destroy(s);
    evk_tensor_free(ctx, &tx);
    evk_tensor_free(ctx, &tt);
    evk_tensor_free(ctx, &tc);
    evk_tensor_free(ctx, &tp);
    evk_tensor_free(ctx, &out);
    evk_mmdit_destroy(u);
    evk_weights_close(in);
    evk_weights_close(ws);
    evk_context_destroy(ctx);
    free(hx), free(ht), free(hc), free(hp), free(ho), free(wall), free(gpu);
    return 0;
}
