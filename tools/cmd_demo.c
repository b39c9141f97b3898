/* cmd_demo.c — `evoke demo`: the shipped text-to-image model, a handful of prompts, plain
 * sampling vs Best-of-N vs EvoSearch at equal NFE, judged by the learned reward (what the
 * search optimises) and by the independent pixel verifier (what we trust). Writes a labelled
 * image grid, a reward-vs-NFE curve, and report.md / report.json with every run — fixed seeds,
 * all prompts, nothing picked by hand. tools/demo.sh runs it. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "figure.h"
#include "png.h"
#include "reward.h"
#include "sd.h"
#include "search.h"
#include "verifier.h"

static const char *demo_help =
    "usage: evoke demo [options]\n"
    "\n"
    "Run plain sampling, Best-of-N and EvoSearch at equal NFE on the shipped model for every prompt\n"
    "of a prompt file, score the results with the reward and the independent verifier, and write\n"
    "grid.png, curve.png, report.md and report.json into the output folder.\n"
    "\n"
    "  --model DIR      text-to-image folder (default assets/tiny-sd)\n"
    "  --reward FILE    reward the searches maximise (default assets/tiny-clip-reward.json)\n"
    "  --prompts FILE   one prompt per line (default assets/prompts/demo.txt)\n"
    "  --nfe N          budget of each search (default 160); the curve also runs N/2\n"
    "  --steps T        denoising steps (default 8)\n"
    "  --cfg W          guidance scale (default 2)\n"
    "  --seed S         seed of every run (default 0)\n"
    "  --out DIR        output folder (default out/demo)\n"
    "  --device N       Vulkan device index\n"
    "  -h, --help       this text\n";

static const char *cmd = "demo";

#define DEMO_MAX_PROMPTS 16
enum { M_SAMPLE, M_BON, M_EVO, M_COUNT };
static const char *method_names[M_COUNT] = {"sample", "bon", "evo"};
static const char *method_titles[M_COUNT] = {"plain sampling", "Best-of-N", "EvoSearch"};

typedef struct run_result {
    double reward, seconds;
    uint64_t nfe;
    bool pass;
    uint8_t *rgb; /* the best image */
} run_result;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A bar redrawn in place on a terminal; one line per update in logs. */
static void progress_bar(int done, int total, const char *what) {
    int width = 30, fill = total ? done * width / total : width;
    fprintf(stderr, isatty(2) ? "\r[" : "[");
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %d/%d %-60.60s", done, total, what);
    if (done == total || !isatty(2)) fputc('\n', stderr);
    fflush(stderr);
}

