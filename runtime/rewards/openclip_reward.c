/* openclip_reward.c — HPSv2 and ViCLIP rewards (openclip_reward.h): an OpenCLIP-layout checkpoint
 * opened through models/clip/openclip.h, the prompt embedded once with the built-in CLIP
 * vocabulary, and images or clips scored on the GPU with the shared CLIP-reward machinery
 * (clip_reward.h). */
#include "rewards/openclip_reward.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/clip_vocab.h"
#include "models/clip/openclip.h"
#include "rewards/clip_reward.h"
#include "rewards/reward_type.h"

static const float evk__openai_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, evk__openai_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
static const float evk__imagenet_mean[3] = {0.485f, 0.456f, 0.406f}, evk__imagenet_std[3] = {0.229f, 0.224f, 0.225f};

typedef struct evk__oc_reward {
    evk__clip_reward base; /* first: the shared ops take this */
    evk_openclip oc;       /* the weight map's state: lives as long as base.ws */
} evk__oc_reward;

/* Python's round() of a double (half to even), as the resize sizes are computed upstream. */
static int64_t evk__round_even(double x) { return (int64_t)nearbyint(x); }

/* The checkpoint, its config.json, the vision tower, the projections and the prompt. */
static evk_status evk__oc_open(evk_context *ctx, const char *path, const char *prompt, const evk_openclip_defaults *d, const char *kind,
                               evk__oc_reward **out) {
    *out = NULL;
    if (!prompt) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s reward (%s): a prompt is required", kind, path);
    evk__oc_reward *o = calloc(1, sizeof *o);
    if (!o) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk__clip_reward *r = &o->base;
    r->ctx = ctx;
    r->scale = 1.0f;
    char cfg[1100];
    snprintf(cfg, sizeof cfg, "%s", path);
    char *slash = strrchr(cfg, '/');
    if (slash) snprintf(slash + 1, sizeof cfg - (size_t)(slash + 1 - cfg), "config.json");
    else snprintf(cfg, sizeof cfg, "config.json");
    evk_status s = evk_weights_open(ctx, path, &r->ws);
    if (!s) s = evk_openclip_open(r->ws, cfg, d, &o->oc);
    if (!s) {
        /* matrices stored f16 (HPS_v2.1_compressed.pt) stay f16 on the device: half the memory, the same values */
        r->cfg = o->oc.cfg;
        char name[200];
        snprintf(name, sizeof name, "%sconv1.weight", o->oc.vision);
        const evk_st_tensor *t = evk_weights_lookup(r->ws, name, NULL);
        evk_dtype storage = t && t->dtype == EVK_ST_F16 ? EVK_DTYPE_F16 : EVK_DTYPE_F32;
        s = evk_clip_vision_load(ctx, &r->cfg.vision, r->ws, storage, &r->vision);
    }
    if (!s) s = evk_openclip_projections(r->ws, &o->oc, &r->proj);
    evk_tokenizer *tok = NULL;
    /* a tokenizer/ folder beside the checkpoint (a model trained with its own vocabulary), else
     * OpenCLIP's built in; open_clip.tokenize: zero padded, eot kept */
    if (!s) s = evk_tokenizer_load_openclip(path, r->cfg.text.max_position_embeddings, &tok);
    if (!s) s = evk__clip_reward_embed_prompt(r, tok, prompt);
    evk_tokenizer_destroy(tok);
    if (s) {
        evk__clip_reward_destroy(r);
        return evk_fail_context(s, "%s reward from %s", kind, path);
    }
    *out = o;
    return EVK_OK;
}

evk_status evk_reward_hpsv2_create(evk_context *ctx, const char *path, const char *prompt, uint32_t height, uint32_t width,
                                   evk_reward **out) {
    *out = NULL;
    if (!height || !width) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "hpsv2 reward (%s): the image size is not known", path);
    evk_openclip_defaults d = {.vision_root = "visual.", .text_root = "", .vision_heads = 16, .text_heads = 16, .quick_gelu = false};
    evk__oc_reward *o;
    EVK_TRY(evk__oc_open(ctx, path, prompt, &d, "hpsv2", &o));
    evk__clip_reward *r = &o->base;
    int64_t S = r->cfg.vision.image_size, L = height > width ? height : width;
    r->height = height, r->width = width;
    memcpy(r->pre.image_mean, evk__openai_mean, sizeof evk__openai_mean);
    memcpy(r->pre.image_std, evk__openai_std, sizeof evk__openai_std);
    r->letterbox = true;
    double scale = (double)S / (double)L;
    r->resized_h = height, r->resized_w = width;
    if (scale != 1.0) r->resized_h = evk__round_even(height * scale), r->resized_w = evk__round_even(width * scale);
    if (r->resized_h > S || r->resized_w > S || r->resized_h < 1 || r->resized_w < 1 || (scale == 1.0 && height != width)) {
        evk__clip_reward_destroy(r);
        return evk_fail(EVK_ERROR_UNSUPPORTED, "hpsv2 reward (%s): %ux%u images do not letterbox into %lldx%lld as HPSv2 does it", path,
                        width, height, (long long)S, (long long)S);
    }
    r->top = (S - r->resized_h) / 2, r->left = (S - r->resized_w) / 2;
    return evk_reward_create(ctx, &evk__clip_reward_ops, "hpsv2", (int64_t)3 * height * width, r, out);
}

/* ---- ViCLIP ----------------------------------------------------------------------------------- */

