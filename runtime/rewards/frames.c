/* frames.c — the mean of an image reward over the frames of clips (see frames.h). The clips'
 * picked frames are gathered into one batch [N·K, frame] (a view when every frame is used, else
 * K strided copies), the image reward scores it with weight w/K, and a row sum of [N, K] gives
 * w·mean per clip. */
#include "rewards/frames.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "ops/op_elementwise.h"
#include "ops/op_reduce.h"
#include "rewards/reward_type.h"

typedef struct evk__frame_mean {
    evk_context *ctx;
    evk_reward *image;
    uint32_t frames, used;
    int64_t frame_numel;
    uint32_t *pick; /* [used] */
} evk__frame_mean;

uint32_t evk_reward_frame_pick(uint32_t frames, uint32_t max_frames, uint32_t *out) {
    uint32_t k = max_frames && max_frames < frames ? max_frames : frames;
    for (uint32_t i = 0; i < k; i++)
        out[i] = k == frames ? i : k == 1 ? (frames - 1) / 2 : (uint32_t)lround((double)i * (frames - 1) / (k - 1));
    return k;
}

static void evk__frame_mean_destroy(void *impl) {
    evk__frame_mean *f = impl;
    evk_reward_destroy(f->image);
    free(f->pick);
    free(f);
}

static evk_status evk__frame_mean_evaluate(void *impl, evk_stream *s, const evk_tensor *clips, const evk_tensor *out, float weight,
                                           bool accumulate) {
    evk__frame_mean *f = impl;
    int64_t n = clips->shape[0], K = f->used, fn = f->frame_numel;
    evk_nn nn;
    evk_nn_init(&nn, s);
    evk_tensor batch;
    bool own = K != (int64_t)f->frames;
    if (!own) {
        batch = evk_nn_view(&nn, clips, EVK_SHAPE(n * K, fn));
    } else {
        /* frame pick[k] of every clip into rows k, K + k, 2K + k, ... */
        batch = evk_nn_new(&nn, EVK_SHAPE(n * K, fn));
        uint64_t fb = (uint64_t)fn * 4;
        for (int64_t k = 0; k < K && !nn.status; k++)
            evk_nn_fail(&nn, evk_stream_copy_strided(s, &clips->buf, f->pick[k] * fb, f->frames * fb, &batch.buf,
                                                     (uint64_t)k * fb, (uint64_t)K * fb, fb, (uint64_t)n));
    }
    evk_tensor per = evk_nn_new(&nn, EVK_SHAPE(n * K));
    if (!nn.status) evk_nn_fail(&nn, evk_reward_evaluate_into(f->image, s, &batch, &per, weight / (float)K, false));
    if (own) evk_nn_free(&nn, &batch);
    evk_tensor pv = evk_nn_view(&nn, &per, EVK_SHAPE(n, K)), o1 = evk_nn_view(&nn, out, EVK_SHAPE(n));
    if (!accumulate) {
        if (!nn.status) evk_nn_fail(&nn, evk_op_reduce_rows(s, &pv, EVK_REDUCE_SUM, &o1));
    } else {
        evk_tensor m = evk_nn_new(&nn, EVK_SHAPE(n));
        if (!nn.status) evk_nn_fail(&nn, evk_op_reduce_rows(s, &pv, EVK_REDUCE_SUM, &m));
        if (!nn.status) evk_nn_fail(&nn, evk_op_add(s, &o1, &m, &o1));
        evk_nn_free(&nn, &m);
    }
    evk_nn_free(&nn, &per);
    return nn.status;
}

static evk_status evk__frame_mean_eval_host(void *impl, const float *clip, int64_t numel, double *out) {
    const evk__frame_mean *f = impl;
    if (numel != (int64_t)f->frames * f->frame_numel)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "frame_mean: a clip of %lld values, expected %u frames of %lld", (long long)numel,
                        f->frames, (long long)f->frame_numel);
    double acc = 0, v;
    for (uint32_t k = 0; k < f->used; k++) {
        EVK_TRY(evk_reward_eval_host(f->image, clip + (size_t)f->pick[k] * f->frame_numel, f->frame_numel, &v));
        acc += v;
    }
    *out = acc / f->used;
    return EVK_OK;
}

static const evk_reward_ops evk__frame_mean_ops = {
    .evaluate = evk__frame_mean_evaluate, .destroy = evk__frame_mean_destroy, .eval_host = evk__frame_mean_eval_host};

evk_status evk_reward_frame_mean(evk_context *ctx, evk_reward *image, uint32_t frames, int64_t frame_numel, uint32_t max_frames,
                                 evk_reward **out) {
    *out = NULL;
    if (!image) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "frame_mean: no image reward");
    evk_status st = EVK_OK;
    if (!frames || frames > 65536 || frame_numel <= 0)
        st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "frame_mean: %u frames of %lld values", frames, (long long)frame_numel);
    else if (evk_reward_sample_numel(image) && evk_reward_sample_numel(image) != frame_numel)
        st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "frame_mean: reward %s scores samples of %lld values, a frame has %lld",
                      evk_reward_name(image), (long long)evk_reward_sample_numel(image), (long long)frame_numel);
    evk__frame_mean *f = st ? NULL : calloc(1, sizeof *f);
    if (f) f->pick = malloc(frames * sizeof *f->pick);
    if (!st && (!f || !f->pick)) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (st) {
        if (f) free(f->pick), free(f);
        evk_reward_destroy(image);
        return st;
    }
    f->ctx = ctx, f->image = image, f->frames = frames, f->frame_numel = frame_numel;
    f->used = evk_reward_frame_pick(frames, max_frames, f->pick);
    char name[64];
    snprintf(name, sizeof name, "frame_mean(%s)", evk_reward_name(image));
    return evk_reward_create(ctx, &evk__frame_mean_ops, name, (int64_t)frames * frame_numel, f, out);
}

/* Values of one frame under the options (0: no frames or no image size given). */
int64_t evk__reward_frame_numel(const evk__reward_json *j) {
    const evk_reward_options *o = j->opt;
    return o && o->frames && o->image_height && o->image_width ? (int64_t)3 * o->image_height * o->image_width : 0;
}

static evk_status evk__frame_mean_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    const char *what = j->what;
    int64_t fn = evk__reward_frame_numel(j);
    if (!fn)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward %s: %s (frame_mean) scores videos, and these samples are not videos", what,
                        path);
    const cJSON *cap = cJSON_GetObjectItemCaseSensitive(o, "max_frames");
    if (cap && !(cJSON_IsNumber(cap) && cap->valuedouble >= 1 && cap->valuedouble <= 65536 && cap->valuedouble == floor(cap->valuedouble)))
        return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s \"max_frames\" must be an integer from 1 to 65536", what, path);
    /* the inner reward scores single frames: parsed without the frame count (no second wrapping) */
    evk_reward_options inner_opt = *j->opt;
    inner_opt.frames = 0;
    evk__reward_json sub = *j;
    sub.opt = &inner_opt;
    sub.depth++;
    char sub_path[256];
    snprintf(sub_path, sizeof sub_path, "%s.reward", path);
    evk_reward *image = NULL;
    EVK_TRY(evk__reward_from_json(cJSON_GetObjectItemCaseSensitive(o, "reward"), sub_path, &sub, &image));
    evk_status st = evk_reward_frame_mean(j->ctx, image, j->opt->frames, fn, cap ? (uint32_t)cap->valuedouble : 0, out);
    if (st) evk_fail_context(st, "reward %s", what);
    return st;
}

const evk_reward_type evk__reward_type_frame_mean = {"frame_mean", evk__frame_mean_parse};
