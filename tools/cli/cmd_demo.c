/* cmd_demo.c — `evoke demo`: the shipped text-to-image model, a prompt file, plain sampling vs
 * Best-of-N vs particle sampling vs EvoSearch at equal NFE budgets, judged by the learned reward
 * (what the searches optimise) and by the independent pixel verifier (what we trust). Writes a
 * labelled image grid, reward- and accuracy-vs-NFE curves, and report.md / report.json with
 * every run — fixed seeds, all prompts, nothing picked by hand. tools/demo.sh runs it on a
 * handful of prompts; tools/bench/prompt_bench.sh on the held-out prompt set with several budgets. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"
#include "figure.h"
#include "core/file.h"
#include "formats/png.h"
#include "rewards/reward.h"
#include "models/model.h"
#include "samplers/sampler.h"
#include "search.h"
#include "shard.h"
#include "verifier.h"
#include "video_verifier.h"

static const char *demo_help =
    "usage: evoke demo [options]\n"
    "\n"
    "Run plain sampling and searches at equal NFE budgets on the shipped model for every prompt of\n"
    "a prompt file, score the results with the reward and the independent verifier, and write\n"
    "grid.png, curve.png (reward vs NFE), accuracy.png (verifier passes vs NFE), report.md and\n"
    "report.json into the output folder. Then the video part: for each prompt of\n"
    "assets/prompts/video_demo.txt, the shipped video teacher (50 DDIM steps with guidance) vs its\n"
    "4-step T2V-Turbo student vs EvoSearch over the student (48 NFE), scored by the mixed video reward\n"
    "and the video verifier: video.png, video/*.webp and rows of kind \"video\" in the same report.\n"
    "\n"
    "  --image          the image part only\n"
    "  --video          the video part only; then --model is a folder of video models (default\n"
    "                   assets/tiny-video), --prompts captions of the video grammar (\"a <colour>\n"
    "                   <shape> moving left|right|up|down [and a ...]\"), --nfe EvoSearch's budget over\n"
    "                   the student (default 48), --cfg the guidance (default 7.5)\n"
    "\n"
    "The image part:\n"
    "  --model PATH     a text-to-image model (default assets/tiny-sd)\n"
    "  --reward FILE    reward the searches maximise (default assets/tiny-clip-reward.json)\n"
    "  --prompts FILE   one prompt per line (default assets/prompts/demo.txt)\n"
    "  --methods LIST   from {methods} (default sample,bon,evo)\n"
    "  --budgets LIST   NFE budgets of every search, e.g. 160,800,1600 (default N/6,N/2,N)\n"
    "  --nfe N          the largest budget when --budgets is not given (default 480; at 8 steps\n"
    "                   with guidance EvoSearch is Best-of-N at 80 NFE (below 6 individuals per\n"
    "                   generation), evolves one generation at 240 NFE and four at 480)\n"
    "  --steps T        denoising steps (default 8)\n"
    "  --cfg W          guidance scale (default 2)\n"
    "  --seed S         seed of every run (default 0)\n"
    "  --out DIR        output folder, created if missing (default out/demo)\n"
    "  --device N       Vulkan device index\n"
    "  --devices LIST|all  spread the prompts over these devices (e.g. 0,1 or all; an index may\n"
    "                   repeat), one thread each with its own model; the report is the same as one\n"
    "                   device's\n"
    "\n"
    "Under mpirun / srun the prompts are spread over the ranks (each rank one device: --device, else\n"
    "its rank on the host); rank 0 gathers every run and writes the one report, the same as one\n"
    "process writes.\n"
    "  -h, --help       this text\n";

static const char *cmd = "demo";

#define DEMO_GRID_PROMPTS 12
#define DEMO_MAX_BUDGETS 8
#define DEMO_MAX_DEVICES 16
enum { M_SAMPLE, M_BON, M_FK, M_EVO, M_COUNT };
static const evk_search_method method_ids[M_COUNT] = {EVK_SEARCH_SAMPLE, EVK_SEARCH_BON, EVK_SEARCH_FK, EVK_SEARCH_EVO};

typedef struct run_result {
    double reward, seconds;
    uint64_t nfe;
    bool pass;
    bool single;       /* EvoSearch only: the budget rule left one generation (= Best-of-N) */
    char schedule[64]; /* EvoSearch only: the schedule the budget gave, for the report */
    uint8_t *rgb;      /* the best image */
} run_result;

double demo_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void demo_progress_bar(int done, int total, const char *what) {
    int width = 30, fill = total ? done * width / total : width;
    fprintf(stderr, isatty(2) ? "\r[" : "[");
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %d/%d %-60.60s", done, total, what);
    if (done == total || !isatty(2)) fputc('\n', stderr);
    fflush(stderr);
}