static evk_status evk__viclip_evaluate(void *impl, evk_stream *s, const evk_tensor *clips, const evk_tensor *out, float weight,
                                       bool accumulate) {
    evk__clip_reward *r = impl;
    const evk__oc_reward *o = impl;
    int64_t n = clips->shape[0], T = o->oc.frames;
    int64_t fn = (int64_t)3 * r->height * r->width;
    evk_nn nn;
    evk_nn_init(&nn, s);
    /* frame pick[k] of every clip into rows k, T + k, 2T + k, ... */
    evk_tensor batch = evk_nn_new(&nn, EVK_SHAPE(n * T, fn));
    uint64_t fb = (uint64_t)fn * 4;
    for (int64_t k = 0; k < T && !nn.status; k++)
        evk_nn_fail(&nn, evk_stream_copy_strided(s, &clips->buf, r->pick[k] * fb, r->clip_frames * fb, &batch.buf, (uint64_t)k * fb,
                                                 (uint64_t)T * fb, fb, (uint64_t)n));
    evk_tensor pix = evk__clip_reward_pixels(&nn, r, &batch);
    evk_nn_free(&nn, &batch);
    evk_tensor pooled = evk_nn_new(&nn, EVK_SHAPE(n, r->cfg.vision.hidden_size));
    if (!nn.status) evk_nn_fail(&nn, evk_clip_vision_forward_video(r->vision, s, &pix, &pooled));
    evk_nn_free(&nn, &pix);
    evk__clip_reward_score(&nn, r, &pooled, out, weight, accumulate);
    return nn.status;
}

static const evk_reward_ops evk__viclip_ops = {.evaluate = evk__viclip_evaluate, .destroy = evk__clip_reward_destroy};

evk_status evk_reward_viclip_create(evk_context *ctx, const char *path, const char *prompt, uint32_t frames, uint32_t height,
                                    uint32_t width, evk_reward **out) {
    *out = NULL;
    if (!frames) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "viclip reward (%s): scores videos, and these samples are not videos", path);
    if (!height || !width) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "viclip reward (%s): the frame size is not known", path);
    evk_openclip_defaults d = {
        .vision_root = "vision_encoder.", .text_root = "text_encoder.", .vision_heads = 16, .text_heads = 12, .quick_gelu = true};
    evk__oc_reward *o;
    EVK_TRY(evk__oc_open(ctx, path, prompt, &d, "viclip", &o));
    evk__clip_reward *r = &o->base;
    evk_status s = evk_openclip_temporal(r->ws, &o->oc, r->vision);
    int64_t S = r->cfg.vision.image_size, T = o->oc.frames, M = height < width ? height : width;
    if (!s && (uint32_t)T > frames)
        s = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "viclip reward (%s): the model takes %lld frames, the clips have %u", path, (long long)T, frames);
    if (!s && !(r->pick = malloc((size_t)T * sizeof *r->pick))) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (s) {
        evk__clip_reward_destroy(r);
        return s;
    }
    r->clip_frames = frames;
    for (int64_t k = 0; k < T; k++) r->pick[k] = (uint32_t)(k * (frames / T));
    r->height = height, r->width = width;
    memcpy(r->pre.image_mean, evk__imagenet_mean, sizeof evk__imagenet_mean);
    memcpy(r->pre.image_std, evk__imagenet_std, sizeof evk__imagenet_std);
    double scale = (double)S / (double)M;
    r->resized_h = height, r->resized_w = width;
    if (scale != 1.0) r->resized_h = evk__round_even(height * scale), r->resized_w = evk__round_even(width * scale);
    if (r->resized_h < S || r->resized_w < S) {
        evk__clip_reward_destroy(r);
        return evk_fail(EVK_ERROR_UNSUPPORTED, "viclip reward (%s): %ux%u frames do not cover %lldx%lld after resizing", path, width, height,
                        (long long)S, (long long)S);
    }
    r->top = evk__round_even((r->resized_h - S) / 2.0), r->left = evk__round_even((r->resized_w - S) / 2.0);
    return evk_reward_create(ctx, &evk__viclip_ops, "viclip", (int64_t)frames * 3 * height * width, r, out);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static evk_status evk__oc_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out, bool video) {
    const char *what = j->what, *type = video ? "viclip" : "hpsv2";
    const evk_reward_options *opt = j->opt;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!cJSON_IsString(m) || !m->valuestring[0])
        return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s (%s) needs a string \"model\" (the checkpoint file)", what, path, type);
    for (const cJSON *it = o->child; it; it = it->next)
        if (strcmp(it->string, "type") && strcmp(it->string, "model"))
            return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s (%s) has an unknown key \"%.64s\" (type, model)", what, path, type, it->string);
    char file[1024];
    evk__reward_resolve(j, m->valuestring, file, sizeof file);
    const char *prompt = opt ? opt->prompt : NULL;
    uint32_t h = opt ? opt->image_height : 0, w = opt ? opt->image_width : 0;
    evk_status st = video ? evk_reward_viclip_create(j->ctx, file, prompt, opt ? opt->frames : 0, h, w, out)
                          : evk_reward_hpsv2_create(j->ctx, file, prompt, h, w, out);
    if (st) evk_fail_context(st, "reward %s: %s", what, path);
    return st;
}

static evk_status evk__hpsv2_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    return evk__oc_parse(o, path, j, out, false);
}
static evk_status evk__viclip_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    return evk__oc_parse(o, path, j, out, true);
}

const evk_reward_type evk__reward_type_hpsv2 = {"hpsv2", evk__hpsv2_parse};
const evk_reward_type evk__reward_type_viclip = {"viclip", evk__viclip_parse};