static int read_prompts(const char *path, char prompts[][256], int *count) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "evoke demo: cannot open %s: %s\n", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    char line[512];
    *count = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        if (*count == DEMO_MAX_PROMPTS) break;
        snprintf(prompts[(*count)++], 256, "%.255s", line);
    }
    fclose(f);
    if (!*count) {
        fprintf(stderr, "evoke demo: %s has no prompts\n", path);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* One search; fills r (image, reward, verifier verdict). */
static evk_status run_one(evk_context *ctx, evk_sd *sd, const char *reward_path, const char *prompt, const evk_tensor *cond,
                          const evk_tensor *uncond, int method, uint64_t nfe, uint32_t steps, float cfg, uint64_t seed,
                          run_result *r) {
    uint32_t w, h;
    evk_sd_image_size(sd, &w, &h, NULL);
    evk_reward_options ro = {.prompt = prompt, .image_height = h, .image_width = w};
    evk_reward *reward = NULL;
    evk_sampler *sampler = NULL;
    evk_search_result *res = NULL;
    evk_sampler_config smc;
    evk_search_config sc = {.seed = seed, .guidance = cfg, .cond = cond, .uncond = cfg > 0 ? uncond : NULL};
    if (method == M_SAMPLE) sc.method = EVK_SEARCH_SAMPLE, sc.n = 1;
    else sc.method = method == M_BON ? EVK_SEARCH_BON : EVK_SEARCH_EVO, sc.nfe = nfe;
    double t0 = now_s();
    evk_status st = evk_reward_load_with(ctx, reward_path, &ro, &reward);
    if (!st) st = evk_sd_sampler_config(sd, EVK_SAMPLER_DDIM, steps, 1.0, &smc);
    if (!st) st = evk_sampler_create(&smc, &sampler);
    if (!st) st = evk_search_run(ctx, evk_sd_model(sd), sampler, reward, &sc, &res);
    if (!st) {
        r->seconds = now_s() - t0;
        r->reward = res->best_reward;
        r->nfe = res->nfe;
        r->rgb = malloc((size_t)w * h * 3);
        if (!r->rgb) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    float *img = st ? NULL : malloc((size_t)w * h * 3 * sizeof *img);
    if (!st && !img) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!st) st = evk_sd_decode_host(sd, res->best_sample, 1, img);
    if (!st) st = evk_image_f32_to_rgb8(img, w, h, EVK_PIXELS_CHW, 0.0f, 1.0f, r->rgb);
    free(img);
    verifier_result vr;
    if (!st) st = verifier_check_image(r->rgb, w, h, prompt, &vr);
    if (!st) r->pass = vr.ok;
    evk_search_result_free(res);
    evk_sampler_destroy(sampler);
    evk_reward_destroy(reward);
    return st;
}

static evk_status write_text(const char *path, const char *text) {
    return evk_file_write_atomic(path, text, strlen(text));
}

int cmd_demo(int argc, char **argv) {
    enum { O_MODEL = 256, O_REWARD, O_PROMPTS, O_NFE, O_STEPS, O_CFG, O_SEED, O_OUT, O_DEVICE };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL}, {"reward", required_argument, 0, O_REWARD}, {"prompts", required_argument, 0, O_PROMPTS},
        {"nfe", required_argument, 0, O_NFE}, {"steps", required_argument, 0, O_STEPS}, {"cfg", required_argument, 0, O_CFG},
        {"seed", required_argument, 0, O_SEED}, {"out", required_argument, 0, O_OUT}, {"device", required_argument, 0, O_DEVICE},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model_path = "assets/tiny-sd", *reward_path = "assets/tiny-clip-reward.json", *prompts_path = "assets/prompts/demo.txt",
               *out_dir = "out/demo";
    uint32_t nfe = 160, steps = 8, seed = 0, device = 0;
    double cfg = 2;
    bool have_device = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(demo_help, stdout); return CLI_EXIT_OK;
        case O_MODEL: model_path = optarg; break;
        case O_REWARD: reward_path = optarg; break;
        case O_PROMPTS: prompts_path = optarg; break;
        case O_OUT: out_dir = optarg; break;
        case O_NFE: if (!cli_parse_u32(cmd, "--nfe", optarg, &nfe) || !nfe) return cli_usage_error(cmd, "--nfe must be a positive integer"); break;
        case O_STEPS: if (!cli_parse_u32(cmd, "--steps", optarg, &steps) || !steps) return cli_usage_error(cmd, "--steps must be a positive integer"); break;
        case O_SEED: if (!cli_parse_u32(cmd, "--seed", optarg, &seed)) return CLI_EXIT_USAGE; break;
        case O_CFG:
            if (!cli_parse_double(cmd, "--cfg", optarg, &cfg)) return CLI_EXIT_USAGE;
            if (cfg < 0) return cli_usage_error(cmd, "--cfg must be >= 0");
            break;
        case O_DEVICE: if (!cli_parse_u32(cmd, "--device", optarg, &device)) return CLI_EXIT_USAGE; have_device = true; break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (cfg == 1) cfg = 0; /* guidance 1 is the conditional model alone: one call */
    char prompts[DEMO_MAX_PROMPTS][256];
    int np;
    int rc = read_prompts(prompts_path, prompts, &np);
    if (rc) return rc;
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "evoke demo: cannot create %s: %s\n", out_dir, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    /* every prompt is parsed by the verifier before any work: a prompt outside its grammar is bad input */
    for (int p = 0; p < np; p++) {
        verifier_caption vc;
        evk_status st = verifier_parse(prompts[p], &vc);
        if (st) return cli_report(evk_fail_context(st, "%s, prompt %d", prompts_path, p + 1));
    }

    evk_context_config cc = {.pick_device = have_device, .device_index = device};
    evk_context *ctx = NULL;
    evk_sd *sd = NULL;
    evk_status st = evk_context_create(&cc, &ctx);
    if (!st) st = evk_sd_load(ctx, model_path, NULL, &sd);
    if (st) {
        rc = cli_report(st);
        evk_sd_destroy(sd);
        evk_context_destroy(ctx);
        return rc;
    }
    uint32_t w, h;
    evk_sd_image_size(sd, &w, &h, NULL);
    printf("evoke demo: %s on %s, %d prompts, %u steps, guidance %g, budget %u NFE per search\n", model_path,
           evk_context_device(ctx)->name, np, steps, cfg, nfe);
    /* runs: sample, bon and evo at the full budget (the grid), bon and evo at half (the curve) */
    static run_result full[DEMO_MAX_PROMPTS][M_COUNT], half[DEMO_MAX_PROMPTS][M_COUNT];
    memset(full, 0, sizeof full);
    memset(half, 0, sizeof half);
    int total = np * 5, done = 0;
    double t_start = now_s();
    for (int p = 0; p < np && !st; p++) {
        evk_tensor cond, uncond;
        memset(&uncond, 0, sizeof uncond);
        st = evk_sd_encode_prompt(sd, prompts[p], &cond, NULL);
        if (!st && cfg > 0) st = evk_sd_encode_prompt(sd, "", &uncond, NULL);
        for (int m = 0; m < M_COUNT && !st; m++) {
            char what[128];
            snprintf(what, sizeof what, "%s: \"%s\"", method_titles[m], prompts[p]);
            progress_bar(done, total, what);
            st = run_one(ctx, sd, reward_path, prompts[p], &cond, &uncond, m, nfe, steps, (float)cfg, seed, &full[p][m]);
            done++;
            if (!st && m != M_SAMPLE) {
                progress_bar(done, total, what);
                st = run_one(ctx, sd, reward_path, prompts[p], &cond, &uncond, m, nfe / 2, steps, (float)cfg, seed, &half[p][m]);
                done++;
            }
        }
        evk_tensor_free(ctx, &cond);
        evk_tensor_free(ctx, &uncond);
    }
    if (!st) progress_bar(total, total, "done");
    double elapsed = now_s() - t_start;

    /* report.json and report.md */
    char path[1024];
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model_path);
    cJSON_AddStringToObject(root, "reward", reward_path);
    cJSON_AddStringToObject(root, "device", evk_context_device(ctx)->name);
    cJSON_AddNumberToObject(root, "steps", steps);
    cJSON_AddNumberToObject(root, "guidance", cfg);
    cJSON_AddNumberToObject(root, "seed", seed);
    cJSON_AddNumberToObject(root, "seconds", elapsed);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    size_t md_cap = 65536, md_len = 0;
    char *md = malloc(md_cap);
    if (!md && !st) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
