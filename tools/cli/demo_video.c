/* demo_video.c — the video part of `evoke demo`: the shipped tiny video models (a VideoCrafter2-
 * architecture teacher and its T2V-Turbo student, trained here: tools/train/) on captions of the
 * video grammar. For each prompt: the teacher's 50-step DDIM with classifier-free guidance, the
 * student's 4-step LCM with its embedded guidance, and EvoSearch over the student's trajectories
 * at a small budget, each scored by the mixed reward (T2V-Turbo's: per-frame image-text reward +
 * 2 × the video-text reward) and judged by the independent video verifier (video_verifier.h).
 * Writes each clip as an animated WebP, video.png (one strip of frames per run) and the report
 * rows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "demo.h"
#include "figure.h"
#include "formats/video.h"
#include "generate.h"
#include "video_verifier.h"

enum { ARM_TEACHER, ARM_STUDENT, ARM_STUDENT_EVO, ARM_COUNT };
static const char *const arm_title[ARM_COUNT] = {"teacher", "student", "student + EvoSearch"};
static const char *const arm_file[ARM_COUNT] = {"teacher", "student", "student-evo"};

typedef struct demo_video_run_result {
    double reward, seconds;
    uint64_t nfe;
    bool pass;
    uint32_t frames, width, height;
    uint8_t *rgb; /* [frames, height, width, 3] */
    char schedule[64];
} demo_video_run_result;

static evk_status demo_video_one(const demo_video_config *c, const char *teacher, const char *student, const char *reward,
                                 const char *prompt, int arm, demo_video_run_result *r) {
    evk_generate_config g = {.model = teacher,
                             .model_options = {.fps = c->fps, .diffusion_model = arm == ARM_TEACHER ? NULL : student},
                             .prompt = prompt,
                             .reward = reward,
                             .steps = arm == ARM_TEACHER ? c->teacher_steps : c->student_steps,
                             .guidance = c->guidance,
                             .search = {.seed = c->seed, .method = arm == ARM_STUDENT_EVO ? EVK_SEARCH_EVO : EVK_SEARCH_SAMPLE},
                             .need_images = true};
    if (arm == ARM_STUDENT_EVO) g.search.nfe = c->evo_nfe;
    else g.search.n = 1;
    evk_generation *gen = NULL;
    double t0 = demo_now();
    evk_status st = evk_generate(c->ctx, &g, &gen);
    if (!st && !gen->frames)
        st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "demo --video: %s makes images, not videos", teacher);
    if (!st) {
        r->seconds = demo_now() - t0;
        r->reward = gen->result->best_reward;
        r->nfe = gen->result->nfe;
        r->frames = gen->frames, r->width = gen->width, r->height = gen->height;
        if (arm == ARM_STUDENT_EVO) {
            bool single;
            demo_schedule_text(&gen->result->config, r->schedule, sizeof r->schedule, &single);
        }
        size_t px = (size_t)r->width * r->height;
        r->rgb = malloc((size_t)r->frames * px * 3);
        if (!r->rgb) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        const float *clip = gen->result->best_decoded; /* [F, 3, H, W] */
        for (uint32_t f = 0; !st && f < r->frames; f++)
            st = evk_image_f32_to_rgb8(clip + (size_t)f * 3 * px, r->width, r->height, EVK_PIXELS_CHW, 0.0f, 1.0f,
                                       r->rgb + (size_t)f * px * 3);
        video_verifier_result vr;
        if (!st) st = video_verifier_check_clip(clip, r->frames, r->width, r->height, prompt, &vr);
        if (!st) r->pass = vr.ok;
    }
    evk_generation_free(gen);
    return st;
}

