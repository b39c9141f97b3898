/* cmd_generate.c — `evoke generate`: run a search (sample, bon, fk, evo) of a model against a
 * reward at a given NFE and write the JSON report; for text-to-image pipelines (a diffusers
 * folder) also the best image as a PNG with its parameters, and optionally the final population
 * as a grid. Every input is checked before the device is touched where possible; bad input is
 * one line on stderr and exit code 2, and no output is written. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "figure.h"
#include "models/model.h"
#include "formats/png.h"
#include "models/sd/sd.h"
#include "rewards/reward.h"
#include "samplers/sampler.h"
#include "search.h"

static const char *generate_help =
    "usage: evoke generate --model FILE|DIR --reward FILE --method sample|bon|fk|evo --report FILE [options]\n"
    "\n"
    "Search over denoising trajectories of a model for samples a reward likes, and write a JSON\n"
    "report (method, parameters, exact NFE, reward calls, wall time, best reward and sample, the\n"
    "final population with its rewards, and per generation / resampling round: step, population,\n"
    "best / mean / min reward, NFE so far).\n"
    "\n"
    "  --model FILE|DIR       model file (JSON; {\"family\":\"gmm\",...} is the exact Gaussian mixture)\n"
    "                         or a diffusers text-to-image folder (model_index.json, unet/, ...)\n"
    "                         or a single-file SD checkpoint (.safetensors, original key names) with --config\n"
    "  --config DIR           single-file checkpoints: a diffusers folder of the same family supplying the\n"
    "                         configs and tokenizer (its weights are not read)\n"
    "  --reward FILE          reward file (JSON: linear, gaussian_bump, neg_distance, clip_score, sum)\n"
    "  --prompt TEXT          text-to-image: the prompt (also what clip_score rewards score against)\n"
    "  --negative-prompt TEXT text-to-image: the unconditional prompt of guidance (default empty)\n"
    "  --cfg W                text-to-image: guidance scale (default 7.5; 0 or 1: no guidance)\n"
    "  -W, --width N, -H, --height N  image size in pixels (default: the model's)\n"
    "  -o, --output FILE      text-to-image: the best image (PNG with the parameters in text chunks)\n"
    "  --grid FILE            text-to-image: the final population as a PNG grid, labelled by reward\n"
    "  --output-raw FILE      text-to-image: the best image as f32 HWC in [0, 1] (.npy)\n"
    "  --latents FILE         initial noise x_T of the first trajectories (.npy, f32, [N, C, h, w] or\n"
    "                         [C, h, w]) instead of drawing it; with --method sample --n 1 --eta 0 the\n"
    "                         run is deterministic and comparable with a diffusers pipeline\n"
    "  --f16                  keep network weights in f16 (half the memory)\n"
    "  --vae-tile N           latent models: decode in tiles of N latents (large images, less memory)\n"
    "  --method M             sample (N plain samples), bon (Best-of-N), fk (particle sampling),\n"
    "                         evo (EvoSearch)\n"
    "  --steps T              denoising steps (default 50)\n"
    "  --seed S               seed of every random draw (default 0)\n"
    "  --nfe N                budget: sample/bon/fk get N/T individuals, evo scales its population\n"
    "                         schedule to spend at most N model evaluations\n"
    "  --n N                  individuals for sample/bon/fk (default 16; not with --nfe)\n"
    "  --evolution-schedule L steps where evo evolves, e.g. 0,20,30,40 (default: that, scaled to T)\n"
    "  --population-schedule L  population sizes, one more than evolution steps (default 42,26,26,26,30)\n"
    "  --elites E             elites kept unmutated (default 5; 0 for none)\n"
    "  --mutation-rate B      beta of the first-generation mutation sqrt(1-B^2)x + B eps (default 0.2)\n"
    "  --lambda L             fk: potential sharpness (default 10)\n"
    "  --potential P          fk: diff, max or add (default diff)\n"
    "  --sampler S            ddim, ddpm, euler, flow-sde or lcm (default ddim for VP models,\n"
    "                         flow-sde for flow models)\n"
    "  --eta E                DDIM eta (default 1: the stochastic sampler searches need)\n"
    "  --spacing S            DDIM timestep spacing: leading, trailing, linspace (default trailing)\n"
    "  --steps-offset N       DDIM steps_offset (default 0)\n"
    "  --shift S              flow timestep shift (default 1)\n"
    "  --guidance W           classifier-free guidance scale (two model calls per evaluation)\n"
    "  --chunk N              at most N individuals per model call (default: as memory allows)\n"
    "  --report FILE          where to write the JSON report\n"
    "  --progress             one line per generation on stderr: generation, NFE, best reward\n"
    "  --device N             Vulkan device index (see `evoke devices`)\n"
    "  -h, --help             this text\n";

static const char *cmd = "generate";

static bool parse_list(const char *option, const char *text, uint32_t *out, uint32_t max, uint32_t *count) {
    uint32_t n = 0;
    if (!text || !*text) {
        cli_usage_error(cmd, "%s is empty", option);
        return false;
    }
    char *copy = strdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            cli_usage_error(cmd, "%s has more than %u entries", option, max);
            free(copy);
            return false;
        }
        if (!cli_parse_u32(cmd, option, tok, &out[n++])) {
            free(copy);
            return false;
        }
    }
    free(copy);
    if (!n) {
        cli_usage_error(cmd, "%s is empty", option);
        return false;
    }
    *count = n;
    return true;
}

static void on_progress(void *user, const evk_search_progress *p) {
    (void)user;
    fprintf(stderr, "evoke generate: %s generation %u  step %u  population %u  nfe %llu  best %.6g\n", evk_search_method_name(p->method),
            p->generation, p->step, p->population, (unsigned long long)p->nfe, p->best_reward);
}

static bool is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The best image (PNG with the parameters, and optionally raw .npy) and the population grid of a
 * text-to-image search; samples are decoded to [0, 1] RGB [3, H, W] (through the VAE for latent
 * models). */
