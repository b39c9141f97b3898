/* cmd_generate.c — `evoke generate`: load any model the registry knows, sample it or search its
 * denoising trajectories (sample, bon, fk, evo) against a reward at a given NFE, and write what
 * was asked: the best image as a PNG with its parameters, the final population as a grid, the
 * raw array, the JSON report. Without a reward it samples (one sample unless --n or --nfe asks
 * for more). Everything goes through the model interface (models/model.h): this file names no
 * model family. Bad input is one line on stderr and exit code 2, and nothing is written. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "figure.h"
#include "formats/png.h"
#include "formats/video.h"
#include "models/model.h"
#include "rewards/reward.h"
#include "samplers/sampler.h"
#include "generate.h"
#include "search.h"
#include "shard.h"

/* The reward shipped with the default model: what error messages point a new user to. */
#define SHIPPED_REWARD "assets/tiny-clip-reward.json"

static const char *generate_help =
    "usage: evoke generate --model PATH [--prompt TEXT] [-o FILE] [--reward FILE --method {methods}] [options]\n"
    "\n"
    "Sample a model, or search over its denoising trajectories for samples a reward likes. Without\n"
    "--reward: plain sampling (one sample unless --n or --nfe asks for more), the first sample as\n"
    "the image. With --reward: --method picks the search. Writes what is asked: the image (-o),\n"
    "the final population (--grid), the raw array (--output-raw), and the JSON report (--report:\n"
    "method, parameters, exact NFE, reward calls, wall time, best reward and sample, the final\n"
    "population with its rewards, and per generation / resampling round: step, population,\n"
    "best / mean / min reward, NFE so far; per-stage times: model load, text encoding, each\n"
    "denoising step, decode, reward).\n"
    "\n"
    "  --model PATH           the model (the kinds evoke knows are listed below)\n"
    "  --config DIR           single-file checkpoints whose configs are not built in (SD 1.x / 2.x are):\n"
    "                         a folder of the same model supplying the configs and tokenizer (SD3 / 3.5:\n"
    "                         also the text encoders); VideoCrafter2 / T2V-Turbo checkpoints: the lvdm\n"
    "                         .yaml FILE\n"
    "  --prompt TEXT          models conditioned on text: the prompt (also what clip_score rewards score against)\n"
    "  --negative-prompt TEXT the unconditional prompt of guidance (default empty)\n"
    "  --cfg W, --guidance W  classifier-free guidance scale, two model calls per evaluation (default 7.5\n"
    "                         for text-conditioned models, else none; 0 or 1: no guidance);\n"
    "                         guidance-embedded models (T2V-Turbo): W1,W2,... gives sample k its own w\n"
    "                         (later samples take W1), with --method sample or bon\n"
    "  --motion-guidance S    T2V-Turbo-v2 UNets (motion_cond_proj): motion guidance of scale S while\n"
    "                         the timestep is >= 1000·(1 − P), 0 after (T2V-Turbo-v2's use_motion_cond)\n"
    "  --motion-percentage P  the share of the trajectory motion guidance covers (default 0.3)\n"
    "  -W, --width N, -H, --height N  image (video: frame) size in pixels (default: the model's)\n"
    "  -o, --output FILE      the best image (PNG with the parameters in text chunks); video models: the\n"
    "                         best clip as .webp (animated, lossless), .mp4 (needs the ffmpeg program)\n"
    "                         or .png (its frames side by side), the parameters in the file's metadata\n"
    "  --grid FILE            the final population as a PNG grid, labelled by reward (videos: one row\n"
    "                         of frames per clip)\n"
    "  --output-raw FILE      the best image as f32 HWC in [0, 1] (.npy); videos: f32 [F, H, W, 3]\n"
    "  --report FILE          the JSON report\n"
    "  --latents FILE         initial noise x_T of the first trajectories (.npy, f32, [N, ...sample shape]\n"
    "                         or one sample) instead of drawing it; with --n 1 --eta 0 the run is\n"
    "                         deterministic and comparable with a diffusers pipeline\n"
    "  --noise FILE           the noise each sampler step injects, instead of drawing it (.npy, f32,\n"
    "                         [steps, N, ...sample shape] or [steps, ...sample shape] for one sample;\n"
    "                         entry i is step i's standard-normal z, ignored by steps that inject none,\n"
    "                         e.g. the last LCM step); the partner of --latents, for comparing a run step\n"
    "                         by step with a reference pipeline; --method sample only\n"
    "  --frames N             video models: frames per clip (default: the model's)\n"
    "  --fps N                video models: the frame rate told to models conditioned on it, and the\n"
    "                         rate of the video file (default: the model's, else 8)\n"
    "  --diffusion-model FILE the denoiser's weights from FILE instead of the model's own (a fine-tuned\n"
    "                         or distilled UNet, e.g. a T2V-Turbo checkpoint over VideoCrafter2; SD: a\n"
    "                         UNet as .gguf — stable-diffusion.cpp's quantised files, whose quantised\n"
    "                         matrices stay quantised in device memory — or .safetensors, original or\n"
    "                         diffusers names); VideoCrafter2, ModelScope: also T2V-Turbo v1's\n"
    "                         unet_lora.pt, merged over the model's own UNet (see --lora)\n"
    "  --lora FILE            VideoCrafter2, ModelScope: merge T2V-Turbo v1's LoRA list (unet_lora.pt)\n"
    "                         into the UNet at load, as T2V-Turbo does (every Linear/Conv2d/Conv3d in\n"
    "                         module order, W += up·down); the base UNet must hold the w-embedding's\n"
    "                         projection (time_cond_proj / time_embedding.cond_proj)\n"
    "  --f16                  keep network weights in f16 (half the memory)\n"
    "  --vae-tile N           latent models: decode in tiles of N latents (large images, less memory)\n"
    "  --reward FILE          reward file (JSON; types: {rewards}); for videos every image\n"
    "                         reward scores a clip as its mean over the frames (frame_mean)\n"
    "                         the shipped text-to-image reward is " SHIPPED_REWARD "\n"
    "  --method M             sample (N plain samples), bon (Best-of-N), fk (particle sampling),\n"
    "                         evo (EvoSearch); all but sample need --reward (default without one: sample)\n"
    "  --steps T              denoising steps (default 50)\n"
    "  --seed S               seed of every random draw (default 0)\n"
    "  --nfe N                budget: sample/bon/fk get N/T individuals, evo scales its population\n"
    "                         schedule to spend at most N model evaluations, never below 6 (and\n"
    "                         2·elites + 2) per generation: it drops its latest evolution steps\n"
    "                         first, and below one generation of 6 it is Best-of-N\n"
    "  --n N                  individuals for sample/bon/fk (default 16, or 1 without a reward; not with --nfe)\n"
    "  --evolution-schedule L steps where evo evolves, e.g. 0,20,30,40 (default: that, scaled to T;\n"
    "                         videos: 5,20,30,45 of 50 scaled to T, at most T-2, e.g. 0,1,2 at 4 steps)\n"
    "  --population-schedule L  population sizes, one more than evolution steps (default 42,26,26,26,30;\n"
    "                         videos: 10,5,5,5,5)\n"
    "  --elites E             elites kept unmutated (default 5, videos 2; 0 for none)\n"
    "  --mutation-rate B      beta of the first-generation mutation sqrt(1-B^2)x + B eps (default 0.2)\n"
    "  --lambda L             fk: potential sharpness (default 10)\n"
    "  --potential P          fk: diff, max or add (default diff)\n"
    "  --sampler S            ddim, ddpm, euler, flow-sde or lcm (default: the model's, e.g. its\n"
    "                         scheduler config's DDIM)\n"
    "  --eta E                DDIM eta (default 1: the stochastic sampler searches need)\n"
    "  --spacing S            DDIM timestep spacing: leading, trailing, linspace (default: the model's)\n"
    "  --steps-offset N       DDIM steps_offset (default: the model's)\n"
    "  --shift S              flow timestep shift (default: the model's)\n"
    "  --lcm-origin-steps N   lcm: the distillation's timestep grid, N of 1000 (default: the model's, else 50)\n"
    "  --chunk N              at most N individuals per model call (default: as memory allows)\n"
    "  --progress             one line per generation on stderr: generation, NFE, best reward;\n"
    "                         and one per stage: model load, text encoding, each step, decode, reward\n"
    "  --device N             Vulkan device index (see `evoke devices`)\n"
    "  --devices LIST|all     spread the population over these devices (e.g. 0,1 or all; an index may\n"
    "                         repeat), one model each; results are identical to one device. Under\n"
    "                         mpirun / srun each rank takes one device (--device, else its rank on the host)\n"
    "  -h, --help             this text\n";