evk_status demo_video_run(const demo_video_config *config, cJSON *results, char **md_out, double *seconds) {
    demo_video_config c = *config;
    *md_out = NULL;
    *seconds = 0;
    if (!c.teacher_steps) c.teacher_steps = 50;
    if (!c.student_steps) c.student_steps = 4;
    if (c.guidance <= 0) c.guidance = 7.5f;
    if (!c.evo_nfe) c.evo_nfe = 48;
    if (!c.fps) c.fps = 8;
    char teacher[4096], student[4096], reward[4096], dir[4096];
    snprintf(teacher, sizeof teacher, "%s/model.ckpt", c.model_dir);
    snprintf(student, sizeof student, "%s/unet_mg.pt", c.model_dir);
    snprintf(reward, sizeof reward, "%s/reward.json", c.model_dir);
    snprintf(dir, sizeof dir, "%s/video", c.out_dir);
    for (int p = 0; p < c.prompt_count; p++) { /* every caption in the grammar before any work */
        video_verifier_caption vc;
        evk_status st = video_verifier_parse(c.prompts[p], &vc);
        if (st) return evk_fail_context(st, "video prompt %d", p + 1);
    }
    if (mkdir(dir, 0777) && errno != EEXIST) return evk_fail(EVK_ERROR_IO, "cannot create %s: %s", dir, strerror(errno));
    int np = c.prompt_count, total = np * ARM_COUNT;
    demo_video_run_result *runs = calloc((size_t)total, sizeof *runs);
    if (!runs) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    double t_start = demo_now();
    evk_status st = EVK_OK;
    for (int k = 0; k < total && !st; k++) {
        int p = k / ARM_COUNT, arm = k % ARM_COUNT;
        char what[160];
        snprintf(what, sizeof what, "video, %s: \"%.100s\"", arm_title[arm], c.prompts[p]);
        demo_progress_bar(k, total, what);
        st = demo_video_one(&c, teacher, student, reward, c.prompts[p], arm, &runs[k]);
        demo_video_run_result *r = &runs[k];
        char path[4200];
        snprintf(path, sizeof path, "%s/%d-%s.webp", dir, p + 1, arm_file[arm]);
        evk_video_options vo = {.fps = c.fps, .prompt = c.prompts[p]};
        if (!st) st = evk_video_write(path, r->rgb, r->frames, r->width, r->height, &vo);
    }
    if (!st) demo_progress_bar(total, total, "video done");
    *seconds = demo_now() - t_start;

    /* the rows, and report.md's section */
    size_t cap = 4096 + (size_t)total * 400, len = 0;
    char *md = st ? NULL : malloc(cap);
    if (!st && !md) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
#define MD(...) (len += (size_t)snprintf(md + len, len < cap ? cap - len : 0, __VA_ARGS__))
    if (!st) {
        double mean[ARM_COUNT] = {0}, pass[ARM_COUNT] = {0}, secs[ARM_COUNT] = {0}, nfe[ARM_COUNT] = {0};
        for (int k = 0; k < total; k++) {
            int arm = k % ARM_COUNT;
            mean[arm] += runs[k].reward / np, pass[arm] += runs[k].pass, secs[arm] += runs[k].seconds / np, nfe[arm] += (double)runs[k].nfe / np;
        }
        MD("\n## Video\n\nThe shipped video models (`%s`): the teacher (DDIM, %u steps, guidance %g: two model calls\n"
           "per step) against its T2V-Turbo student (LCM, %u steps, w = %g embedded: one call per step), and\n"
           "EvoSearch over the student's trajectories at %u NFE; %u fps, seed %llu. Reward: the mixed reward\n"
           "(`reward.json`: the per-frame image-text reward + 2 × the video-text reward); verifier: the independent\n"
           "check of colour, shape and motion direction per object.\n\n",
           c.model_dir, c.teacher_steps, (double)c.guidance, c.student_steps, (double)c.guidance, c.evo_nfe, c.fps,
           (unsigned long long)c.seed);
        MD("| model | method | steps | mean NFE | mean reward | verifier passes | mean seconds |\n|---|---|---:|---:|---:|---:|---:|\n");
        for (int a = 0; a < ARM_COUNT; a++)
            MD("| %s | %s | %u | %.0f | %.4f | %.0f / %d | %.1f |\n", a == ARM_TEACHER ? "teacher" : "student",
               a == ARM_STUDENT_EVO ? "EvoSearch" : "sample", a == ARM_TEACHER ? c.teacher_steps : c.student_steps, nfe[a], mean[a],
               pass[a], np, secs[a]);
        if (np) MD("\nEvoSearch's schedule at %u NFE: %s.\n", c.evo_nfe, runs[ARM_STUDENT_EVO].schedule);
        MD("\n| prompt | run | NFE | reward | verifier | seconds | file |\n|---|---|---:|---:|:---:|---:|---|\n");
        for (int k = 0; k < total; k++) {
            int p = k / ARM_COUNT, arm = k % ARM_COUNT;
            demo_video_run_result *r = &runs[k];
            char file[64];
            snprintf(file, sizeof file, "video/%d-%s.webp", p + 1, arm_file[arm]);
            MD("| %s | %s | %llu | %.4f | %s | %.1f | `%s` |\n", c.prompts[p], arm_title[arm], (unsigned long long)r->nfe, r->reward,
               r->pass ? "pass" : "fail", r->seconds, file);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "kind", "video");
            cJSON_AddStringToObject(o, "prompt", c.prompts[p]);
            cJSON_AddStringToObject(o, "model", arm == ARM_TEACHER ? "teacher" : "student");
            cJSON_AddStringToObject(o, "method", arm == ARM_STUDENT_EVO ? "evo" : "sample");
            cJSON_AddNumberToObject(o, "steps", arm == ARM_TEACHER ? c.teacher_steps : c.student_steps);
            cJSON_AddNumberToObject(o, "nfe", (double)r->nfe);
            if (arm == ARM_STUDENT_EVO) cJSON_AddNumberToObject(o, "budget", c.evo_nfe), cJSON_AddStringToObject(o, "schedule", r->schedule);
            cJSON_AddNumberToObject(o, "reward", r->reward);
            cJSON_AddBoolToObject(o, "verifier_pass", r->pass);
            cJSON_AddNumberToObject(o, "seconds", r->seconds);
            cJSON_AddStringToObject(o, "file", file);
            cJSON_AddItemToArray(results, o);
        }
        MD("\nVideo time %.1f s. Picture: `video.png` (per prompt, a strip of frames for each run, labelled with\n"
           "its reward and verdict); clips: `video/*.webp`.\n", *seconds);
        if (len >= cap) st = evk_fail(EVK_ERROR_INTERNAL, "demo: the video report outgrew its buffer");
    }