static int read_prompts(const char *path, char (*prompts)[256], int *count) {
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

void demo_schedule_text(const evk_search_config *c, char *out, size_t n, bool *single) {
    size_t len = 0;
    *single = c->evolution_count == 0;
    if (*single) {
        snprintf(out, n, "one generation of %u = Best-of-N", c->population_schedule[0]);
        return;
    }
    len += (size_t)snprintf(out, n, "S ");
    for (uint32_t i = 0; i < c->evolution_count && len < n; i++) len += (size_t)snprintf(out + len, n - len, "%s%u", i ? "," : "", c->evolution_schedule[i]);
    if (len < n) len += (size_t)snprintf(out + len, n - len, ", P ");
    for (uint32_t i = 0; i <= c->evolution_count && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%u", i ? "," : "", c->population_schedule[i]);
    if (len < n) snprintf(out + len, n - len, ", %u elite%s", c->elites, c->elites == 1 ? "" : "s");
}

/* One search; fills r (image, reward, verifier verdict). */
static evk_status run_one(evk_context *ctx, evk_model *model, const char *reward_path, const char *prompt, const evk_tensor *cond,
                          const evk_tensor *uncond, int method, uint64_t nfe, uint32_t steps, float cfg, uint64_t seed,
                          run_result *r) {
    uint32_t w, h;
    evk_model_image_size(model, &w, &h);
    evk_reward_options ro = {.prompt = prompt, .image_height = h, .image_width = w};
    evk_reward *reward = NULL;
    evk_sampler *sampler = NULL;
    evk_search_result *res = NULL;
    evk_sampler_config smc;
    evk_search_config sc = {.seed = seed, .guidance = cfg, .cond = cond, .uncond = cfg > 0 ? uncond : NULL, .method = method_ids[method]};
    if (method == M_SAMPLE) sc.n = 1;
    else sc.nfe = nfe;
    double t0 = demo_now();
    evk_status st = evk_reward_load_with(ctx, reward_path, &ro, &reward);
    if (!st) st = evk_model_sampler_config(model, steps, &smc); /* the model's DDIM, η = 1 */
    if (!st) st = evk_sampler_create(&smc, &sampler);
    if (!st) st = evk_search_run(ctx, model, sampler, reward, &sc, &res);
    if (!st) {
        r->seconds = demo_now() - t0;
        r->reward = res->best_reward;
        r->nfe = res->nfe;
        if (method == M_EVO) demo_schedule_text(&res->config, r->schedule, sizeof r->schedule, &r->single);
        r->rgb = malloc((size_t)w * h * 3);
        if (!r->rgb) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    /* the best image as the search decoded it for its reward */
    if (!st) st = evk_image_f32_to_rgb8(res->best_decoded, w, h, EVK_PIXELS_CHW, 0.0f, 1.0f, r->rgb);
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

static bool parse_u32_list(const char *option, const char *text, uint32_t *out, int max, int *count) {
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", text);
    *count = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*count == max) return cli_usage_error(cmd, "%s has more than %d entries", option, max), false;
        if (!cli_parse_u32(cmd, option, t, 1, &out[*count])) return false;
        (*count)++;
    }
    if (!*count) return cli_usage_error(cmd, "%s is empty", option), false;
    return true;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* A PNG of a canvas, then the canvas freed. */
static evk_status write_canvas(const char *dir, const char *name, evk_status drawn, figure_canvas *canvas) {
    if (drawn) return drawn;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    evk_status st = evk_png_write(path, canvas->rgb, canvas->width, canvas->height, 3, NULL, 0);
    figure_canvas_free(canvas);
    return st;
}

/* A run as it travels from the rank that ran it to rank 0: reward, seconds, NFE, verdict,
 * EvoSearch's schedule, image. */
#define DEMO_RECORD_HEAD 96
static void pack_run(const run_result *r, size_t px, uint8_t *rec) {
    memset(rec, 0, DEMO_RECORD_HEAD + px);
    memcpy(rec, &r->reward, 8), memcpy(rec + 8, &r->seconds, 8), memcpy(rec + 16, &r->nfe, 8);
    rec[24] = r->pass, rec[25] = r->rgb != NULL, rec[26] = r->single;
    memcpy(rec + 32, r->schedule, sizeof r->schedule);
    if (r->rgb) memcpy(rec + DEMO_RECORD_HEAD, r->rgb, px);
}

static evk_status unpack_run(const uint8_t *rec, size_t px, run_result *r) {
    memcpy(&r->reward, rec, 8), memcpy(&r->seconds, rec + 8, 8), memcpy(&r->nfe, rec + 16, 8);
    r->pass = rec[24], r->single = rec[26];
    memcpy(r->schedule, rec + 32, sizeof r->schedule);
    r->schedule[sizeof r->schedule - 1] = 0;
    if (!rec[25]) return EVK_OK;
    if (!(r->rgb = malloc(px))) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    memcpy(r->rgb, rec + DEMO_RECORD_HEAD, px);
    return EVK_OK;
}

/* The part of a demo one rank runs (an MPI rank, or a thread per --devices entry): its device and
 * model, its block of the prompts, every rank's verdict, and its runs gathered to rank 0. */
typedef struct demo_part {
    evk_shard *shard; /* NULL: one process, one device */
    evk_context_config cc;
    const char *model_path, *reward_path;
    char (*prompts)[256];
    const int *methods;
    const uint32_t *budgets;
    int np, nm, nb;
    uint32_t steps;
    double cfg;
    uint64_t seed;
    /* out */
    evk_context *ctx;
    evk_model *model;
    run_result *runs; /* rank 0's: every prompt's once gathered */
    uint32_t w, h;
    double elapsed;
    evk_status st;
} demo_part;

static void *demo_part_run(void *arg) {
    demo_part *a = arg;
    evk_shard *mpi = a->shard;
    const char *model_path = a->model_path, *reward_path = a->reward_path;
    char(*prompts)[256] = a->prompts;
    const int *methods = a->methods, np = a->np, nm = a->nm, nb = a->nb;
    const uint32_t *budgets = a->budgets, steps = a->steps;
    const double cfg = a->cfg;
    const uint64_t seed = a->seed;
    bool writer = evk_shard_rank(mpi) == 0;
    uint32_t pfirst, pcount; /* this rank's prompts */
    evk_shard_range(mpi, (uint32_t)np, &pfirst, &pcount);
    evk_context *ctx = NULL;
    evk_model *model = NULL;
    evk_status st = evk_context_create(&a->cc, &ctx);
    if (!st) st = evk_model_load(ctx, model_path, NULL, &model);
    uint32_t w = 0, h = 0;
    if (!st && (!evk_model_takes_prompt(model) || !evk_model_image_size(model, &w, &h)))
        st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "demo: %s is not a text-to-image model (it needs a prompt and makes images)", model_path);
    /* runs[p][m][b]; plain sampling is one trajectory whatever the budget: only b = 0 */
    run_result *runs = calloc((size_t)np * M_COUNT * DEMO_MAX_BUDGETS, sizeof *runs);
    if (!st && !runs) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
#define RUN(p, m, b) runs[((size_t)(p) * M_COUNT + (size_t)(m)) * DEMO_MAX_BUDGETS + (size_t)(b)]
    if (!st && mpi && writer)
        printf("evoke demo: %u %s, prompts spread over them\n", evk_shard_size(mpi), strcmp(evk_shard_backend(mpi), "mpi") ? "devices" : "ranks");
    if (!st && writer) {
        printf("evoke demo: %s on %s, %d prompts, %u steps, guidance %g, budgets", model_path, evk_context_device(ctx)->name, np,
               steps, cfg);
        for (int b = 0; b < nb; b++) printf("%s%u", b ? "," : " ", budgets[b]);
        printf(" NFE\n");
    }
    int total = 0, done = 0;
    for (int i = 0; i < nm; i++) total += methods[i] == M_SAMPLE ? (int)pcount : (int)pcount * nb;
    double t_start = demo_now();
    for (int p = (int)pfirst; p < (int)(pfirst + pcount) && !st; p++) {
        evk_tensor cond, uncond;
        memset(&uncond, 0, sizeof uncond);
        st = evk_model_encode_prompt(model, prompts[p], &cond, NULL);
        if (!st && cfg > 0) st = evk_model_encode_prompt(model, "", &uncond, NULL);
        for (int i = 0; i < nm && !st; i++) {
            int m = methods[i];
            for (int b = 0; b < (m == M_SAMPLE ? 1 : nb) && !st; b++) {
                char what[128];
                snprintf(what, sizeof what, "%.20s @%u: \"%.90s\"", evk_search_method_title(method_ids[m]), budgets[b], prompts[p]);
                if (writer) demo_progress_bar(done, total, what);
                evk_shard_note("in prompt %d, %s at %u NFE", p + 1, evk_search_method_name(method_ids[m]), budgets[b]);
                st = run_one(ctx, model, reward_path, prompts[p], &cond, &uncond, m, budgets[b], steps, (float)cfg, seed, &RUN(p, m, b));
                done++;
            }
        }
        if (cond.buf.block) evk_tensor_free(ctx, &cond);
        if (uncond.buf.block) evk_tensor_free(ctx, &uncond);
    }
    if (!st && writer) demo_progress_bar(total, total, "done");
    /* several ranks: every rank's verdict, then its prompts' runs to rank 0 */
    st = evk_shard_agree(mpi, st);
    if (!st && mpi && evk_shard_size(mpi) > 1) {
        size_t px = (size_t)w * h * 3, rec = DEMO_RECORD_HEAD + px, per = (size_t)M_COUNT * DEMO_MAX_BUDGETS * rec;
        uint8_t *mine = malloc(pcount ? pcount * per : 1), *all = writer ? malloc((size_t)np * per) : NULL;
        if (!mine || (writer && !all)) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (uint32_t q = 0; !st && q < pcount; q++)
            for (size_t k = 0; k < (size_t)M_COUNT * DEMO_MAX_BUDGETS; k++)
                pack_run(&runs[(size_t)(pfirst + q) * M_COUNT * DEMO_MAX_BUDGETS + k], px, mine + q * per + k * rec);
        if (!st) st = evk_shard_gather(mpi, mine, per, (uint32_t)np, all, true, "gather of the prompts' runs");
        for (int p = 0; !st && writer && p < np; p++) {
            if ((uint32_t)p >= pfirst && (uint32_t)p < pfirst + pcount) continue; /* its own */
            for (size_t k = 0; !st && k < (size_t)M_COUNT * DEMO_MAX_BUDGETS; k++)
                st = unpack_run(all + (size_t)p * per + k * rec, px, &runs[(size_t)p * M_COUNT * DEMO_MAX_BUDGETS + k]);
        }
        free(mine), free(all);
    }
    double elapsed = demo_now() - t_start;
    a->ctx = ctx, a->model = model, a->runs = runs, a->w = w, a->h = h, a->elapsed = elapsed, a->st = st;
    return NULL;
}

static int demo_main(int argc, char **argv, evk_shard *mpi);

/* report.json and report.md from the rows and text, written atomically. */
static evk_status write_report(const char *out_dir, const cJSON *root, const char *md) {
    char path[1024], *json = cJSON_Print(root);
    snprintf(path, sizeof path, "%s/report.json", out_dir);
    evk_status st = json ? write_text(path, json) : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    free(json);
    snprintf(path, sizeof path, "%s/report.md", out_dir);
    if (!st) st = write_text(path, md);
    return st;
}

/* `evoke demo --video`: the video part alone, on one device. */
static int demo_video_only(demo_video_config *v, bool have_device, uint32_t device, const char *prompts_path) {
    struct stat out_st;
    bool made_out = stat(v->out_dir, &out_st) != 0;
    evk_status st = cli_prepare_output("--out", v->out_dir, true);
    if (st) return cli_report(st);
    evk_context_config cc = {.pick_device = have_device, .device_index = device};
    st = evk_context_create(&cc, &v->ctx);
    cJSON *root = cJSON_CreateObject(), *results = root ? cJSON_AddArrayToObject(root, "results") : NULL;
    if (!st && !results) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    char *md = NULL;
    double seconds = 0;
    if (!st) {
        printf("evoke demo --video: %s on %s, %d prompts from %s\n", v->model_dir, evk_context_device(v->ctx)->name, v->prompt_count, prompts_path);
        cJSON_AddStringToObject(root, "model", v->model_dir);
        cJSON_AddStringToObject(root, "prompts", prompts_path);
        cJSON_AddStringToObject(root, "device", evk_context_device(v->ctx)->name);
        st = demo_video_run(v, results, &md, &seconds);
    }
    if (!st) {
        cJSON_AddNumberToObject(root, "seconds", seconds);
        size_t n = strlen(md) + 32;
        char *doc = malloc(n);
        if (!doc) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        else {
            snprintf(doc, n, "# evoke demo\n%s", md);
            st = write_report(v->out_dir, root, doc);
            free(doc);
        }
    }
    free(md);
    cJSON_Delete(root);
    evk_context_destroy(v->ctx);
    if (st) {
        if (made_out) rmdir(v->out_dir);
        return cli_report(st);
    }
    printf("wrote video.png, video/*.webp, report.md and report.json to %s (%.1f s)\n", v->out_dir, seconds);
    return CLI_EXIT_OK;
}

int cmd_demo(int argc, char **argv) {
    evk_shard *mpi = cli_ranks_start();
    return cli_ranks_end(mpi, demo_main(argc, argv, mpi));
}

static int demo_main(int argc, char **argv, evk_shard *mpi) {
    enum { O_MODEL = 256, O_REWARD, O_PROMPTS, O_NFE, O_STEPS, O_CFG, O_SEED, O_OUT, O_DEVICE, O_METHODS, O_BUDGETS, O_DEVICES, O_VIDEO, O_IMAGE };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL}, {"reward", required_argument, 0, O_REWARD}, {"prompts", required_argument, 0, O_PROMPTS},
        {"nfe", required_argument, 0, O_NFE}, {"steps", required_argument, 0, O_STEPS}, {"cfg", required_argument, 0, O_CFG},
        {"seed", required_argument, 0, O_SEED}, {"out", required_argument, 0, O_OUT}, {"device", required_argument, 0, O_DEVICE},
        {"methods", required_argument, 0, O_METHODS}, {"budgets", required_argument, 0, O_BUDGETS},
        {"devices", required_argument, 0, O_DEVICES}, {"video", no_argument, 0, O_VIDEO}, {"image", no_argument, 0, O_IMAGE},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model_path = NULL, *reward_path = NULL, *prompts_path = NULL, *out_dir = "out/demo";
    uint32_t nfe = 480, steps = 8, device = 0, budgets[DEMO_MAX_BUDGETS];
    uint64_t seed = 0;
    int nb = 0;
    bool use[M_COUNT] = {true, true, false, true};
    double cfg = 2;
    bool have_device = false;
    uint32_t devices[DEMO_MAX_DEVICES], ndevices = 0;
    bool video_only = false, image_only = false, have_nfe = false, have_cfg = false, image_options = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_print_help(demo_help); return CLI_EXIT_OK;
        case O_MODEL: model_path = optarg; break;
        case O_REWARD: reward_path = optarg; break;
        case O_PROMPTS: prompts_path = optarg; break;
        case O_OUT: out_dir = optarg; break;
        case O_NFE: if (!cli_parse_u32(cmd, "--nfe", optarg, 1, &nfe)) return CLI_EXIT_USAGE; have_nfe = true; break;
        case O_VIDEO: video_only = true; break;
        case O_IMAGE: image_only = true; break;
        case O_BUDGETS:
            if (!parse_u32_list("--budgets", optarg, budgets, DEMO_MAX_BUDGETS, &nb)) return CLI_EXIT_USAGE;
            image_options = true;
            break;
        case O_METHODS: {
            image_options = true;
            char copy[128], *save = NULL;
            snprintf(copy, sizeof copy, "%s", optarg);
            memset(use, 0, sizeof use);
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int m = 0;
                while (m < M_COUNT && strcmp(t, evk_search_method_name(method_ids[m]))) m++;
                if (m == M_COUNT) return cli_usage_error(cmd, "unknown method '%s' (%s)", t, cli_method_list());
                use[m] = true;
            }
            break;
        }
        case O_STEPS: if (!cli_parse_u32(cmd, "--steps", optarg, 1, &steps)) return CLI_EXIT_USAGE; image_options = true; break;
        case O_SEED: if (!cli_parse_u64(cmd, "--seed", optarg, 0, &seed)) return CLI_EXIT_USAGE; break;
        case O_CFG:
            if (!cli_parse_double(cmd, "--cfg", optarg, &cfg)) return CLI_EXIT_USAGE;
            have_cfg = true;
            if (cfg < 0) return cli_usage_error(cmd, "--cfg must be >= 0");
            break;
        case O_DEVICE: if (!cli_parse_u32(cmd, "--device", optarg, 0, &device)) return CLI_EXIT_USAGE; have_device = true; break;
        case O_DEVICES: {
            image_options = true;
            int drc = cli_parse_devices(cmd, "--devices", optarg, devices, DEMO_MAX_DEVICES, &ndevices);
            if (drc) return drc;
            break;
        }
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (video_only && image_only) return cli_usage_error(cmd, "give --video or --image, not both (neither: both parts)");
    if (video_only && (image_options || reward_path))
        return cli_usage_error(cmd, "--budgets, --methods, --steps, --reward and --devices apply to the image part, not to --video");
    if (video_only && mpi && evk_shard_size(mpi) > 1) return cli_usage_error(cmd, "--video runs in one process, not under mpirun");
    if (ndevices && have_device) return cli_usage_error(cmd, "give --device or --devices, not both");
    if (ndevices && mpi) return cli_usage_error(cmd, "--devices does not apply under mpirun (each rank takes one device: --device)");
    if (cfg == 1) cfg = 0; /* guidance 1 is the conditional model alone: one call */
    /* the shipped defaults are found wherever the demo is run from */
    char default_model[4096], default_reward[4096], default_prompts[4096];
    evk_status pst = EVK_OK;
    /* the video part: with --video, --model (a folder of video models) and --prompts are its own */
    char video_dir[4096] = "", video_prompts_path[4096] = "";
    char(*video_prompts)[256] = NULL;
    int nvp = 0;
    if (!image_only) {
        if (video_only && model_path) snprintf(video_dir, sizeof video_dir, "%s", model_path);
        else if ((pst = cli_asset_path("tiny-video", video_only ? "--model DIR" : "--image (the image part alone)", video_dir, sizeof video_dir)))
            return cli_report(pst);
        if (video_only && prompts_path) snprintf(video_prompts_path, sizeof video_prompts_path, "%s", prompts_path);
        else if ((pst = cli_asset_path("prompts/video_demo.txt", "--prompts FILE", video_prompts_path, sizeof video_prompts_path)))
            return cli_report(pst);
        if (!cli_input_exists(cmd, "--model", video_dir) || !cli_input_exists(cmd, "--prompts", video_prompts_path)) return CLI_EXIT_USAGE;
        if (!(video_prompts = malloc(sizeof(*video_prompts) * DEMO_MAX_PROMPTS)))
            return cli_report(evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
        int vrc = read_prompts(video_prompts_path, video_prompts, &nvp);
        if (vrc) { free(video_prompts); return vrc; }
        for (int p = 0; p < nvp; p++) { /* the video grammar, before any work */
            video_verifier_caption vc;
            evk_status st = video_verifier_parse(video_prompts[p], &vc);
            if (st) { free(video_prompts); return cli_report(evk_fail_context(st, "%s, video prompt %d", video_prompts_path, p + 1)); }
        }
    }
    demo_video_config vcfg = {.model_dir = video_dir, .prompts = video_prompts, .prompt_count = nvp, .seed = seed,
                              .evo_nfe = video_only && have_nfe ? nfe : 0, .guidance = video_only && have_cfg ? (float)cfg : 0, .out_dir = out_dir};
    if (video_only) {
        int vrc = demo_video_only(&vcfg, have_device, device, video_prompts_path);
        free(video_prompts);
        return vrc;
    }
    if (!model_path && !(pst = cli_asset_path("tiny-sd", "--model DIR", default_model, sizeof default_model))) model_path = default_model;
    if (!pst && !reward_path && !(pst = cli_asset_path("tiny-clip-reward.json", "--reward FILE", default_reward, sizeof default_reward)))
        reward_path = default_reward;
    if (!pst && !prompts_path && !(pst = cli_asset_path("prompts/demo.txt", "--prompts FILE", default_prompts, sizeof default_prompts)))
        prompts_path = default_prompts;
    if (pst) { free(video_prompts); return cli_report(pst); }
    if (!cli_input_exists(cmd, "--model", model_path) || !cli_input_exists(cmd, "--reward", reward_path) ||
        !cli_input_exists(cmd, "--prompts", prompts_path)) {
        free(video_prompts);
        return CLI_EXIT_USAGE;
    }
    if (!nb) { /* N/6 (the small end, where EvoSearch is Best-of-N), N/2 and N; the smaller ones
                  only where they pay for a trajectory (N itself is checked by the search) */
        const uint32_t d[3] = {nfe / 6, nfe / 2, nfe}, one = steps * (cfg > 0 ? 2u : 1u);
        for (int i = 0; i < 3; i++)
            if ((i == 2 || d[i] >= one) && (!nb || budgets[nb - 1] != d[i])) budgets[nb++] = d[i];
    }
    qsort(budgets, (size_t)nb, sizeof *budgets, cmp_u32);
    int methods[M_COUNT], nm = 0;
    for (int m = 0; m < M_COUNT; m++)
        if (use[m]) methods[nm++] = m;
    char(*prompts)[256] = malloc(sizeof(*prompts) * DEMO_MAX_PROMPTS);
    if (!prompts) { free(video_prompts); return cli_report(evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory")); }
    int np;
    int rc = read_prompts(prompts_path, prompts, &np);
    if (rc) { free(prompts), free(video_prompts); return rc; }
    /* every prompt is parsed by the verifier before any work: a prompt outside its grammar is bad input */
    for (int p = 0; p < np; p++) {
        verifier_caption vc;
        evk_status st = verifier_parse(prompts[p], &vc);
        if (st) { free(prompts), free(video_prompts); return cli_report(evk_fail_context(st, "%s, prompt %d", prompts_path, p + 1)); }
    }
    struct stat out_st;
    bool made_out = stat(out_dir, &out_st) != 0; /* removed again if the run fails before writing into it */
    bool writer = evk_shard_rank(mpi) == 0;       /* only rank 0 writes */
    evk_status ost = writer ? cli_prepare_output("--out", out_dir, true) : EVK_OK;
    rc = cli_ranks_verdict(mpi, ost ? cli_report(ost) : CLI_EXIT_OK);
    if (rc) { free(prompts), free(video_prompts); return rc; }

    evk_context_config cc = {.pick_device = have_device, .device_index = device};
    if (mpi && !have_device) { /* each rank a device of its host, by its rank there */
        evk_device_info *list = NULL;
        uint32_t n = 0;
        if (!evk_devices_list(&list, &n) && n) cc = (evk_context_config){.pick_device = true, .device_index = evk_shard_local_rank(mpi) % n};
        free(list);
    }
    /* the ranks: this process alone, this MPI rank, or one thread per --devices entry */
    demo_part parts[DEMO_MAX_DEVICES];
    evk_shard *group[DEMO_MAX_DEVICES] = {0};
    uint32_t nparts = ndevices > 1 ? ndevices : 1;
    if (nparts > 1 && (ost = evk_shard_group_create(nparts, group))) { free(prompts), free(video_prompts); return cli_report(ost); }
    for (uint32_t r = 0; r < nparts; r++) {
        parts[r] = (demo_part){.shard = nparts > 1 ? group[r] : mpi, .cc = cc, .model_path = model_path, .reward_path = reward_path,
                               .prompts = prompts, .methods = methods, .budgets = budgets, .np = np, .nm = nm, .nb = nb,
                               .steps = steps, .cfg = cfg, .seed = seed};
        if (ndevices) parts[r].cc = (evk_context_config){.pick_device = true, .device_index = devices[r]};
    }
    pthread_t threads[DEMO_MAX_DEVICES];
    bool started[DEMO_MAX_DEVICES] = {false};
    for (uint32_t r = 1; r < nparts; r++)
        if (!(started[r] = pthread_create(&threads[r], NULL, demo_part_run, &parts[r]) == 0)) { /* its rank never arrives */
            evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "cannot start the thread of device %u", devices[r]);
            evk_shard_fail(group[r], EVK_ERROR_OUT_OF_HOST_MEMORY);
        }
    demo_part_run(&parts[0]);
    for (uint32_t r = 1; r < nparts; r++) {
        if (started[r]) pthread_join(threads[r], NULL);
        for (size_t i = 0; parts[r].runs && i < (size_t)np * M_COUNT * DEMO_MAX_BUDGETS; i++) free(parts[r].runs[i].rgb);
        free(parts[r].runs);
        evk_model_destroy(parts[r].model);
        evk_context_destroy(parts[r].ctx);
    }
    for (uint32_t r = 0; nparts > 1 && r < nparts; r++) evk_shard_destroy(group[r], false);
    evk_context *ctx = parts[0].ctx;
    evk_model *model = parts[0].model;
    run_result *runs = parts[0].runs;
    uint32_t w = parts[0].w, h = parts[0].h;
    double elapsed = parts[0].elapsed;
    evk_status st = parts[0].st;
    if (!st && !writer) { /* the others' part ends here */
        for (size_t i = 0; i < (size_t)np * M_COUNT * DEMO_MAX_BUDGETS; i++) free(runs[i].rgb);
        free(runs), free(prompts), free(video_prompts);
        evk_model_destroy(model);
        evk_context_destroy(ctx);
        return CLI_EXIT_OK;
    }

    /* summaries per method and budget */
    double mean[M_COUNT][DEMO_MAX_BUDGETS] = {{0}}, acc[M_COUNT][DEMO_MAX_BUDGETS] = {{0}}, xnfe[M_COUNT][DEMO_MAX_BUDGETS] = {{0}};
    for (int i = 0; !st && i < nm; i++) {
        int m = methods[i];
        for (int b = 0; b < (m == M_SAMPLE ? 1 : nb); b++)
            for (int p = 0; p < np; p++) {
                mean[m][b] += RUN(p, m, b).reward / np;
                acc[m][b] += (double)RUN(p, m, b).pass / np;
                xnfe[m][b] += (double)RUN(p, m, b).nfe / np;
            }
    }
    int top = nb - 1;
    /* report.json and report.md */
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model_path);
    cJSON_AddStringToObject(root, "reward", reward_path);
    cJSON_AddStringToObject(root, "prompts", prompts_path);
    cJSON_AddStringToObject(root, "device", ctx ? evk_context_device(ctx)->name : "");
    cJSON_AddNumberToObject(root, "steps", steps);
    cJSON_AddNumberToObject(root, "guidance", cfg);
    char seed_text[24]; /* exact: a JSON double would round seeds above 2^53 */
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)seed);
    cJSON_AddRawToObject(root, "seed", seed_text);
    cJSON_AddNumberToObject(root, "seconds", elapsed);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    size_t md_cap = 4096 + (size_t)np * nm * nb * 160, md_len = 0;
    char *md = malloc(md_cap);
    if (!md && !st) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
