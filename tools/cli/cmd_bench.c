/* cmd_bench.c — `evoke bench`: runs the registered benchmark cases (tools/bench_*.c) and prints
 * median and min GPU time, throughput and % of the device's measured peak; `evoke bench peak`
 * measures only the peak (FMA-chain arithmetic and buffer-copy bandwidth). Times come from
 * timestamp queries around one submission per run, so host overhead is not counted. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "core/file.h"

static const char *bench_help =
    "usage: evoke bench [peak] [options]\n"
    "\n"
    "Time every registered kernel case (matmul, conv2d, temporal conv, attention, norms, ...) on\n"
    "one device: warm-up runs, then N timed runs; prints kernel, shape, dtype, median and min GPU\n"
    "time (timestamp queries around one submission per run), GFLOP/s or GB/s, and % of the\n"
    "device's peak, which is measured first with dedicated kernels (many independent FMA chains;\n"
    "a large buffer copy). `evoke bench peak` measures and prints only the peak.\n"
    "\n"
    "  --kernel NAME[,NAME...]  only these kernel families (e.g. matmul,conv2d)\n"
    "  --runs N                 timed runs per case (default 10, at least 1)\n"
    "  --quick                  only the small cases, 2 warm-up runs less (seconds on a CPU device)\n"
    "  --json FILE              also write every figure to FILE as JSON (atomically)\n"
    "  --device N               run on device N (see `evoke devices`)\n"
    "  -h, --help               this text\n";

/* Cases above these sizes are skipped by --quick. */
#define QUICK_MAX_FLOPS 2e9
#define QUICK_MAX_BYTES 128e6

typedef struct bench_result {
    const bench_case *c;
    double median_ms, min_ms, gflops, gbps, peak_pct;
    int runs;
} bench_result;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool kernel_selected(const char *list, const char *kernel) {
    if (!list) return true;
    size_t n = strlen(kernel);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, kernel, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* Set up, warm up and time one case; the state is torn down whatever happens. */
static evk_status run_case(evk_context *ctx, evk_stream *s, const bench_case *c, int warmup, int runs, bench_result *out) {
    void *state = NULL;
    evk_status st = c->setup(ctx, c->params, &state);
    if (st != EVK_OK) {
        if (state) c->teardown(ctx, state); /* whatever setup allocated before failing */
        return evk_fail_context(st, "setting up %s %s %s: ", c->kernel, c->shape, c->dtype);
    }
    double *ms = calloc((size_t)runs, sizeof *ms);
    if (!ms) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; st == EVK_OK && i < warmup + runs; i++) {
        st = evk_stream_begin(s);
        if (st == EVK_OK) st = c->record(s, state);
        if (st == EVK_OK) st = evk_stream_run(s);
        if (st == EVK_OK && i >= warmup) {
            ms[i - warmup] = evk_stream_gpu_ms(s);
            if (ms[i - warmup] < 0) st = evk_fail(EVK_ERROR_UNSUPPORTED, "the device gave no timestamps for %s", c->kernel);
        }
    }
    if (st == EVK_OK) {
        qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
        out->c = c;
        out->runs = runs;
        out->min_ms = ms[0];
        out->median_ms = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
        double sec = out->median_ms > 0 ? out->median_ms * 1e-3 : 1e-12;
        out->gflops = c->flops / sec / 1e9;
        out->gbps = c->bytes / sec / 1e9;
    } else {
        evk_fail_context(st, "running %s %s %s: ", c->kernel, c->shape, c->dtype);
    }
    free(ms);
    c->teardown(ctx, state);
    return st;
}

static cJSON *device_json(const evk_device_info *d) {
    cJSON *o = cJSON_CreateObject();
    char ver[32];
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "type", evk_device_type_name(d->type));
    cJSON_AddStringToObject(o, "vendor", evk_vendor_name(d->vendor_id));
    cJSON_AddStringToObject(o, "driver", d->driver_name);
    cJSON_AddStringToObject(o, "driver_info", d->driver_info);
    snprintf(ver, sizeof ver, "%u.%u.%u", d->api_version >> 22, (d->api_version >> 12) & 0x3ffu, d->api_version & 0xfffu);
    cJSON_AddStringToObject(o, "vulkan", ver);
    cJSON_AddNumberToObject(o, "index", d->index);
    return o;
}