/* The help text, then what --model accepts, from the model registry. */
static void print_help(void) {
    cli_print_help(generate_help);
    size_t n;
    const evk_model_family *f = evk_model_families(&n);
    printf("\nModels (--model PATH):\n");
    for (size_t i = 0; i < n; i++) printf("  %-6s %s\n", f[i].name, f[i].accepts);
}

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
        if (!cli_parse_u32(cmd, option, tok, 0, &out[n++])) {
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

static void on_stage(void *user, const evk_search_stage *st) {
    (void)user;
    char gpu[48] = "";
    if (st->gpu_seconds >= 0) snprintf(gpu, sizeof gpu, " (GPU %.3f s)", st->gpu_seconds);
    switch (st->kind) {
    case EVK_STAGE_LOAD: fprintf(stderr, "evoke generate: model load %.3f s\n", st->seconds); break;
    case EVK_STAGE_TEXT: fprintf(stderr, "evoke generate: text encoding %.3f s (%u prompt%s)\n", st->seconds, st->population, st->population == 1 ? "" : "s"); break;
    case EVK_STAGE_STEP: fprintf(stderr, "evoke generate: step %u  population %u  %.3f s%s\n", st->step, st->population, st->seconds, gpu); break;
    case EVK_STAGE_DECODE: fprintf(stderr, "evoke generate: decode  population %u  %.3f s%s\n", st->population, st->seconds, gpu); break;
    case EVK_STAGE_REWARD: fprintf(stderr, "evoke generate: reward  population %u  %.3f s%s\n", st->population, st->seconds, gpu); break;
    }
}

static void on_progress(void *user, const evk_search_progress *p) {
    (void)user;
    fprintf(stderr, "evoke generate: %s generation %u  step %u  population %u  nfe %llu  best %.6g\n", evk_search_method_name(p->method),
            p->generation, p->step, p->population, (unsigned long long)p->nfe, p->best_reward);
}

/* The best image (PNG with the parameters, and optionally raw .npy) and the population grid.
 * The best image is the one the search already decoded (for its reward, or once at its end);
 * only the grid decodes here, the whole final population in one submission. */
static evk_status write_images(evk_model *model, const evk_search_result *res, bool scored, uint32_t w, uint32_t h,
                               const char *prompt, const char *negative, uint32_t steps, const char *output, const char *grid,
                               const char *raw) {
    size_t px = (size_t)w * h;
    if (!res->best_decoded || res->decoded_numel != (int64_t)(3 * px))
        return evk_fail(EVK_ERROR_INTERNAL, "generate: the search returned no decoded %ux%u image", w, h);
    char params[512], best_reward[64] = "";
    if (scored) snprintf(best_reward, sizeof best_reward, ",\"best_reward\":%.6g", res->best_reward);
    snprintf(params, sizeof params,
             "{\"method\":\"%s\",\"seed\":%llu,\"steps\":%u,\"nfe\":%llu,\"guidance\":%g%s,\"width\":%u,\"height\":%u}",
             evk_search_method_name(res->config.method), (unsigned long long)res->config.seed, steps, (unsigned long long)res->nfe,
             (double)res->config.guidance, best_reward, w, h);
    evk_png_text text[3] = {{EVK_PNG_KEY_PROMPT, prompt ? prompt : ""}, {"negative_prompt", negative}, {EVK_PNG_KEY_PARAMETERS, params}};
    const float *best = res->best_decoded;
    evk_status s = EVK_OK;
    if (output) s = evk_png_write_f32(output, best, w, h, EVK_PIXELS_CHW, 0.0f, 1.0f, text, 3);
    if (!s && raw) {
        float *hwc = malloc(3 * px * sizeof *hwc);
        if (!hwc) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (size_t i = 0; !s && i < px; i++)
            for (int ch = 0; ch < 3; ch++) hwc[i * 3 + ch] = best[ch * px + i];
        if (!s) s = evk_npy_write_f32(raw, hwc, (const uint64_t[]){h, w, 3}, 3);
        free(hwc);
    }
    if (!s && grid && res->population_size) {
        uint32_t n = res->population_size, cols = n < 8 ? n : 8, rows = (n + cols - 1) / cols;
        uint8_t **imgs = calloc((size_t)rows * cols, sizeof *imgs);
        char **labels = calloc((size_t)rows * cols, sizeof *labels);
        float *pop = malloc((size_t)n * 3 * px * sizeof *pop);
        s = imgs && labels && pop ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (!s) s = evk_model_decode_host(model, res->population, n, pop);
        for (uint32_t i = 0; !s && i < n; i++) {
            imgs[i] = malloc(3 * px);
            labels[i] = malloc(32);
            if (!imgs[i] || !labels[i]) { s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"); break; }
            s = evk_image_f32_to_rgb8(pop + (size_t)i * 3 * px, w, h, EVK_PIXELS_CHW, 0.0f, 1.0f, imgs[i]);
            if (scored) snprintf(labels[i], 32, "r=%.3f", (double)res->population_rewards[i]);
            else snprintf(labels[i], 32, "#%u", i);
        }
        if (!s) {
            char title[300];
            snprintf(title, sizeof title, "%s: final population (%u), %.200s", evk_search_method_name(res->config.method), n,
                     prompt ? prompt : "");
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

static bool has_ext(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

/* Frames [F, 3, H, W] in [0, 1] to 8-bit RGB [F, H, W, 3]. */
static evk_status clip_to_rgb8(const float *clip, uint32_t frames, uint32_t w, uint32_t h, uint8_t *rgb) {
    size_t px = (size_t)w * h;
    for (uint32_t f = 0; f < frames; f++)
        EVK_TRY(evk_image_f32_to_rgb8(clip + f * 3 * px, w, h, EVK_PIXELS_CHW, 0.0f, 1.0f, rgb + f * 3 * px));
    return EVK_OK;
}

/* Frames [F, H, W, 3] side by side: one [H, F·W, 3] image. */
static void strip_of(const uint8_t *rgb, uint32_t frames, uint32_t w, uint32_t h, uint8_t *out) {
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t f = 0; f < frames; f++) memcpy(out + ((size_t)y * frames * w + (size_t)f * w) * 3, rgb + (((size_t)f * h + y) * w) * 3, (size_t)w * 3);
}

/* Videos: the best clip as animated WebP / MP4 / a PNG strip of its frames (-o), f32 [F, H, W, 3]
 * (--output-raw), and the final population as a PNG with one row of frames per clip (--grid).
 * The parameters go in the file's metadata (WebP XMP, MP4 comment, PNG text chunks). */
static evk_status write_videos(evk_model *model, const evk_search_result *res, bool scored, uint32_t frames, uint32_t fps, uint32_t w,
                               uint32_t h, const char *prompt, const char *negative, uint32_t steps, const char *output,
                               const char *grid, const char *raw) {
    size_t px = (size_t)w * h, clip = (size_t)frames * 3 * px;
    if (!res->best_decoded || res->decoded_numel != (int64_t)clip)
        return evk_fail(EVK_ERROR_INTERNAL, "generate: the search returned no decoded %u-frame %ux%u video", frames, w, h);
    /* the parameters as JSON (cJSON escapes the negative prompt, which video files have no other place for) */
    cJSON *pj = cJSON_CreateObject();
    cJSON_AddStringToObject(pj, "method", evk_search_method_name(res->config.method));
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)res->config.seed);
    cJSON_AddRawToObject(pj, "seed", seed); /* exact past 2^53 */
    cJSON_AddNumberToObject(pj, "steps", steps);
    cJSON_AddNumberToObject(pj, "nfe", (double)res->nfe);
    cJSON_AddNumberToObject(pj, "guidance", (double)res->config.guidance);
    if (res->config.guidance_items && res->config.guidance_count) { /* w per sample (--cfg W1,W2,...) */
        cJSON *gi = cJSON_AddArrayToObject(pj, "guidance_items");
        for (uint32_t k = 0; gi && k < res->config.guidance_count; k++)
            cJSON_AddItemToArray(gi, cJSON_CreateNumber((double)res->config.guidance_items[k]));
    }
    if (res->config.motion) {
        cJSON_AddNumberToObject(pj, "motion_guidance", (double)res->config.motion_guidance);
        cJSON_AddNumberToObject(pj, "motion_percentage", res->config.motion_percentage);
    }
    if (scored) cJSON_AddNumberToObject(pj, "best_reward", res->best_reward);
    cJSON_AddNumberToObject(pj, "width", w);
    cJSON_AddNumberToObject(pj, "height", h);
    cJSON_AddNumberToObject(pj, "frames", frames);
    cJSON_AddNumberToObject(pj, "fps", fps);
    cJSON_AddStringToObject(pj, "negative_prompt", negative);
    char *params = cJSON_PrintUnformatted(pj);
    cJSON_Delete(pj);
    if (!params) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_png_text text[3] = {{EVK_PNG_KEY_PROMPT, prompt ? prompt : ""}, {"negative_prompt", negative}, {EVK_PNG_KEY_PARAMETERS, params}};
    uint8_t *rgb = malloc(clip), *strip = NULL;
    evk_status s = rgb ? clip_to_rgb8(res->best_decoded, frames, w, h, rgb) : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!s && output) {
        if (has_ext(output, ".png")) {
            if (!(strip = malloc(clip))) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            if (!s) strip_of(rgb, frames, w, h, strip);
            if (!s) s = evk_png_write(output, strip, frames * w, h, 3, text, 3);
        } else {
            evk_video_options vo = {.fps = fps, .prompt = prompt, .parameters = params};
            s = evk_video_write(output, rgb, frames, w, h, &vo);
        }
    }
    if (!s && raw) {
        float *hwc = malloc(clip * sizeof *hwc);
        if (!hwc) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (uint32_t f = 0; !s && f < frames; f++)
            for (size_t i = 0; i < px; i++)
                for (int ch = 0; ch < 3; ch++) hwc[(f * px + i) * 3 + ch] = res->best_decoded[(f * 3 + ch) * px + i];
        if (!s) s = evk_npy_write_f32(raw, hwc, (const uint64_t[]){frames, h, w, 3}, 4);
        free(hwc);
    }
    if (!s && grid && res->population_size) {
        uint32_t n = res->population_size;
        uint8_t **cells = calloc((size_t)n * frames, sizeof *cells), *all = malloc((size_t)n * clip);
        char **labels = calloc((size_t)n * frames, sizeof *labels);
        float *pop = malloc((size_t)n * clip * sizeof *pop);
        s = cells && labels && pop && all ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (!s) s = evk_model_decode_host(model, res->population, n, pop);
        for (uint32_t i = 0; !s && i < n; i++) {
            s = clip_to_rgb8(pop + (size_t)i * clip, frames, w, h, all + (size_t)i * clip);
            for (uint32_t f = 0; f < frames; f++) cells[(size_t)i * frames + f] = all + (size_t)i * clip + (size_t)f * 3 * px;
            if (!s && !(labels[(size_t)i * frames] = malloc(32))) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            if (!s && scored) snprintf(labels[(size_t)i * frames], 32, "r=%.3f", (double)res->population_rewards[i]);
            else if (!s) snprintf(labels[(size_t)i * frames], 32, "#%u", i);
        }
        if (!s) {
            char title[300];
            snprintf(title, sizeof title, "%s: final population (%u videos of %u frames), %.180s", evk_search_method_name(res->config.method), n,
                     frames, prompt ? prompt : "");
            figure_grid_desc gd = {.rows = n, .cols = frames, .image_width = w, .image_height = h, .images = (const uint8_t *const *)cells,
                                   .upscale = w >= 128 || h >= 128 ? 1 : w >= 64 || h >= 64 ? 2 : 4, .title = title,
                                   .labels = (const char *const *)labels};
            figure_canvas canvas;
            s = figure_grid(&gd, &canvas);
            if (!s) {
                s = evk_png_write(grid, canvas.rgb, canvas.width, canvas.height, 3, text, 3);
                figure_canvas_free(&canvas);
            }
        }
        for (size_t i = 0; labels && i < (size_t)n * frames; i++) free(labels[i]);
        free(labels), free(cells), free(all), free(pop);
    }
    free(rgb), free(strip);
    cJSON_free(params);
    return s;
}

/* What --sampler, --eta, --spacing, --steps-offset and --shift change in the model's sampler. */
typedef struct sampler_changes {
    bool kind_set, eta_set, spacing_set, offset_set, shift_set, origin_set;
    uint32_t origin;
    const char *output; /* -o, checked against the model (check_model) */
    evk_sampler_kind kind;
    double eta, shift;
    evk_spacing spacing;
    uint32_t offset;
} sampler_changes;

static void change_sampler(void *user, evk_sampler_config *c) {
    const sampler_changes *ch = user;
    if (ch->kind_set) c->kind = ch->kind;
    if (ch->eta_set) c->eta = ch->eta;
    else if (c->kind == EVK_SAMPLER_LCM) c->eta = 0; /* LCM's own noise, no DDIM η */
    if (ch->spacing_set) c->spacing = ch->spacing;
    if (ch->offset_set) c->steps_offset = ch->offset;
    if (ch->shift_set) c->shift = ch->shift;
    if (ch->origin_set) c->lcm_origin_steps = ch->origin;
}

/* -o against the loaded model, before any denoising: videos go to .webp, .mp4 (ffmpeg) or a .png
 * strip of their frames; images to PNG. */
static evk_status check_model(void *user, const evk_model *model) {
    const sampler_changes *ch = user;
    const char *o = ch->output;
    if (!o) return EVK_OK;
    bool video_file = has_ext(o, ".webp") || has_ext(o, ".mp4");
    if (!evk_model_get_info(model)->frames) {
        if (video_file) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "-o %s: a video file, and this model makes images (written as PNG)", o);
        return EVK_OK;
    }
    if (!video_file && !has_ext(o, ".png"))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "-o %s: videos are written as .webp, .mp4 or .png (the frames side by side)", o);
    if (has_ext(o, ".mp4") && !evk_video_have_ffmpeg())
        return evk_fail(EVK_ERROR_UNSUPPORTED, "-o %s: MP4 is written through the ffmpeg program, which is not on PATH (install ffmpeg, or write .webp)", o);
    return EVK_OK;
}