static evk_status write_images(evk_sd *sd, const evk_search_result *res, uint32_t w, uint32_t h, const char *prompt,
                               const char *negative, uint32_t steps, const char *output, const char *grid, const char *raw) {
    size_t px = (size_t)w * h;
    char params[512];
    snprintf(params, sizeof params,
             "{\"method\":\"%s\",\"seed\":%llu,\"steps\":%u,\"nfe\":%llu,\"guidance\":%g,\"best_reward\":%.6g,\"width\":%u,\"height\":%u}",
             evk_search_method_name(res->config.method), (unsigned long long)res->config.seed, steps, (unsigned long long)res->nfe,
             (double)res->config.guidance, res->best_reward, w, h);
    evk_png_text text[3] = {{EVK_PNG_KEY_PROMPT, prompt}, {"negative_prompt", negative}, {EVK_PNG_KEY_PARAMETERS, params}};
    float *best = malloc(3 * px * sizeof *best);
    if (!best) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_status s = evk_sd_decode_host(sd, res->best_sample, 1, best);
    if (!s && output) s = evk_png_write_f32(output, best, w, h, EVK_PIXELS_CHW, 0.0f, 1.0f, text, 3);
    if (!s && raw) {
        float *hwc = malloc(3 * px * sizeof *hwc);
        if (!hwc) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (size_t i = 0; !s && i < px; i++)
            for (int ch = 0; ch < 3; ch++) hwc[i * 3 + ch] = best[ch * px + i];
        if (!s) s = evk_npy_write_f32(raw, hwc, (const uint64_t[]){h, w, 3}, 3);
        free(hwc);
    }
    free(best);
    if (!s && grid && res->population_size) {
        uint32_t n = res->population_size, cols = n < 8 ? n : 8, rows = (n + cols - 1) / cols;
        uint8_t **imgs = calloc((size_t)rows * cols, sizeof *imgs);
        char **labels = calloc((size_t)rows * cols, sizeof *labels);
        float *pop = malloc((size_t)n * 3 * px * sizeof *pop);
        s = imgs && labels && pop ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (!s) s = evk_sd_decode_host(sd, res->population, n, pop);
        for (uint32_t i = 0; !s && i < n; i++) {
            imgs[i] = malloc(3 * px);
            labels[i] = malloc(32);
            if (!imgs[i] || !labels[i]) { s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"); break; }
            s = evk_image_f32_to_rgb8(pop + (size_t)i * 3 * px, w, h, EVK_PIXELS_CHW, 0.0f, 1.0f, imgs[i]);
            snprintf(labels[i], 32, "r=%.3f", (double)res->population_rewards[i]);
        }
        if (!s) {
            char title[300];
            snprintf(title, sizeof title, "%s: final population (%u), %.200s", evk_search_method_name(res->config.method), n, prompt);
            figure_grid_desc gd = {.rows = rows, .cols = cols, .image_width = w, .image_height = h,
                                   .images = (const uint8_t *const *)imgs, .title = title, .labels = (const char *const *)labels};
            figure_canvas canvas;
            s = figure_grid(&gd, &canvas);
            if (!s) {
                s = evk_png_write(grid, canvas.rgb, canvas.width, canvas.height, 3, text, 3);
                figure_canvas_free(&canvas);
            }
        }
        for (uint32_t i = 0; imgs && labels && i < rows * cols; i++) free(imgs[i]), free(labels[i]);
        free(imgs);
        free(labels);
        free(pop);
    }
    return s;
}

int cmd_generate(int argc, char **argv) {
    enum { O_MODEL = 256, O_REWARD, O_METHOD, O_STEPS, O_SEED, O_NFE, O_N, O_EVO, O_POP, O_ELITES, O_MUT, O_LAMBDA, O_POT, O_SAMPLER,
           O_ETA, O_SPACING, O_OFFSET, O_SHIFT, O_GUIDANCE, O_CHUNK, O_REPORT, O_PROGRESS, O_DEVICE, O_PROMPT, O_NEG, O_CFG,
           O_GRID, O_RAW, O_F16, O_LATENTS, O_CONFIG, O_VAE_TILE };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL}, {"reward", required_argument, 0, O_REWARD}, {"method", required_argument, 0, O_METHOD},
        {"steps", required_argument, 0, O_STEPS}, {"seed", required_argument, 0, O_SEED}, {"nfe", required_argument, 0, O_NFE},
        {"n", required_argument, 0, O_N}, {"evolution-schedule", required_argument, 0, O_EVO},
        {"population-schedule", required_argument, 0, O_POP}, {"elites", required_argument, 0, O_ELITES},
        {"mutation-rate", required_argument, 0, O_MUT}, {"lambda", required_argument, 0, O_LAMBDA},
        {"potential", required_argument, 0, O_POT}, {"sampler", required_argument, 0, O_SAMPLER}, {"eta", required_argument, 0, O_ETA},
        {"spacing", required_argument, 0, O_SPACING}, {"steps-offset", required_argument, 0, O_OFFSET},
        {"shift", required_argument, 0, O_SHIFT}, {"guidance", required_argument, 0, O_GUIDANCE}, {"chunk", required_argument, 0, O_CHUNK},
        {"report", required_argument, 0, O_REPORT}, {"progress", no_argument, 0, O_PROGRESS}, {"device", required_argument, 0, O_DEVICE},
        {"prompt", required_argument, 0, O_PROMPT}, {"negative-prompt", required_argument, 0, O_NEG}, {"cfg", required_argument, 0, O_CFG},
        {"width", required_argument, 0, 'W'}, {"height", required_argument, 0, 'H'}, {"output", required_argument, 0, 'o'},
        {"grid", required_argument, 0, O_GRID}, {"output-raw", required_argument, 0, O_RAW}, {"f16", no_argument, 0, O_F16}, {"latents", required_argument, 0, O_LATENTS}, {"config", required_argument, 0, O_CONFIG}, {"vae-tile", required_argument, 0, O_VAE_TILE},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *prompt = NULL, *negative = "", *output = NULL, *grid = NULL, *raw = NULL, *latents_path = NULL, *config_dir = NULL;
    uint32_t width = 0, height = 0, vae_tile = 0;
    double cfg_scale = 7.5;
    bool have_cfg = false, f16 = false;
    const char *model_path = NULL, *reward_path = NULL, *report_path = NULL, *sampler_name = NULL;
    bool have_method = false, have_eta = false, progress = false, have_device = false;
    uint32_t steps = 50, u, device = 0, offset = 0;
    double d, eta = 1, shift = 1;
    evk_spacing spacing = EVK_SPACING_TRAILING;
    evk_search_config sc = {0};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "hW:H:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(generate_help, stdout); return CLI_EXIT_OK;
        case O_PROMPT: prompt = optarg; break;
        case O_NEG: negative = optarg; break;
        case O_CFG:
            if (!cli_parse_double(cmd, "--cfg", optarg, &cfg_scale)) return CLI_EXIT_USAGE;
            if (cfg_scale < 0) return cli_usage_error(cmd, "--cfg must be >= 0");
            have_cfg = true;
            break;
        case 'W': if (!cli_parse_u32(cmd, "--width", optarg, &width) || !width) return cli_usage_error(cmd, "--width must be a positive integer"); break;
        case 'H': if (!cli_parse_u32(cmd, "--height", optarg, &height) || !height) return cli_usage_error(cmd, "--height must be a positive integer"); break;
        case 'o': output = optarg; break;
        case O_GRID: grid = optarg; break;
        case O_RAW: raw = optarg; break;
        case O_F16: f16 = true; break;
        case O_LATENTS: latents_path = optarg; break;
        case O_CONFIG: config_dir = optarg; break;
        case O_VAE_TILE:
            if (!cli_parse_u32(cmd, "--vae-tile", optarg, &vae_tile) || vae_tile < 4)
                return cli_usage_error(cmd, "--vae-tile expects a number of latents >= 4");
            break;
        case O_MODEL: model_path = optarg; break;
        case O_REWARD: reward_path = optarg; break;
        case O_REPORT: report_path = optarg; break;
        case O_METHOD:
            if (!evk_search_method_parse(optarg, &sc.method)) return cli_usage_error(cmd, "unknown method '%s' (sample, bon, fk, evo)", optarg);
            have_method = true;
            break;
        case O_STEPS: if (!cli_parse_u32(cmd, "--steps", optarg, &steps)) return CLI_EXIT_USAGE; break;
        case O_SEED:
            if (!cli_parse_double(cmd, "--seed", optarg, &d) || d < 0 || d != (double)(uint64_t)d)
                return cli_usage_error(cmd, "--seed expects a non-negative integer, got '%s'", optarg);
            sc.seed = (uint64_t)d;
            break;
        case O_NFE:
            if (!cli_parse_double(cmd, "--nfe", optarg, &d) || d < 1 || d != (double)(uint64_t)d)
                return cli_usage_error(cmd, "--nfe expects a positive integer, got '%s'", optarg);
            sc.nfe = (uint64_t)d;
            break;
        case O_N:
            if (!cli_parse_u32(cmd, "--n", optarg, &sc.n)) return CLI_EXIT_USAGE;
            if (!sc.n) return cli_usage_error(cmd, "--n must be at least 1");
            break;
        case O_EVO:
            if (!parse_list("--evolution-schedule", optarg, sc.evolution_schedule, EVK_SEARCH_MAX_GENERATIONS, &sc.evolution_count)) return CLI_EXIT_USAGE;
            break;
        case O_POP:
            if (!parse_list("--population-schedule", optarg, sc.population_schedule, EVK_SEARCH_MAX_GENERATIONS + 1, &sc.population_count))
                return CLI_EXIT_USAGE;
            break;
        case O_ELITES:
            if (!cli_parse_u32(cmd, "--elites", optarg, &u)) return CLI_EXIT_USAGE;
            sc.elites = u ? u : EVK_ELITES_NONE;
            break;
        case O_MUT:
            if (!cli_parse_double(cmd, "--mutation-rate", optarg, &d)) return CLI_EXIT_USAGE;
            if (!(d > 0 && d <= 1)) return cli_usage_error(cmd, "--mutation-rate must be in (0, 1], got %g", d);
            sc.mutation_rate = d;
            break;
        case O_LAMBDA:
            if (!cli_parse_double(cmd, "--lambda", optarg, &d)) return CLI_EXIT_USAGE;
            if (d == 0) return cli_usage_error(cmd, "--lambda must not be 0");
            sc.fk_lambda = d;
            break;
        case O_POT:
            if (!evk_fk_potential_parse(optarg, &sc.fk_potential)) return cli_usage_error(cmd, "unknown potential '%s' (diff, max, add)", optarg);
            break;
        case O_SAMPLER: sampler_name = optarg; break;
        case O_ETA:
            if (!cli_parse_double(cmd, "--eta", optarg, &eta)) return CLI_EXIT_USAGE;
            if (eta < 0) return cli_usage_error(cmd, "--eta must be >= 0");
            have_eta = true;
            break;
        case O_SPACING:
            if (!strcmp(optarg, "leading")) spacing = EVK_SPACING_LEADING;
            else if (!strcmp(optarg, "trailing")) spacing = EVK_SPACING_TRAILING;
            else if (!strcmp(optarg, "linspace")) spacing = EVK_SPACING_LINSPACE;
            else return cli_usage_error(cmd, "unknown spacing '%s' (leading, trailing, linspace)", optarg);
            break;
        case O_OFFSET: if (!cli_parse_u32(cmd, "--steps-offset", optarg, &offset)) return CLI_EXIT_USAGE; break;
        case O_SHIFT:
            if (!cli_parse_double(cmd, "--shift", optarg, &shift)) return CLI_EXIT_USAGE;
            if (!(shift > 0)) return cli_usage_error(cmd, "--shift must be > 0");
            break;
        case O_GUIDANCE:
            if (!cli_parse_double(cmd, "--guidance", optarg, &d)) return CLI_EXIT_USAGE;
            if (d < 0) return cli_usage_error(cmd, "--guidance must be >= 0");
            sc.guidance = (float)d;
            break;
        case O_CHUNK:
            if (!cli_parse_u32(cmd, "--chunk", optarg, &sc.chunk)) return CLI_EXIT_USAGE;
            if (!sc.chunk) return cli_usage_error(cmd, "--chunk must be at least 1");
            break;
        case O_PROGRESS: progress = true; break;
        case O_DEVICE: if (!cli_parse_u32(cmd, "--device", optarg, &device)) return CLI_EXIT_USAGE; have_device = true; break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model_path) return cli_usage_error(cmd, "--model is required");
    if (!reward_path) return cli_usage_error(cmd, "--reward is required");
    if (!have_method) return cli_usage_error(cmd, "--method is required");
    if (!report_path) return cli_usage_error(cmd, "--report is required");
    if (steps < 1) return cli_usage_error(cmd, "--steps must be at least 1");
    if (progress) sc.progress = on_progress;
    size_t ml = strlen(model_path);
    bool t2i = is_directory(model_path) || (ml > 12 && !strcmp(model_path + ml - 12, ".safetensors"));
    if (config_dir && !t2i) return cli_usage_error(cmd, "--config applies to single-file text-to-image checkpoints");
    if (t2i) {
        if (!prompt) return cli_usage_error(cmd, "--prompt is required with a text-to-image model folder");
        if (sc.guidance > 0 && have_cfg) return cli_usage_error(cmd, "give --cfg or --guidance, not both");
        if (sc.guidance > 0) cfg_scale = sc.guidance;
        sc.guidance = cfg_scale == 1.0 ? 0.0f : (float)cfg_scale;
    } else if (prompt || output || grid || raw || width || height || have_cfg || f16) {
        return cli_usage_error(cmd, "--prompt, --cfg, -W/-H, -o, --grid, --output-raw and --f16 need a text-to-image model folder");
    }
    /* the search configuration is checked before any device work */
    evk_search_config resolved;
    evk_status st = evk_search_resolve(&sc, steps, &resolved);
    if (!st) st = cli_prepare_output("--report", report_path, false);
    if (!st) st = cli_prepare_output("-o", output, false);
    if (!st) st = cli_prepare_output("--grid", grid, false);
    if (!st) st = cli_prepare_output("--output-raw", raw, false);
    if (st) return cli_report(st);

    evk_context_config cc = {.pick_device = have_device, .device_index = device};
    evk_context *ctx = NULL;
    evk_model *model = NULL;
    evk_reward *reward = NULL;
    evk_sampler *sampler = NULL;
    evk_search_result *res = NULL;
    int rc = CLI_EXIT_OK;
    evk_sd *sd = NULL;
    evk_tensor cond, uncond;
    memset(&cond, 0, sizeof cond);
    memset(&uncond, 0, sizeof uncond);
    uint32_t img_w = 0, img_h = 0;
    st = evk_context_create(&cc, &ctx);
    if (!st && t2i) {
        evk_sd_options so = {.storage = f16 ? EVK_DTYPE_F16 : EVK_DTYPE_F32, .width = width, .height = height, .config_dir = config_dir,
                             .vae_tile = vae_tile};
        st = evk_sd_load(ctx, model_path, &so, &sd);
        bool truncated = false;
        if (!st) st = evk_sd_encode_prompt(sd, prompt, &cond, &truncated);
        if (!st && truncated) fprintf(stderr, "evoke generate: warning: the prompt was truncated to the model's context\n");
        if (!st && sc.guidance > 0) st = evk_sd_encode_prompt(sd, negative, &uncond, NULL);
        if (!st) {
            model = evk_sd_model(sd);
            evk_sd_image_size(sd, &img_w, &img_h, NULL);
            sc.cond = &cond;
            sc.uncond = sc.guidance > 0 ? &uncond : NULL;
        }
    } else if (!st) {
        st = evk_model_load(ctx, model_path, &model);
    }
    evk_npy latents = {0};
    if (!st && latents_path) {
        int64_t per = evk_model_sample_numel(model);
        st = evk_npy_read_f32(latents_path, &latents);
        if (!st && (latents.count == 0 || latents.count % (uint64_t)per))
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s holds %llu values, not a whole number of samples of %lld values", latents_path,
                          (unsigned long long)latents.count, (long long)per);
        for (uint64_t i = 0; !st && i < latents.count; i++)
            if (!isfinite(latents.data[i])) st = evk_fail(EVK_ERROR_NUMERIC, "%s: value %llu is not finite", latents_path, (unsigned long long)i);
        if (!st) {
            sc.initial_noise = latents.data;
            sc.initial_count = (uint32_t)(latents.count / (uint64_t)per);
        }
    }
    evk_reward_options ro = {.prompt = prompt, .image_height = img_h, .image_width = img_w};
    if (!st) st = evk_reward_load_with(ctx, reward_path, &ro, &reward);
    if (!st && t2i) {
        /* the scheduler config decides the β schedule, prediction, spacing and offsets */
        evk_sampler_kind kind = EVK_SAMPLER_DDIM;
        if (sampler_name && !evk_sampler_kind_parse(sampler_name, &kind))
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "unknown sampler '%s' (ddim, ddpm, lcm)", sampler_name);
        evk_sampler_config smc;
        if (!st) st = evk_sd_sampler_config(sd, kind, steps, kind == EVK_SAMPLER_LCM && !have_eta ? 0 : eta, &smc);
        if (!st) st = evk_sampler_create(&smc, &sampler);
    } else if (!st) {
        const evk_model_info *mi = evk_model_get_info(model);
        evk_sampler_config smc = {.schedule = mi->schedule, .prediction = mi->prediction, .steps = steps, .eta = eta, .spacing = spacing,
                                  .steps_offset = offset, .shift = shift};
        smc.kind = mi->schedule == EVK_SCHEDULE_FLOW ? EVK_SAMPLER_FLOW_SDE : EVK_SAMPLER_DDIM;
        if (sampler_name && !evk_sampler_kind_parse(sampler_name, &smc.kind))
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "unknown sampler '%s' (ddim, ddpm, euler, flow-sde, lcm)", sampler_name);
        else if (!have_eta && smc.kind == EVK_SAMPLER_LCM) smc.eta = 0;
        if (!st) st = evk_sampler_create(&smc, &sampler);
    }
    if (!st) st = evk_search_run(ctx, model, sampler, reward, &sc, &res);
    if (!st) st = evk_search_report_write(res, report_path, model_path, reward_path, sampler);
    if (!st && t2i) st = write_images(sd, res, img_w, img_h, prompt, negative, steps, output, grid, raw);
    if (st) rc = cli_report(st);
    else {
        printf("%s: best reward %.6g, NFE %llu, %llu reward calls, %.3f s (%u submissions for %llu denoising steps)\n",
               evk_search_method_name(res->config.method), res->best_reward, (unsigned long long)res->nfe,
               (unsigned long long)res->reward_calls, res->wall_seconds, res->submissions, (unsigned long long)res->steps_recorded);
    }
    evk_search_result_free(res);
    evk_npy_free(&latents);
    evk_sampler_destroy(sampler);
    evk_reward_destroy(reward);
    if (sd) {
        evk_tensor_free(ctx, &cond);
        evk_tensor_free(ctx, &uncond);
        evk_sd_destroy(sd); /* owns the model */
    } else {
        evk_model_destroy(model);
    }
    evk_context_destroy(ctx);
    return rc;
}
