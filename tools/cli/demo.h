/* demo.h — what the two halves of `evoke demo` share: the image part (cmd_demo.c: the shipped
 * text-to-image model, searches at equal NFE) and the video part (demo_video.c: the shipped
 * video teacher against its 4-step T2V-Turbo student, and EvoSearch over the student). Both add
 * rows to one report (report.json's "results", each with its "kind") and text to report.md. */
#ifndef EVOKE_DEMO_H
#define EVOKE_DEMO_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/context.h"
#include "core/status.h"
#include "search.h"

#define DEMO_MAX_PROMPTS 1000

/* Seconds on a monotonic clock. */
double demo_now(void);
/* A progress bar on stderr, redrawn in place on a terminal, one line per update in logs. */
void demo_progress_bar(int done, int total, const char *what);
/* EvoSearch's resolved schedule in words ("S 0,3,5,6, P 6,6,6,6,6, 1 elite"), or "one generation
 * of N = Best-of-N" (then *single is set) where the small-budget rule left nothing to evolve. */
void demo_schedule_text(const evk_search_config *c, char *out, size_t size, bool *single);

/* The video part. Zero fields take the defaults in brackets. */
typedef struct demo_video_config {
    const char *model_dir;        /* the shipped video models [assets/tiny-video]: model.ckpt (the
                                     teacher, with model.yaml and tokenizer/ beside it), unet_mg.pt
                                     (the student's UNet), reward.json (the mixed reward) */
    char (*prompts)[256];         /* captions of the video grammar (video_verifier.h) */
    int prompt_count;
    uint32_t teacher_steps;       /* DDIM steps of the teacher [50] */
    uint32_t student_steps;       /* LCM steps of the student [4] */
    float guidance;               /* teacher: CFG scale; student: its embedded w [7.5] */
    uint32_t evo_nfe;             /* EvoSearch's budget over the student's trajectories [48] */
    uint32_t fps;                 /* the frame rate the models were trained on [8] */
    uint64_t seed;
    const char *out_dir;          /* video.png and the clips (video/<k>-<arm>.webp) go here */
    evk_context *ctx;
} demo_video_config;

/* Run the teacher, the student and the student with EvoSearch on every prompt; append one row per
 * run to `results` ({"kind": "video", "model", "method", "steps", "nfe", "reward", "verifier_pass",
 * "seconds", "file", "prompt"}), write the clips and video.png (a strip of frames per run,
 * labelled with its reward and verdict), and return report.md's section in *md (malloc'd). */
evk_status demo_video_run(const demo_video_config *config, cJSON *results, char **md, double *seconds);

#endif