#define MD(...) (md_len += (size_t)snprintf(md + md_len, md_cap - md_len, __VA_ARGS__))
    if (!st) {
        MD("# evoke demo\n\nModel `%s`, reward `%s`, prompts `%s` (%d), device %s. DDIM (η = 1) with %u steps,\n"
           "guidance %g, seed %llu. Each search gets a budget of model evaluations (NFE; guidance counts 2) and\n"
           "reports what it spent; plain sampling is one trajectory. \"verifier\" is the independent pixel\n"
           "check of the prompt's claims — not the reward the searches maximise.\n\n",
           model_path, reward_path, prompts_path, np, evk_context_device(ctx)->name, steps, cfg, (unsigned long long)seed);
        MD("| method | budget | mean NFE | mean reward | verifier passes |\n|---|---:|---:|---:|---:|\n");
        for (int i = 0; i < nm; i++) {
            int m = methods[i];
            for (int b = 0; b < (m == M_SAMPLE ? 1 : nb); b++)
                MD("| %s | %s%u | %.0f | %.4f | %.0f / %d (%.0f %%) |\n", evk_search_method_title(method_ids[m]), m == M_SAMPLE ? "one trajectory, " : "",
                   m == M_SAMPLE ? (unsigned)(xnfe[m][b] + 0.5) : budgets[b], xnfe[m][b], mean[m][b], acc[m][b] * np, np, 100 * acc[m][b]);
        }
        if (use[M_EVO]) {
            /* the schedule is the budget's, the same for every prompt */
            MD("\nEvoSearch's schedule at each budget (evolution steps S, populations P; below %u individuals per\n"
               "generation nothing is evolved, and the search is Best-of-N with the same trajectories):\n\n",
               EVK_SEARCH_EVO_MIN_POPULATION);
            for (int b = 0; b < nb; b++) MD("- %u NFE: %s\n", budgets[b], RUN(0, M_EVO, b).schedule);
        }
        if (np <= DEMO_GRID_PROMPTS) MD("\n| prompt | method | NFE | reward | verifier | seconds |\n|---|---|---:|---:|:---:|---:|\n");
        for (int p = 0; p < np; p++)
            for (int i = 0; i < nm; i++) {
                int m = methods[i];
                for (int b = 0; b < (m == M_SAMPLE ? 1 : nb); b++) {
                    run_result *r = &RUN(p, m, b);
                    if (np <= DEMO_GRID_PROMPTS && (b == top || m == M_SAMPLE))
                        MD("| %s | %s | %llu | %.4f | %s | %.1f |\n", prompts[p], evk_search_method_title(method_ids[m]), (unsigned long long)r->nfe, r->reward,
                           r->pass ? "pass" : "fail", r->seconds);
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddStringToObject(o, "kind", "image");
                    cJSON_AddStringToObject(o, "prompt", prompts[p]);
                    cJSON_AddStringToObject(o, "method", evk_search_method_name(method_ids[m]));
                    cJSON_AddNumberToObject(o, "budget", m == M_SAMPLE ? (double)r->nfe : budgets[b]);
                    cJSON_AddNumberToObject(o, "nfe", (double)r->nfe);
                    cJSON_AddNumberToObject(o, "reward", r->reward);
                    cJSON_AddBoolToObject(o, "verifier_pass", r->pass);
                    if (m == M_EVO) cJSON_AddStringToObject(o, "schedule", r->schedule);
                    cJSON_AddNumberToObject(o, "seconds", r->seconds);
                    cJSON_AddItemToArray(arr, o);
                }
            }
        MD("\nTotal time %.1f s. Pictures: `grid.png` (rows: prompts, columns: methods at the largest budget,\n"
           "labels: reward and verifier verdict), `curve.png` (mean best reward against NFE), `accuracy.png`\n"
           "(verifier passes against NFE).\n", elapsed);
        if (!image_only) { /* the video part, on rank 0's device: its rows and section join the report */
            char *vmd = NULL;
            double vseconds = 0;
            vcfg.ctx = ctx;
            st = demo_video_run(&vcfg, arr, &vmd, &vseconds);
            char *grown = st ? NULL : realloc(md, md_len + strlen(vmd) + 1);
            if (!st && !grown) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            if (!st) md = grown, memcpy(md + md_len, vmd, strlen(vmd) + 1), md_len += strlen(vmd);
            free(vmd);
        }
        if (!st) st = write_report(out_dir, root, md);
    }