#define MD(...) (md_len += (size_t)snprintf(md + md_len, md_cap - md_len, __VA_ARGS__))
    if (!st) {
        MD("# evoke demo\n\nModel `%s`, reward `%s`, device %s. DDIM (η = 1) with %u steps, guidance %g, seed %u;\n"
           "every search gets the same budget of %u model evaluations (NFE; guidance counts 2). Plain sampling is\n"
           "one trajectory. \"verifier\" is the independent pixel check of the prompt's claims — not the reward.\n\n"
           "| prompt | method | NFE | reward | verifier | seconds |\n|---|---|---:|---:|:---:|---:|\n",
           model_path, reward_path, evk_context_device(ctx)->name, steps, cfg, seed, nfe);
        int pass[M_COUNT] = {0};
        double mean[M_COUNT] = {0};
        for (int p = 0; p < np; p++)
            for (int m = 0; m < M_COUNT; m++) {
                run_result *r = &full[p][m];
                MD("| %s | %s | %llu | %.4f | %s | %.1f |\n", prompts[p], method_titles[m], (unsigned long long)r->nfe, r->reward,
                   r->pass ? "pass" : "fail", r->seconds);
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "prompt", prompts[p]);
                cJSON_AddStringToObject(o, "method", method_names[m]);
                cJSON_AddNumberToObject(o, "nfe", (double)r->nfe);
                cJSON_AddNumberToObject(o, "reward", r->reward);
                cJSON_AddBoolToObject(o, "verifier_pass", r->pass);
                cJSON_AddNumberToObject(o, "seconds", r->seconds);
                cJSON_AddItemToArray(arr, o);
                pass[m] += r->pass;
                mean[m] += r->reward / np;
            }
        MD("\n| method | mean reward | verifier passes |\n|---|---:|---:|\n");
        for (int m = 0; m < M_COUNT; m++) MD("| %s | %.4f | %d / %d |\n", method_titles[m], mean[m], pass[m], np);
        MD("\nTotal time %.1f s. Pictures: `grid.png` (rows: prompts, columns: methods, labels: reward and\n"
           "verifier verdict), `curve.png` (mean best reward against NFE).\n", elapsed);
        char *json = cJSON_Print(root);
        snprintf(path, sizeof path, "%s/report.json", out_dir);
        st = json ? write_text(path, json) : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        free(json);
        snprintf(path, sizeof path, "%s/report.md", out_dir);
        if (!st) st = write_text(path, md);
    }
