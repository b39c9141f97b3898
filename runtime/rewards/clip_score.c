/* clip_score.c — rewards on CLIP image embeddings, from a transformers CLIPModel folder with the
 * folder's own image preprocessing (shortest-side bicubic resize, center crop, mean/std) done on
 * the GPU. Both are `scale · cos(image embedding, target) + bias`:
 *  - clip_score: the target is the prompt's text embedding (computed once), scale 1, bias 0;
 *  - aesthetic: the LAION aesthetic predictor, an MLP of linear layers without activations on the
 *    L2-normalised image embedding; being affine it collapses (in double, at load) to one vector
 *    v and a bias b, and MLP(e/|e|) = |v|·cos(e, v) + b exactly.
 * A call scores a batch of [0, 1] RGB images [N, 3·H·W] and writes one float each. This file holds
 * the shared machinery (clip_reward.h) and clip_score; aesthetic.c builds on it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "formats/clip_vocab.h"
#include "formats/tokenizer.h"
#include "ops/op_fill.h"
#include "ops/op_image.h"
#include "ops/op_reduce.h"
#include "rewards/clip_reward.h"
#include "rewards/clip_score.h"
#include "rewards/reward_type.h"

void evk__clip_reward_destroy(void *impl) {
    evk__clip_reward *r = impl;
    if (!r) return;
    evk_clip_vision_destroy(r->vision);
    evk_clip_projections_free(r->ctx, &r->proj);
    evk_tensor_free(r->ctx, &r->text_embed);
    evk_weights_close(r->ws);
    free(r->pick);
    free(r);
}

evk_tensor evk__clip_reward_pixels(evk_nn *nn, const evk__clip_reward *r, const evk_tensor *images) {
    evk_stream *s = nn->s;
    int64_t n = images->shape[0], S = r->cfg.vision.image_size;
    evk_tensor img = evk_nn_view(nn, images, EVK_SHAPE(n, 3, r->height, r->width));
    evk_tensor resized = img;
    bool own_resized = r->resized_h != r->height || r->resized_w != r->width;
    if (own_resized) {
        resized = evk_nn_new(nn, EVK_SHAPE(n, 3, r->resized_h, r->resized_w));
        if (!nn->status) evk_nn_fail(nn, evk_op_resize_bicubic(s, &img, NULL, &resized));
    }
    evk_tensor pix = evk_nn_new(nn, EVK_SHAPE(n, 3, S, S));
    if (r->letterbox) {
        /* open_clip's ResizeMaxSize: zeros around the resized picture, then the normalisation */
        evk_tensor canvas = evk_nn_new(nn, EVK_SHAPE(n, 3, S, S));
        if (!nn->status) evk_nn_fail(nn, evk_op_fill_bits(s, &canvas.buf, 0, (uint64_t)evk_tensor_numel(&canvas), 0));
        if (!nn->status)
            evk_nn_fail(nn, evk_op_place(s, &resized, (uint32_t)r->resized_h, (uint32_t)r->resized_w, (uint32_t)r->top, (uint32_t)r->left,
                                         &canvas));
        if (!nn->status) evk_nn_fail(nn, evk_op_crop_normalize(s, &canvas, 0, 0, r->pre.image_mean, r->pre.image_std, &pix));
        evk_nn_free(nn, &canvas);
    } else if (!nn->status) {
        evk_nn_fail(nn, evk_op_crop_normalize(s, &resized, (uint32_t)r->top, (uint32_t)r->left, r->pre.image_mean, r->pre.image_std, &pix));
    }
    if (own_resized) evk_nn_free(nn, &resized);
    return pix;
}