/* Options that only one sampler reads are refused when the run's sampler is another. */
static evk_status check_sampler(void *user, const evk_sampler_config *c) {
    const sampler_changes *ch = user;
    if (ch->origin_set && c->kind != EVK_SAMPLER_LCM)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "--lcm-origin-steps applies to the lcm sampler, this run uses %s (--sampler lcm)",
                        evk_sampler_kind_name(c->kind));
    return EVK_OK;
}

/* One rank's run: its context on its device, the generation, and the verdict of every rank. */
typedef struct rank_job {
    evk_shard *shard;
    evk_context_config cc;
    evk_generate_config gc;
    evk_context *ctx;
    evk_generation *g;
    evk_status st;
    void (*progress)(void *user, const evk_search_progress *p); /* rank 0's --progress */
} rank_job;

/* Every rank notes where its search is (the line its watcher prints if it is killed, shard.h);
 * rank 0 also prints it with --progress. */
static void rank_progress(void *user, const evk_search_progress *p) {
    rank_job *j = user;
    evk_shard_note("after %s generation %u", evk_search_method_name(p->method), p->generation);
    if (j->progress) j->progress(NULL, p);
}

static void *run_rank(void *arg) {
    rank_job *j = arg;
    j->gc.search.shard = j->shard;
    j->progress = evk_shard_rank(j->shard) == 0 ? j->gc.search.progress : NULL;
    j->gc.search.progress = rank_progress, j->gc.search.user = j;
    evk_shard_note("before its first generation ended");
    j->st = evk_context_create(&j->cc, &j->ctx);
    if (!j->st) j->st = evk_generate(j->ctx, &j->gc, &j->g);
    j->st = evk_shard_agree(j->shard, j->st);
    return NULL;
}