#undef MD
    free(md);
    cJSON_Delete(root);

    /* grid.png: rows = prompts, columns = methods */
    if (!st) {
        const uint8_t *imgs[DEMO_MAX_PROMPTS * M_COUNT];
        const char *labels[DEMO_MAX_PROMPTS * M_COUNT], *rows[DEMO_MAX_PROMPTS];
        static char label_text[DEMO_MAX_PROMPTS * M_COUNT][32];
        for (int p = 0; p < np; p++) {
            rows[p] = prompts[p];
            for (int m = 0; m < M_COUNT; m++) {
                imgs[p * M_COUNT + m] = full[p][m].rgb;
                snprintf(label_text[p * M_COUNT + m], 32, "r=%.3f %s", full[p][m].reward, full[p][m].pass ? "\xe2\x9c\x93" : "\xe2\x9c\x97");
                labels[p * M_COUNT + m] = label_text[p * M_COUNT + m];
            }
        }
        char title[160];
        snprintf(title, sizeof title, "evoke: equal budget of %u NFE per search", nfe);
        figure_grid_desc gd = {.rows = (uint32_t)np, .cols = M_COUNT, .image_width = w, .image_height = h, .images = imgs,
                               .title = title, .row_titles = rows, .col_titles = method_titles, .labels = labels};
        figure_canvas canvas;
        st = figure_grid(&gd, &canvas);
        snprintf(path, sizeof path, "%s/grid.png", out_dir);
        if (!st) {
            st = evk_png_write(path, canvas.rgb, canvas.width, canvas.height, 3, NULL, 0);
            figure_canvas_free(&canvas);
        }
    }
    /* curve.png: mean best reward against NFE */
    if (!st) {
        double xs[M_COUNT][2], ys[M_COUNT][2];
        figure_series series[M_COUNT];
        for (int m = 0; m < M_COUNT; m++) {
            double a = 0, b = 0;
            for (int p = 0; p < np; p++) a += half[p][m].reward / np, b += full[p][m].reward / np;
            xs[m][0] = (double)half[0][m].nfe, ys[m][0] = a;
            xs[m][1] = (double)full[0][m].nfe, ys[m][1] = b;
            series[m] = (figure_series){.name = method_titles[m], .x = m == M_SAMPLE ? xs[m] + 1 : xs[m],
                                        .y = m == M_SAMPLE ? ys[m] + 1 : ys[m], .count = m == M_SAMPLE ? 1 : 2};
        }
        figure_plot_desc pd = {.title = "mean best reward over the prompts", .x_label = "NFE", .y_label = "reward",
                               .series = series, .series_count = M_COUNT, .log_x = true};
        figure_canvas canvas;
        st = figure_plot(&pd, &canvas);
        snprintf(path, sizeof path, "%s/curve.png", out_dir);
        if (!st) {
            st = evk_png_write(path, canvas.rgb, canvas.width, canvas.height, 3, NULL, 0);
            figure_canvas_free(&canvas);
        }
    }
    for (int p = 0; p < np; p++)
        for (int m = 0; m < M_COUNT; m++) free(full[p][m].rgb), free(half[p][m].rgb);
    if (st) rc = cli_report(st);
    else printf("wrote %s/grid.png, %s/curve.png, %s/report.md and %s/report.json (%.1f s)\n", out_dir, out_dir, out_dir, out_dir, elapsed);
    evk_sd_destroy(sd);
    evk_context_destroy(ctx);
    return rc;
}