void evk__clip_reward_score(evk_nn *nn, const evk__clip_reward *r, evk_tensor *pooled, const evk_tensor *out, float weight, bool accumulate) {
    evk_stream *s = nn->s;
    int64_t n = pooled->shape[0];
    evk_tensor emb = evk_nn_linear(nn, pooled, &r->proj.visual);
    evk_nn_free(nn, pooled);
    evk_tensor cos = evk_nn_new(nn, EVK_SHAPE(n));
    if (!nn->status) evk_nn_fail(nn, evk_op_cosine_rows(s, &emb, &r->text_embed, &cos));
    evk_nn_free(nn, &emb);
    if (!nn->status && (r->scale != 1.0f || r->bias != 0.0f)) evk_nn_fail(nn, evk_op_scale(s, &cos, r->scale, r->bias, &cos));
    /* out = (accumulate ? out : 0) + weight · value */
    evk_tensor o1 = evk_nn_view(nn, out, EVK_SHAPE(n));
    if (!nn->status) {
        if (accumulate) {
            evk_tensor scaled = evk_nn_new(nn, EVK_SHAPE(n));
            if (!nn->status) evk_nn_fail(nn, evk_op_scale(s, &cos, weight, 0.0f, &scaled));
            if (!nn->status) evk_nn_fail(nn, evk_op_add(s, &o1, &scaled, &o1));
            evk_nn_free(nn, &scaled);
        } else {
            evk_nn_fail(nn, evk_op_scale(s, &cos, weight, 0.0f, &o1));
        }
    }
    evk_nn_free(nn, &cos);
}

static evk_status evk__clip_reward_evaluate(void *impl, evk_stream *s, const evk_tensor *samples, const evk_tensor *out,
                                            float weight, bool accumulate) {
    evk__clip_reward *r = impl;
    int64_t n = samples->shape[0];
    evk_nn nn;
    evk_nn_init(&nn, s);
    evk_tensor pix = evk__clip_reward_pixels(&nn, r, samples);
    evk_tensor pooled = evk_nn_new(&nn, EVK_SHAPE(n, r->cfg.vision.hidden_size));
    if (!nn.status) evk_nn_fail(&nn, evk_clip_vision_forward(r->vision, s, &pix, &pooled));
    evk_nn_free(&nn, &pix);
    evk__clip_reward_score(&nn, r, &pooled, out, weight, accumulate);
    return nn.status;
}

evk_status evk__clip_reward_embed_prompt(evk__clip_reward *r, const evk_tokenizer *tok, const char *prompt) {
    evk_context *ctx = r->ctx;
    evk_clip_text *text = NULL;
    evk_stream *st = NULL;
    int32_t *ids = NULL;
    evk_tensor pooled;
    memset(&pooled, 0, sizeof pooled);
    int L = r->cfg.text.max_position_embeddings;
    evk_status s = EVK_OK;
    if (!(ids = malloc((size_t)L * sizeof *ids))) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!s) s = evk_tokenizer_encode(tok, prompt, ids, (size_t)L, NULL);
    if (!s) s = evk_clip_text_load(ctx, &r->cfg.text, r->ws, EVK_DTYPE_F32, &text);
    if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, r->cfg.text.hidden_size}, &pooled);
    if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, r->cfg.projection_dim}, &r->text_embed);
    if (!s) s = evk_stream_create(ctx, &st);
    if (!s) s = evk_stream_begin(st);
    if (!s) s = evk_clip_text_forward(text, st, ids, 1, L, 0, NULL, &pooled);
    if (!s) {
        evk_nn nn;
        evk_nn_init(&nn, st);
        evk_tensor e = evk_nn_linear(&nn, &pooled, &r->proj.text);
        if (!nn.status) evk_nn_fail(&nn, evk_op_scale(st, &e, 1.0f, 0.0f, &r->text_embed));
        evk_nn_free(&nn, &e);
        s = nn.status;
    }
    if (!s) s = evk_stream_run(st);
    evk_stream_destroy(st);
    evk_tensor_free(ctx, &pooled);
    evk_clip_text_destroy(text);
    free(ids);
    return s;
}