#undef MD
    /* video.png: one row of frames per run */
    if (!st && total) {
        uint32_t f = runs[0].frames, w = runs[0].width, h = runs[0].height;
        size_t cells = (size_t)total * f;
        const uint8_t **imgs = calloc(cells, sizeof *imgs);
        const char **labels = calloc(cells, sizeof *labels), **rows = calloc((size_t)total, sizeof *rows);
        char (*label_text)[40] = calloc((size_t)total, sizeof *label_text), (*row_text)[160] = calloc((size_t)total, sizeof *row_text);
        if (!imgs || !labels || !rows || !label_text || !row_text) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (int k = 0; !st && k < total; k++) {
            demo_video_run_result *r = &runs[k];
            int arm = k % ARM_COUNT;
            snprintf(row_text[k], sizeof row_text[k], "%s\n%s, %llu NFE", arm == ARM_TEACHER ? c.prompts[k / ARM_COUNT] : "", arm_title[arm],
                     (unsigned long long)r->nfe);
            rows[k] = row_text[k];
            snprintf(label_text[k], sizeof label_text[k], "r=%.3f %s", r->reward, r->pass ? "\xe2\x9c\x93" : "\xe2\x9c\x97");
            for (uint32_t j = 0; j < f; j++) imgs[(size_t)k * f + j] = r->frames == f ? r->rgb + (size_t)j * w * h * 3 : NULL;
            labels[(size_t)k * f] = label_text[k];
        }
        char title[200];
        snprintf(title, sizeof title, "evoke: teacher %u steps vs student %u steps vs student + EvoSearch at %u NFE", c.teacher_steps,
                 c.student_steps, c.evo_nfe);
        figure_grid_desc gd = {.rows = (uint32_t)total, .cols = f, .image_width = w, .image_height = h, .images = imgs, .title = title,
                               .row_titles = rows, .labels = labels, .upscale = 3};
        figure_canvas canvas;
        if (!st) st = figure_grid(&gd, &canvas);
        if (!st) {
            char path[4200];
            snprintf(path, sizeof path, "%s/video.png", c.out_dir);
            st = figure_save(&canvas, path, NULL, 0);
            figure_canvas_free(&canvas);
        }
        free(imgs), free(labels), free(rows), free(label_text), free(row_text);
    }
    for (int k = 0; k < total; k++) free(runs[k].rgb);
    free(runs);
    if (st) free(md);
    else *md_out = md;
    return st;
}
