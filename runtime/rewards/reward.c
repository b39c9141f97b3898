/* reward.c — the reward object and the registry of reward types: JSON "type" → the family's
 * parser (reward_type.h), with messages that say what is wrong and list the known types. */
#include "rewards/reward.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "ops/op_reduce.h"
#include "ops/ops_internal.h"
#include "rewards/reward_type.h"

/* The registry: adding a reward family is its file and one line here. */
static const evk_reward_type *const evk__reward_types[] = {
    &evk__reward_type_linear, &evk__reward_type_gaussian_bump, &evk__reward_type_neg_distance,
    &evk__reward_type_clip_score, &evk__reward_type_aesthetic, &evk__reward_type_sum, &evk__reward_type_frame_mean,
    &evk__reward_type_hpsv2, &evk__reward_type_viclip,
};
#define EVK__REWARD_TYPES (sizeof evk__reward_types / sizeof evk__reward_types[0])

uint32_t evk_reward_type_count(void) { return (uint32_t)EVK__REWARD_TYPES; }
const char *evk_reward_type_name(uint32_t i) { return i < EVK__REWARD_TYPES ? evk__reward_types[i]->type : NULL; }

struct evk_reward {
    evk_context *ctx;
    evk_reward_ops ops;
    char name[64];
    int64_t numel;
    void *impl;
};

evk_status evk_reward_create(evk_context *ctx, const evk_reward_ops *ops, const char *name, int64_t sample_numel, void *impl,
                             evk_reward **out) {
    *out = NULL;
    if (!ops || !ops->evaluate) {
        if (ops && ops->destroy && impl) ops->destroy(impl);
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_reward_create: an evaluate callback is required");
    }
    evk_reward *r = calloc(1, sizeof *r);
    if (!r) {
        if (ops->destroy && impl) ops->destroy(impl);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory creating a reward");
    }
    r->ctx = ctx;
    r->ops = *ops;
    snprintf(r->name, sizeof r->name, "%s", name ? name : "reward");
    r->numel = sample_numel;
    r->impl = impl;
    *out = r;
    return EVK_OK;
}

void evk_reward_destroy(evk_reward *r) {
    if (!r) return;
    if (r->ops.destroy && r->impl) r->ops.destroy(r->impl);
    free(r);
}

const char *evk_reward_name(const evk_reward *r) { return r->name; }
int64_t evk_reward_sample_numel(const evk_reward *r) { return r->numel; }

evk_status evk_reward_evaluate_into(evk_reward *r, evk_stream *s, const evk_tensor *samples, const evk_tensor *out, float weight,
                                    bool accumulate) {
    if (!samples || !samples->buf.block || samples->dtype != EVK_DTYPE_F32 || samples->ndim < 1)
        return evk__shape_fail(r->name, "samples", samples, "an f32 tensor [N, ...]");
    int64_t n = samples->shape[0];
    if (r->numel && evk_tensor_row_numel(samples) != r->numel) {
        char want[64];
        snprintf(want, sizeof want, "rows of %lld elements", (long long)r->numel);
        return evk__shape_fail(r->name, "samples", samples, want);
    }
    if (!out || !out->buf.block || out->dtype != EVK_DTYPE_F32 || evk_tensor_numel(out) != n) {
        char want[64];
        snprintf(want, sizeof want, "f32 with %lld elements (one per sample)", (long long)n);
        return evk__shape_fail(r->name, "out", out, want);
    }
    return r->ops.evaluate(r->impl, s, samples, out, weight, accumulate);
}

evk_status evk_reward_evaluate(evk_reward *r, evk_stream *s, const evk_tensor *samples, const evk_tensor *out) {
    return evk_reward_evaluate_into(r, s, samples, out, 1.0f, false);
}

evk_status evk_reward_eval_host(const evk_reward *r, const float *sample, int64_t numel, double *out) {
    if (!r->ops.eval_host) return evk_fail(EVK_ERROR_UNSUPPORTED, "reward %s has no host evaluation", r->name);
    return r->ops.eval_host(r->impl, sample, numel, out);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

void evk__reward_resolve(const evk__reward_json *j, const char *rel, char *out, size_t size) {
    const char *base = j->opt && j->opt->base_dir ? j->opt->base_dir : NULL;
    if (rel[0] == '/' || !base) snprintf(out, size, "%s", rel);
    else snprintf(out, size, "%s/%s", base, rel);
}

evk_status evk__reward_from_json(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    *out = NULL;
    const char *what = j->what;
    if (j->depth > 16) return evk_fail(EVK_ERROR_FORMAT, "reward %s: sums nested deeper than 16 at %s", what, path);
    if (!cJSON_IsObject(o)) return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s is not an object", what, path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(type)) return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s has no \"type\" string", what, path);
    for (size_t i = 0; i < EVK__REWARD_TYPES; i++)
        if (!strcmp(type->valuestring, evk__reward_types[i]->type)) {
        {
            EVK_TRY(evk__reward_types[i]->parse(o, path, j, out));
            /* samples that are videos: an image reward scores a clip as its mean over the frames */
            int64_t fn = evk__reward_frame_numel(j);
            if (fn && evk_reward_sample_numel(*out) == fn) {
                evk_reward *image = *out;
                *out = NULL;
                evk_status st = evk_reward_frame_mean(j->ctx, image, j->opt->frames, fn, 0, out);
                if (st) evk_fail_context(st, "reward %s: %s", what, path);
                return st;
            }
            return EVK_OK;
        }
        }
    char list[256];
    size_t u = 0;
    list[0] = 0;
    for (size_t i = 0; i < EVK__REWARD_TYPES && u < sizeof list; i++)
        u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "", evk__reward_types[i]->type);
    return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s has unknown type \"%s\" (%s)", what, path, type->valuestring, list);
}

evk_status evk_reward_parse_with(evk_context *ctx, const char *json, const char *what, const evk_reward_options *options,
                                 evk_reward **out) {
    *out = NULL;
    cJSON *root = cJSON_Parse(json);
    if (!root) return evk_fail(EVK_ERROR_FORMAT, "reward %s: not valid JSON", what);
    evk__reward_json j = {.ctx = ctx, .what = what, .opt = options, .depth = 0};
    evk_status st = evk__reward_from_json(root, "the top level", &j, out);
    cJSON_Delete(root);
    return st;
}

evk_status evk_reward_parse(evk_context *ctx, const char *json, const char *what, evk_reward **out) {
    return evk_reward_parse_with(ctx, json, what, NULL, out);
}

evk_status evk_reward_load_with(evk_context *ctx, const char *path, const evk_reward_options *options, evk_reward **out) {
    *out = NULL;
    char *text;
    EVK_TRY(evk_file_read_text(path, (size_t)64 << 20, &text));
    evk_reward_options opt = {0};
    if (options) opt = *options;
    char dir[1024];
    if (!opt.base_dir) {
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        opt.base_dir = dir;
    }
    evk_status st = evk_reward_parse_with(ctx, text, path, &opt, out);
    free(text);
    return st;
}

evk_status evk_reward_load(evk_context *ctx, const char *path, evk_reward **out) {
    return evk_reward_load_with(ctx, path, NULL, out);
}