/* The CLIP folder's configs, preprocessing geometry, vision tower and projections. */
evk_status evk__clip_reward_open(evk_context *ctx, const char *folder, uint32_t height, uint32_t width, evk__clip_reward **out) {
    *out = NULL;
    if (!height || !width) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP reward (%s): the image size is not known", folder);
    evk__clip_reward *r = calloc(1, sizeof *r);
    if (!r) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    r->ctx = ctx;
    r->height = height;
    r->width = width;
    r->scale = 1.0f;
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", folder);
    evk_status s = evk_clip_config_load(path, &r->cfg);
    snprintf(path, sizeof path, "%s/preprocessor_config.json", folder);
    struct stat sb;
    if (!s && !stat(path, &sb)) s = evk_clip_preprocess_config_load(path, &r->pre);
    else if (!s) {
        /* no preprocessor file (e.g. PickScore_v1, whose processor is laion's): CLIPImageProcessor's
         * defaults at the tower's size */
        char json[160];
        snprintf(json, sizeof json, "{\"size\":{\"shortest_edge\":%d},\"crop_size\":%d}", r->cfg.vision.image_size, r->cfg.vision.image_size);
        s = evk_clip_preprocess_config_parse(json, "CLIPImageProcessor defaults", &r->pre);
    }
    if (!s && r->pre.do_resize && r->pre.shortest_edge <= 0)
        s = evk_fail(EVK_ERROR_UNSUPPORTED, "%s: only {\"shortest_edge\": N} resizing is supported", path);
    if (!s) {
        int64_t shortest = r->pre.do_resize ? (int64_t)r->pre.shortest_edge : (int64_t)(height < width ? height : width);
        evk_image_resize_shape(height, width, shortest, &r->resized_h, &r->resized_w);
        if (!r->pre.do_resize) r->resized_h = height, r->resized_w = width;
        int64_t S = r->cfg.vision.image_size;
        r->top = (r->resized_h - S) / 2;
        r->left = (r->resized_w - S) / 2;
        if (!r->pre.do_center_crop || r->pre.crop_height != S || r->pre.crop_width != S || r->resized_h < S || r->resized_w < S)
            s = evk_fail(EVK_ERROR_UNSUPPORTED, "%s: the preprocessing must center-crop %lldx%lld (the vision tower's size) from "
                         "the resized %lldx%lld image", path, (long long)S, (long long)S, (long long)r->resized_h,
                         (long long)r->resized_w);
    }
    if (!s) s = evk_weights_open(ctx, folder, &r->ws);
    if (!s) s = evk_clip_vision_load(ctx, &r->cfg.vision, r->ws, EVK_DTYPE_F32, &r->vision);
    if (!s) s = evk_clip_projections_load(&r->cfg, r->ws, EVK_DTYPE_F32, &r->proj);
    if (s) {
        evk__clip_reward_destroy(r);
        return s;
    }
    *out = r;
    return EVK_OK;
}

const evk_reward_ops evk__clip_reward_ops = {.evaluate = evk__clip_reward_evaluate, .destroy = evk__clip_reward_destroy};

evk_status evk_reward_clip_score_create(evk_context *ctx, const char *folder, const char *prompt, uint32_t height,
                                        uint32_t width, evk_reward **out) {
    *out = NULL;
    if (!prompt) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "clip_score reward (%s): a prompt is required", folder);
    evk__clip_reward *r;
    evk_status s = evk__clip_reward_open(ctx, folder, height, width, &r);
    if (s) return evk_fail_context(s, "clip_score reward from %s", folder);
    evk_tokenizer *tok = NULL;
    /* the prompt's embedding, once */
    char vocab[1100];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", folder);
    struct stat sb;
    if (!stat(vocab, &sb)) s = evk_tokenizer_load(folder, &tok);
    else { /* no vocabulary files (PickScore_v1): CLIP's own, built in */
        evk_tokenizer_config tc;
        s = evk_tokenizer_config_load(folder, &tc);
        if (!s) s = evk_tokenizer_load_builtin(&tc, &tok);
    }
    if (!s) s = evk__clip_reward_embed_prompt(r, tok, prompt);
    evk_tokenizer_destroy(tok);
    if (s) {
        evk__clip_reward_destroy(r);
        return evk_fail_context(s, "clip_score reward from %s", folder);
    }
    return evk_reward_create(ctx, &evk__clip_reward_ops, "clip_score", (int64_t)3 * height * width, r, out);
}

static evk_status evk__clip_score_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    const char *what = j->what;
    const evk_reward_options *opt = j->opt;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!cJSON_IsString(m) || !m->valuestring[0])
        return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s (clip_score) needs a string \"model\" (a CLIPModel folder)", what, path);
    char dir[1024];
    evk__reward_resolve(j, m->valuestring, dir, sizeof dir);
    evk_status st = evk_reward_clip_score_create(j->ctx, dir, opt ? opt->prompt : NULL, opt ? opt->image_height : 0,
                                                 opt ? opt->image_width : 0, out);
    if (st) evk_fail_context(st, "reward %s", what);
    return st;
}

const evk_reward_type evk__reward_type_clip_score = {"clip_score", evk__clip_score_parse};