static int write_json(const char *path, const evk_device_info *dev, double peak_gflops, double peak_gbps, int runs,
                      const bench_result *res, int nres) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "device", device_json(dev));
    cJSON *peak = cJSON_AddObjectToObject(root, "peak");
    cJSON_AddNumberToObject(peak, "gflops", peak_gflops);
    cJSON_AddNumberToObject(peak, "gbps", peak_gbps);
    cJSON_AddStringToObject(root, "timing", "GPU timestamps around one submission per run");
    cJSON_AddNumberToObject(root, "runs", runs);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < nres; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kernel", res[i].c->kernel);
        cJSON_AddStringToObject(o, "shape", res[i].c->shape);
        cJSON_AddStringToObject(o, "dtype", res[i].c->dtype);
        cJSON_AddNumberToObject(o, "median_ms", res[i].median_ms);
        cJSON_AddNumberToObject(o, "min_ms", res[i].min_ms);
        cJSON_AddNumberToObject(o, "gflops", res[i].gflops);
        cJSON_AddNumberToObject(o, "gbps", res[i].gbps);
        cJSON_AddNumberToObject(o, "peak_pct", res[i].peak_pct);
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "evoke bench: out of memory writing JSON\n");
        return CLI_EXIT_FAILURE;
    }
    /* the one atomic writer: readers never see a half-written file, a signal leaves no temporary */
    size_t len = strlen(text);
    text[len] = '\n'; /* cJSON_Print's terminating NUL becomes the final newline */
    evk_status st = evk_file_write_atomic(path, text, len + 1);
    free(text);
    int rc = st ? cli_report(st) : CLI_EXIT_OK;
    return rc;
}

static void print_row(const bench_result *r) {
    char flops[32] = "-", bw[32] = "-", pct[32] = "-";
    if (r->c->flops > 0) snprintf(flops, sizeof flops, "%.2f", r->gflops);
    if (r->c->bytes > 0) snprintf(bw, sizeof bw, "%.2f", r->gbps);
    if (r->peak_pct > 0) snprintf(pct, sizeof pct, "%.1f", r->peak_pct);
    printf("%-16s %-22s %-6s %11.3f %11.3f %10s %9s %7s\n", r->c->kernel, r->c->shape, r->c->dtype, r->median_ms, r->min_ms, flops, bw, pct);
}