#undef MD
    free(md);
    cJSON_Delete(root);

    /* grid.png: rows = the first prompts, columns = methods at the largest budget */
    if (!st) {
        int gp = np < DEMO_GRID_PROMPTS ? np : DEMO_GRID_PROMPTS;
        const uint8_t *imgs[DEMO_GRID_PROMPTS * M_COUNT];
        const char *labels[DEMO_GRID_PROMPTS * M_COUNT], *rows[DEMO_GRID_PROMPTS], *cols[M_COUNT];
        static char label_text[DEMO_GRID_PROMPTS * M_COUNT][32];
        for (int i = 0; i < nm; i++) cols[i] = evk_search_method_title(method_ids[methods[i]]);
        /* where the budget leaves EvoSearch no generation to evolve, its column says so */
        for (int i = 0; i < nm; i++)
            if (methods[i] == M_EVO && np && RUN(0, M_EVO, top).single) cols[i] = "EvoSearch = Best-of-N";
        for (int p = 0; p < gp; p++) {
            rows[p] = prompts[p];
            for (int i = 0; i < nm; i++) {
                run_result *r = &RUN(p, methods[i], methods[i] == M_SAMPLE ? 0 : top);
                imgs[p * nm + i] = r->rgb;
                snprintf(label_text[p * nm + i], 32, "r=%.3f %s", r->reward, r->pass ? "\xe2\x9c\x93" : "\xe2\x9c\x97");
                labels[p * nm + i] = label_text[p * nm + i];
            }
        }
        char title[160];
        snprintf(title, sizeof title, "evoke: %u NFE per search", budgets[top]);
        figure_grid_desc gd = {.rows = (uint32_t)gp, .cols = (uint32_t)nm, .image_width = w, .image_height = h, .images = imgs,
                               .title = title, .row_titles = rows, .col_titles = cols, .labels = labels};
        figure_canvas canvas;
        st = write_canvas(out_dir, "grid.png", figure_grid(&gd, &canvas), &canvas);
    }
    /* curve.png and accuracy.png: per method, mean over the prompts against the NFE spent */
    for (int which = 0; which < 2 && !st; which++) {
        figure_series series[M_COUNT];
        double ys[M_COUNT][DEMO_MAX_BUDGETS];
        for (int i = 0; i < nm; i++) {
            int m = methods[i], n = m == M_SAMPLE ? 1 : nb;
            for (int b = 0; b < n; b++) ys[m][b] = which ? 100 * acc[m][b] : mean[m][b];
            series[i] = (figure_series){.name = evk_search_method_title(method_ids[m]), .x = xnfe[m], .y = ys[m], .count = (uint32_t)n};
        }
        figure_plot_desc pd = {.title = which ? "verifier passes over the prompts (%)" : "mean best reward over the prompts",
                               .x_label = "NFE", .y_label = which ? "passes %" : "reward", .series = series,
                               .series_count = (uint32_t)nm, .log_x = true};
        figure_canvas canvas;
        st = write_canvas(out_dir, which ? "accuracy.png" : "curve.png", figure_plot(&pd, &canvas), &canvas);
    }
    for (size_t i = 0; runs && i < (size_t)np * M_COUNT * DEMO_MAX_BUDGETS; i++) free(runs[i].rgb);
#undef RUN
    free(runs);
    free(prompts), free(video_prompts);
    if (st) rc = mpi ? cli_rank_report(mpi, st) : cli_report(st);
    if (st && made_out && writer) rmdir(out_dir); /* only if still empty */
    if (!st) printf("wrote grid.png, curve.png, accuracy.png, report.md and report.json to %s (%.1f s)\n", out_dir, elapsed);
    evk_model_destroy(model);
    evk_context_destroy(ctx);
    return rc;
}