static void print_shard_stats(const evk_shard *s) {
    evk_shard_stats ss;
    evk_shard_get_stats(s, &ss);
    fprintf(stderr, "evoke generate: rank %u of %u (%s): %llu collectives, %llu bytes sent, %llu received, %.4f s in collectives\n",
            evk_shard_rank(s), evk_shard_size(s), evk_shard_backend(s), (unsigned long long)ss.collectives, (unsigned long long)ss.bytes_sent,
            (unsigned long long)ss.bytes_received, ss.seconds);
}

#define GENERATE_MAX_DEVICES 64

static int generate_main(int argc, char **argv, evk_shard *mpi);

int cmd_generate(int argc, char **argv) {
    evk_shard *mpi = cli_ranks_start();
    return cli_ranks_end(mpi, generate_main(argc, argv, mpi));
}

static int generate_main(int argc, char **argv, evk_shard *mpi) {
    enum { O_MODEL = 256, O_REWARD, O_METHOD, O_STEPS, O_SEED, O_NFE, O_N, O_EVO, O_POP, O_ELITES, O_MUT, O_LAMBDA, O_POT, O_SAMPLER,
           O_ETA, O_SPACING, O_OFFSET, O_SHIFT, O_GUIDANCE, O_CHUNK, O_REPORT, O_PROGRESS, O_DEVICE, O_PROMPT, O_NEG, O_CFG,
           O_GRID, O_RAW, O_F16, O_LATENTS, O_CONFIG, O_VAE_TILE, O_FRAMES, O_FPS, O_DIFFUSION, O_LORA, O_MOTION, O_MOTION_PCT, O_ORIGIN, O_NOISE, O_DEVICES };
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
        {"frames", required_argument, 0, O_FRAMES}, {"fps", required_argument, 0, O_FPS},
        {"diffusion-model", required_argument, 0, O_DIFFUSION}, {"lora", required_argument, 0, O_LORA},
        {"motion-guidance", required_argument, 0, O_MOTION}, {"motion-percentage", required_argument, 0, O_MOTION_PCT}, {"lcm-origin-steps", required_argument, 0, O_ORIGIN},
        {"noise", required_argument, 0, O_NOISE},
        {"devices", required_argument, 0, O_DEVICES},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *prompt = NULL, *negative = NULL, *output = NULL, *grid = NULL, *raw = NULL, *latents_path = NULL, *noise_path = NULL;
    double cfg_scale = 0, motion_pct = 0.3;
    float cfg_items[256];
    size_t cfg_count = 0;
    bool have_cfg = false, have_guidance = false, have_motion_pct = false;
    const char *model_path = NULL, *reward_path = NULL, *report_path = NULL;
    bool have_method = false, have_eta = false, progress = false, have_device = false;
    const char *fk_option = NULL, *evo_option = NULL; /* a method-specific option given, for the check below */
    bool have_sampler = false, have_spacing = false, have_offset = false, have_shift = false, have_origin = false;
    uint32_t steps = 50, u, device = 0, offset = 0, origin = 0;
    double d, eta = 1, shift = 1;
    evk_sampler_kind sampler_kind = EVK_SAMPLER_DDIM;
    evk_spacing spacing = EVK_SPACING_TRAILING;
    evk_model_options mo = {0};
    evk_search_config sc = {0};
    const char *devices_text = NULL;
    uint32_t devices[GENERATE_MAX_DEVICES], ndevices = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "hW:H:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': print_help(); return CLI_EXIT_OK;
        case O_PROMPT: prompt = optarg; break;
        case O_NEG: negative = optarg; break;
        case O_CFG: {
            /* W, or W1,W2,... (a w per sample) */
            char item[64];
            cfg_count = 0;
            for (const char *p = optarg;; p++) {
                size_t n = strcspn(p, ",");
                if (n >= sizeof item || cfg_count == sizeof cfg_items / sizeof *cfg_items)
                    return cli_usage_error(cmd, "--cfg: at most %zu values of under 64 characters", sizeof cfg_items / sizeof *cfg_items);
                memcpy(item, p, n);
                item[n] = 0;
                if (!cli_parse_double(cmd, "--cfg", item, &d)) return CLI_EXIT_USAGE;
                if (d < 0) return cli_usage_error(cmd, "--cfg must be >= 0");
                cfg_items[cfg_count++] = (float)d;
                p += n;
                if (!*p) break;
            }
            cfg_scale = cfg_items[0];
            have_cfg = true;
            break;
        }
        case O_MOTION:
            if (!cli_parse_double(cmd, "--motion-guidance", optarg, &d)) return CLI_EXIT_USAGE;
            sc.motion = true, sc.motion_guidance = (float)d;
            break;
        case O_MOTION_PCT:
            if (!cli_parse_double(cmd, "--motion-percentage", optarg, &motion_pct)) return CLI_EXIT_USAGE;
            if (!(motion_pct >= 0 && motion_pct <= 1)) return cli_usage_error(cmd, "--motion-percentage must be in [0, 1]");
            have_motion_pct = true;
            break;
        case 'W': if (!cli_parse_u32(cmd, "--width", optarg, 1, &mo.width)) return CLI_EXIT_USAGE; break;
        case 'H': if (!cli_parse_u32(cmd, "--height", optarg, 1, &mo.height)) return CLI_EXIT_USAGE; break;
        case 'o': output = optarg; break;
        case O_GRID: grid = optarg; break;
        case O_RAW: raw = optarg; break;
        case O_F16: mo.storage = EVK_DTYPE_F16; break;
        case O_LATENTS: latents_path = optarg; break;
        case O_CONFIG: mo.config_dir = optarg; break;
        case O_VAE_TILE:
            if (!cli_parse_u32(cmd, "--vae-tile", optarg, 4, &mo.vae_tile)) return CLI_EXIT_USAGE;
            break;
        case O_FRAMES: if (!cli_parse_u32(cmd, "--frames", optarg, 1, &mo.frames)) return CLI_EXIT_USAGE; break;
        case O_FPS: if (!cli_parse_u32(cmd, "--fps", optarg, 1, &mo.fps)) return CLI_EXIT_USAGE; break;
        case O_DIFFUSION: mo.diffusion_model = optarg; break;
        case O_LORA: mo.lora = optarg; break;
        case O_ORIGIN:
            if (!cli_parse_u32(cmd, "--lcm-origin-steps", optarg, 1, &origin)) return CLI_EXIT_USAGE;
            have_origin = true;
            break;
        case O_NOISE: noise_path = optarg; break;
        case O_MODEL: model_path = optarg; break;
        case O_REWARD: reward_path = optarg; break;
        case O_REPORT: report_path = optarg; break;
        case O_METHOD:
            if (!evk_search_method_parse(optarg, &sc.method)) return cli_usage_error(cmd, "unknown method '%s' (%s)", optarg, cli_method_list());
            have_method = true;
            break;
        case O_STEPS: if (!cli_parse_u32(cmd, "--steps", optarg, 1, &steps)) return CLI_EXIT_USAGE; break;
        case O_SEED: if (!cli_parse_u64(cmd, "--seed", optarg, 0, &sc.seed)) return CLI_EXIT_USAGE; break;
        case O_NFE: if (!cli_parse_u64(cmd, "--nfe", optarg, 1, &sc.nfe)) return CLI_EXIT_USAGE; break;
        case O_N: if (!cli_parse_u32(cmd, "--n", optarg, 1, &sc.n)) return CLI_EXIT_USAGE; break;
        case O_EVO:
            evo_option = "--evolution-schedule";
            if (!parse_list("--evolution-schedule", optarg, sc.evolution_schedule, EVK_SEARCH_MAX_GENERATIONS, &sc.evolution_count)) return CLI_EXIT_USAGE;
            break;
        case O_POP:
            evo_option = "--population-schedule";
            if (!parse_list("--population-schedule", optarg, sc.population_schedule, EVK_SEARCH_MAX_GENERATIONS + 1, &sc.population_count))
                return CLI_EXIT_USAGE;
            break;
        case O_ELITES:
            evo_option = "--elites";
            if (!cli_parse_u32(cmd, "--elites", optarg, 0, &u)) return CLI_EXIT_USAGE;
            sc.elites = u ? u : EVK_ELITES_NONE;
            break;
        case O_MUT:
            evo_option = "--mutation-rate";
            if (!cli_parse_double(cmd, "--mutation-rate", optarg, &d)) return CLI_EXIT_USAGE;
            if (!(d > 0 && d <= 1)) return cli_usage_error(cmd, "--mutation-rate must be in (0, 1], got %g", d);
            sc.mutation_rate = d;
            break;
        case O_LAMBDA:
            fk_option = "--lambda";
            if (!cli_parse_double(cmd, "--lambda", optarg, &d)) return CLI_EXIT_USAGE;
            if (d == 0) return cli_usage_error(cmd, "--lambda must not be 0");
            sc.fk_lambda = d;
            break;
        case O_POT:
            fk_option = "--potential";
            if (!evk_fk_potential_parse(optarg, &sc.fk_potential)) return cli_usage_error(cmd, "unknown potential '%s' (diff, max, add)", optarg);
            break;
        case O_SAMPLER:
            if (!evk_sampler_kind_parse(optarg, &sampler_kind))
                return cli_usage_error(cmd, "unknown sampler '%s' (ddim, ddpm, euler, flow-sde, lcm)", optarg);
            have_sampler = true;
            break;
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
            have_spacing = true;
            break;
        case O_OFFSET: if (!cli_parse_u32(cmd, "--steps-offset", optarg, 0, &offset)) return CLI_EXIT_USAGE; have_offset = true; break;
        case O_SHIFT:
            if (!cli_parse_double(cmd, "--shift", optarg, &shift)) return CLI_EXIT_USAGE;
            if (!(shift > 0)) return cli_usage_error(cmd, "--shift must be > 0");
            have_shift = true;
            break;
        case O_GUIDANCE:
            if (!cli_parse_double(cmd, "--guidance", optarg, &cfg_scale)) return CLI_EXIT_USAGE;
            if (cfg_scale < 0) return cli_usage_error(cmd, "--guidance must be >= 0");
            have_guidance = true;
            break;
        case O_CHUNK:
            if (!cli_parse_u32(cmd, "--chunk", optarg, 1, &sc.chunk)) return CLI_EXIT_USAGE;
            break;
        case O_PROGRESS: progress = true; break;
        case O_DEVICE: if (!cli_parse_u32(cmd, "--device", optarg, 0, &device)) return CLI_EXIT_USAGE; have_device = true; break;
        case O_DEVICES:
            devices_text = optarg;
            if (strcmp(optarg, "all")) { /* a list is checked here; "all" is resolved after the other checks */
                int drc = cli_parse_devices(cmd, "--devices", optarg, devices, GENERATE_MAX_DEVICES, &ndevices);
                if (drc) return drc;
            }
            break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model_path) return cli_usage_error(cmd, "--model is required");
    if (!reward_path && have_method && sc.method != EVK_SEARCH_SAMPLE)
        return cli_usage_error(cmd, "--method %s ranks samples by a reward: give --reward FILE (the shipped one is %s)",
                               evk_search_method_name(sc.method), SHIPPED_REWARD);
    if (reward_path && !have_method) return cli_usage_error(cmd, "--method is required with --reward (%s)", cli_method_list());
    if (!output && !grid && !raw && !report_path)
        return cli_usage_error(cmd, "nothing to write: give -o FILE, --grid FILE, --output-raw FILE or --report FILE");
    if (steps < 1) return cli_usage_error(cmd, "--steps must be at least 1");
    if (have_cfg && have_guidance) return cli_usage_error(cmd, "give --cfg or --guidance, not both");
    if (have_motion_pct && !sc.motion) return cli_usage_error(cmd, "--motion-percentage applies with --motion-guidance");
    sc.motion_percentage = motion_pct;
    if (cfg_count > 1) sc.guidance_items = cfg_items, sc.guidance_count = (uint32_t)cfg_count;
    if (devices_text && have_device) return cli_usage_error(cmd, "give --device or --devices, not both");
    if (devices_text && mpi) return cli_usage_error(cmd, "--devices does not apply under mpirun (each rank takes one device: --device)");
    if (noise_path && (devices_text || (mpi && evk_shard_size(mpi) > 1)))
        return cli_usage_error(cmd, "--noise runs on one device (not with --devices or several MPI ranks)");
    /* everything the user named is checked before the device is touched: inputs exist, outputs
     * can be written and are distinct, text is UTF-8, every option given is one the method uses */
    if (noise_path && sc.method != EVK_SEARCH_SAMPLE)
        return cli_usage_error(cmd, "--noise applies to --method sample only (searches draw the noise of the trajectories they make)");
    if (fk_option && sc.method != EVK_SEARCH_FK) return cli_usage_error(cmd, "%s applies to --method fk only", fk_option);
    if (evo_option && sc.method != EVK_SEARCH_EVO) return cli_usage_error(cmd, "%s applies to --method evo only", evo_option);
    if (!cli_input_exists(cmd, "--model", model_path) || (reward_path && !cli_input_exists(cmd, "--reward", reward_path)) ||
        (latents_path && !cli_input_exists(cmd, "--latents", latents_path)) ||
        (noise_path && !cli_input_exists(cmd, "--noise", noise_path)) ||
        (mo.diffusion_model && !cli_input_exists(cmd, "--diffusion-model", mo.diffusion_model)) ||
        (mo.lora && !cli_input_exists(cmd, "--lora", mo.lora)) || (mo.config_dir && !cli_input_exists(cmd, "--config", mo.config_dir)))
        return CLI_EXIT_USAGE;
    if (prompt && !evk_utf8_valid(prompt, strlen(prompt))) return cli_usage_error(cmd, "--prompt is not valid UTF-8");
    if (negative && !evk_utf8_valid(negative, strlen(negative))) return cli_usage_error(cmd, "--negative-prompt is not valid UTF-8");
    /* missing output folders are created, then every output is checked writable and distinct
     * (by rank 0, the only rank that writes; the others follow its verdict) */
    int vrc = CLI_EXIT_OK;
    if (evk_shard_rank(mpi) == 0) {
        evk_status ost = cli_prepare_output("--report", report_path, false);
        if (!ost) ost = cli_prepare_output("-o", output, false);
        if (!ost) ost = cli_prepare_output("--grid", grid, false);
        if (!ost) ost = cli_prepare_output("--output-raw", raw, false);
        if (ost) vrc = cli_report(ost);
        const char *const names[] = {"--report", "-o", "--grid", "--output-raw"};
        const char *const paths[] = {report_path, output, grid, raw};
        if (!vrc) vrc = cli_outputs_check(cmd, names, paths, 4);
    }
    vrc = cli_ranks_verdict(mpi, vrc);
    if (vrc) return vrc;
    if (devices_text && !ndevices) { /* all */
        int drc = cli_parse_devices(cmd, "--devices", devices_text, devices, GENERATE_MAX_DEVICES, &ndevices);
        if (drc) return drc;
    }
    if (progress) sc.progress = on_progress, sc.stage = on_stage;
    /* per-stage times (each step, decode, reward submitted on its own) where someone reads them */
    sc.stage_times = progress || report_path;
    sampler_changes changes = {.kind_set = have_sampler, .eta_set = have_eta, .spacing_set = have_spacing, .offset_set = have_offset,
                               .shift_set = have_shift, .kind = sampler_kind, .eta = eta, .shift = shift, .spacing = spacing,
                               .offset = offset, .origin_set = have_origin, .origin = origin, .output = output};
    evk_generate_config gc = {.model = model_path, .model_options = mo, .prompt = prompt, .negative_prompt = negative,
                              .reward = reward_path, .steps = steps, .guidance = (float)cfg_scale,
                              .no_guidance = (have_cfg || have_guidance) && cfg_scale == 0, .search = sc,
                              .need_images = output || grid || raw, .adjust_sampler = change_sampler,
                              .check_sampler = check_sampler, .check_model = check_model, .user = &changes};
    /* the ranks: this process alone, one thread per --devices entry, or this MPI rank */
    uint32_t nranks = ndevices > 1 ? ndevices : 1;
    rank_job jobs[GENERATE_MAX_DEVICES];
    evk_shard *group[GENERATE_MAX_DEVICES] = {0};
    memset(jobs, 0, sizeof jobs);
    evk_npy latents = {0}, noise = {0};
    evk_status st = EVK_OK;
    if (latents_path) {
        st = evk_npy_read_f32(latents_path, &latents);
        if (st) return cli_rank_report(mpi, st);
        gc.latents = latents.data;
        gc.latent_values = latents.count;
        gc.latent_ndim = latents.ndim;
        gc.latent_shape = latents.shape;
        gc.latents_name = latents_path;
    }
    if (noise_path) {
        st = evk_npy_read_f32(noise_path, &noise);
        if (st) {
            evk_npy_free(&latents);
            return cli_rank_report(mpi, st);
        }
        gc.noise = noise.data;
        gc.noise_values = noise.count;
        gc.noise_ndim = noise.ndim;
        gc.noise_shape = noise.shape;
        gc.noise_name = noise_path;
    }
    if (nranks > 1 && (st = evk_shard_group_create(nranks, group))) {
        evk_npy_free(&latents);
        evk_npy_free(&noise);
        return cli_report(st);
    }
    for (uint32_t r = 0; r < nranks; r++) {
        jobs[r].shard = nranks > 1 ? group[r] : mpi;
        jobs[r].gc = gc;
        jobs[r].cc = (evk_context_config){.pick_device = have_device || ndevices, .device_index = ndevices ? devices[r] : device};
    }
    if (mpi && !have_device) { /* each rank a device of its host, by its rank there */
        evk_device_info *list = NULL;
        uint32_t n = 0;
        if (!evk_devices_list(&list, &n) && n) jobs[0].cc = (evk_context_config){.pick_device = true, .device_index = evk_shard_local_rank(mpi) % n};
        free(list);
    }
    pthread_t threads[GENERATE_MAX_DEVICES];
    bool started[GENERATE_MAX_DEVICES] = {0};
    for (uint32_t r = 1; r < nranks; r++) {
        started[r] = pthread_create(&threads[r], NULL, run_rank, &jobs[r]) == 0;
        if (!started[r]) { /* its rank never arrives: fail the group */
            evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "cannot start the thread of device %u", devices[r]);
            evk_shard_fail(group[r], EVK_ERROR_OUT_OF_HOST_MEMORY);
        }
    }
    run_rank(&jobs[0]);
    for (uint32_t r = 1; r < nranks; r++)
        if (started[r]) pthread_join(threads[r], NULL);
    st = jobs[0].st;
    evk_generation *g = jobs[0].g; /* rank 0's: the result every rank agreed on */
    bool writer = evk_shard_rank(mpi) == 0;
    const evk_search_result *res = g ? g->result : NULL;
    if (!st && writer && g->prompt_truncated) fprintf(stderr, "evoke generate: warning: the prompt was truncated to the model's context\n");
    if (!st && writer && report_path) st = evk_search_report_write(res, report_path, model_path, reward_path, g->sampler);
    if (!st && writer && g->width && g->frames)
        st = write_videos(g->model, res, g->scored, g->frames,
                          mo.fps ? mo.fps : evk_model_get_info(g->model)->fps ? evk_model_get_info(g->model)->fps : 8, g->width, g->height,
                          prompt, negative ? negative : "",
                          steps, output, grid, raw);
    else if (!st && writer && g->width)
        st = write_images(g->model, res, g->scored, g->width, g->height, prompt, negative ? negative : "", steps, output, grid, raw);
    int rc = CLI_EXIT_OK;
    if (progress)
        for (uint32_t r = 0; r < nranks; r++)
            if (jobs[r].shard) print_shard_stats(jobs[r].shard);
    if (st) rc = mpi ? cli_rank_report(mpi, st) : cli_report(st);
    else if (g->scored)
        printf("%s: best reward %.6g, NFE %llu, %llu reward calls, %.3f s (%u submissions for %llu denoising steps)\n",
               evk_search_method_name(res->config.method), res->best_reward, (unsigned long long)res->nfe,
               (unsigned long long)res->reward_calls, res->wall_seconds, res->submissions, (unsigned long long)res->steps_recorded);
    else
        printf("%s: %u sample%s, NFE %llu, %.3f s\n", evk_search_method_name(res->config.method), res->population_size,
               res->population_size == 1 ? "" : "s", (unsigned long long)res->nfe, res->wall_seconds);
    for (uint32_t r = 0; r < nranks; r++) {
        evk_generation_free(jobs[r].g);
        evk_context_destroy(jobs[r].ctx);
        if (nranks > 1) evk_shard_destroy(group[r], false);
    }
    evk_npy_free(&latents);
    evk_npy_free(&noise);
    return rc;
}