int cmd_bench(int argc, char **argv) {
    static const struct option options[] = {
        {"kernel", required_argument, NULL, 'k'}, {"runs", required_argument, NULL, 'r'},
        {"json", required_argument, NULL, 'j'},   {"device", required_argument, NULL, 'd'},
        {"quick", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *kernels = NULL, *json = NULL;
    uint32_t runs = 10, device = 0;
    bool pick = false, quick = false, peak_only = false;
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
        case 'k': kernels = optarg; break;
        case 'j': json = optarg; break;
        case 'q': quick = true; break;
        case 'r':
            if (!cli_parse_u32("bench", "--runs", optarg, 1, &runs)) return CLI_EXIT_USAGE;
            if (runs > 100000) return cli_usage_error("bench", "--runs must be between 1 and 100000");
            break;
        case 'd':
            if (!cli_parse_u32("bench", "--device", optarg, 0, &device)) return CLI_EXIT_USAGE;
            pick = true;
            break;
        case 'h': fputs(bench_help, stdout); return CLI_EXIT_OK;
        case ':': return cli_usage_error("bench", "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    for (; optind < argc; optind++) {
        if (!strcmp(argv[optind], "peak") && !peak_only) peak_only = true;
        else return cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    }
    if (kernels && !*kernels) return cli_usage_error("bench", "--kernel needs at least one name");

    int ncases;
    const bench_case *cases = bench_cases(&ncases);
    if (kernels) {
        /* a name that matches nothing is a typo, not an empty benchmark */
        for (const char *p = kernels; *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            bool found = false;
            for (int i = 0; i < ncases && !found; i++) found = strlen(cases[i].kernel) == len && !strncmp(cases[i].kernel, p, len);
            if (!found) return cli_usage_error("bench", "no benchmark cases for kernel '%.*s'", (int)len, p);
            if (!e) break;
            p = e + 1;
        }
    }

    evk_status st = cli_prepare_output("--json", json, false);
    if (st != EVK_OK) return cli_report(st);
    evk_context_config config = {.profile = true, .pick_device = pick, .device_index = device};
    evk_context *ctx;
    st = evk_context_create(&config, &ctx);
    if (st != EVK_OK) return cli_report(st);
    const evk_device_info *dev = evk_context_device(ctx);
    if (!dev->features.timestamps) {
        evk_context_destroy(ctx);
        fprintf(stderr, "evoke bench: device %u (%s) has no compute-queue timestamps; cannot time kernels\n", dev->index, dev->name);
        return CLI_EXIT_FAILURE;
    }
    evk_stream *s;
    st = evk_stream_create(ctx, &s);
    if (st != EVK_OK) {
        evk_context_destroy(ctx);
        return cli_report(st);
    }
    bench_result *res = calloc((size_t)ncases, sizeof *res);
    if (!res) {
        evk_stream_destroy(s);
        evk_context_destroy(ctx);
        fprintf(stderr, "evoke bench: out of host memory\n");
        return CLI_EXIT_FAILURE;
    }
    const int warmup = quick ? 1 : 3;
    printf("device %u: %s (%s, %s)\n", dev->index, dev->name, evk_device_type_name(dev->type), dev->driver_info);
    printf("GPU time from timestamp queries, one submission per run; median and min of %u runs after %d warm-up\n", runs, warmup);

    /* the peak first: the % column of every other case is relative to it */
    int nres = 0, rc = CLI_EXIT_OK;
    double peak_gflops = 0, peak_gbps = 0;
    for (int i = 0; i < ncases && rc == CLI_EXIT_OK; i++) {
        if (strcmp(cases[i].kernel, "peak")) continue;
        st = run_case(ctx, s, &cases[i], warmup, (int)(quick && runs > 3 ? 3 : runs), &res[nres]);
        if (st != EVK_OK) { rc = cli_report(st); break; }
        if (res[nres].c->flops > 0 && res[nres].gflops > peak_gflops) peak_gflops = res[nres].gflops;
        if (res[nres].c->flops == 0 && res[nres].gbps > peak_gbps) peak_gbps = res[nres].gbps;
        nres++;
    }
    for (int i = 0; i < nres; i++) res[i].peak_pct = 100.0 * (res[i].c->flops > 0 ? res[i].gflops / peak_gflops : res[i].gbps / peak_gbps);
    if (rc == CLI_EXIT_OK) printf("peak: %.2f GFLOP/s (FMA chains), %.2f GB/s (buffer copy)\n\n", peak_gflops, peak_gbps);
    printf("%-16s %-22s %-6s %11s %11s %10s %9s %7s\n", "kernel", "shape", "dtype", "median_ms", "min_ms", "GFLOP/s", "GB/s", "%peak");
    for (int i = 0; i < nres; i++) print_row(&res[i]);
    fflush(stdout);
    int npeak = nres;
    for (int i = 0; i < ncases && rc == CLI_EXIT_OK && !peak_only; i++) {
        const bench_case *c = &cases[i];
        if (!strcmp(c->kernel, "peak") || !kernel_selected(kernels, c->kernel)) continue;
        if (quick && (c->flops > QUICK_MAX_FLOPS || c->bytes > QUICK_MAX_BYTES)) continue;
        st = run_case(ctx, s, c, warmup, (int)runs, &res[nres]);
        if (st != EVK_OK) { rc = cli_report(st); break; }
        bench_result *r = &res[nres++];
        if (c->flops > 0 && peak_gflops > 0) r->peak_pct = 100.0 * r->gflops / peak_gflops;
        else if (c->flops == 0 && peak_gbps > 0) r->peak_pct = 100.0 * r->gbps / peak_gbps;
        print_row(r);
        fflush(stdout);
    }
    if (rc == CLI_EXIT_OK && nres == npeak && !peak_only) printf("(no case selected%s)\n", quick ? " by --quick" : "");
    if (rc == CLI_EXIT_OK && json) rc = write_json(json, dev, peak_gflops, peak_gbps, (int)runs, res, nres);
    free(res);
    evk_stream_destroy(s);
    evk_context_destroy(ctx);
    return rc;
}
