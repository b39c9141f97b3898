/* reward.c — the reward object, weighted sums, the analytic family (shaders/rewards/reward.comp) with a
 * double-precision host evaluation, and JSON parsing with messages that say what is wrong. */
#include "rewards/reward.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "ops/op_reduce.h"
#include "ops/ops_internal.h"

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

/* ---- sums ------------------------------------------------------------------------------------ */

typedef struct evk__reward_sum {
    uint32_t count;
    evk_reward **terms;
    double *weights;
} evk__reward_sum;

static void evk__sum_destroy(void *impl) {
    evk__reward_sum *sum = impl;
    for (uint32_t i = 0; i < sum->count; i++) evk_reward_destroy(sum->terms[i]);
    free(sum->terms);
    free(sum->weights);
    free(sum);
}

static evk_status evk__sum_evaluate(void *impl, evk_stream *s, const evk_tensor *x, const evk_tensor *out, float weight, bool acc) {
    evk__reward_sum *sum = impl;
    for (uint32_t i = 0; i < sum->count; i++)
        EVK_TRY(evk_reward_evaluate_into(sum->terms[i], s, x, out, (float)(weight * sum->weights[i]), acc || i > 0));
    return EVK_OK;
}

static const evk_reward_ops evk__sum_ops = {.evaluate = evk__sum_evaluate, .destroy = evk__sum_destroy};

evk_status evk_reward_sum(evk_context *ctx, uint32_t count, evk_reward **terms, const double *weights, evk_reward **out) {
    *out = NULL;
    evk_status st = EVK_OK;
    int64_t numel = 0;
    if (count == 0) st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward sum: no terms");
    for (uint32_t i = 0; i < count && !st; i++) {
        if (!terms[i]) st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward sum: term %u is missing", i);
        else if (!isfinite(weights[i])) st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward sum: term %u has weight %g", i, weights[i]);
        else if (terms[i]->numel && numel && terms[i]->numel != numel)
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward sum: term %u scores %lld elements per sample, an earlier term %lld", i,
                          (long long)terms[i]->numel, (long long)numel);
        else if (terms[i]->numel) numel = terms[i]->numel;
    }
    evk__reward_sum *sum = st ? NULL : calloc(1, sizeof *sum);
    if (sum) {
        sum->terms = malloc(count * sizeof *sum->terms);
        sum->weights = malloc(count * sizeof *sum->weights);
    }
    if (!st && (!sum || !sum->terms || !sum->weights)) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (st) {
        for (uint32_t i = 0; i < count; i++) evk_reward_destroy(terms[i]);
        if (sum) free(sum->terms), free(sum->weights), free(sum);
        return st;
    }
    sum->count = count;
    memcpy(sum->terms, terms, count * sizeof *terms);
    memcpy(sum->weights, weights, count * sizeof *weights);
    return evk_reward_create(ctx, &evk__sum_ops, "sum", numel, sum, out);
}

/* ---- analytic -------------------------------------------------------------------------------- */

typedef struct evk__analytic {
    evk_context *ctx;
    evk_analytic_kind kind;
    uint32_t dim;
    double *vec, width;
    evk_tensor dev;
} evk__analytic;

static void evk__analytic_destroy(void *impl) {
    evk__analytic *a = impl;
    evk_tensor_free(a->ctx, &a->dev);
    free(a->vec);
    free(a);
}

static evk_status evk__analytic_evaluate(void *impl, evk_stream *s, const evk_tensor *x, const evk_tensor *out, float weight,
                                         bool acc) {
    evk__analytic *a = impl;
    evk_context *ctx = evk_stream_context(s);
    const uint32_t local = 64;
    evk_pipeline_desc desc = {.shader = "reward", .binding_count = 3, .push_size = 28, .spec_count = 2, .spec = {local, (uint32_t)a->kind}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    int64_t rows = x->shape[0];
    if (rows > 0xffffffffll || rows * (int64_t)a->dim > 0xffffffffll) return evk__shape_fail("analytic reward", "samples", x, "fewer than 2^32 elements");
    struct { uint32_t rows, dim, x_off, o_off, accumulate; float weight, inv; } push = {
        (uint32_t)rows, a->dim, 0, 0, acc, weight, (float)(a->kind == EVK_REWARD_GAUSSIAN_BUMP ? 1.0 / (2 * a->width * a->width) : 0)};
    evk_binding b[3];
    uint32_t unused;
    EVK_TRY(evk__bind_view(ctx, x, EVK_ACCESS_READ, "reward samples", &b[0], &push.x_off));
    EVK_TRY(evk__bind_view(ctx, &a->dev, EVK_ACCESS_READ, "reward parameters", &b[1], &unused));
    EVK_TRY(evk__bind_view(ctx, out, acc ? EVK_ACCESS_READ_WRITE : EVK_ACCESS_WRITE, "reward output", &b[2], &push.o_off));
    evk_dispatch d = {.pipeline = pipe, .bindings = b, .binding_count = 3, .push = &push, .push_size = sizeof push, .label = "reward"};
    evk__grid_1d((uint64_t)rows, 1, d.groups);
    return evk_stream_dispatch(s, &d);
}

static const evk_reward_ops evk__analytic_ops = {.evaluate = evk__analytic_evaluate, .destroy = evk__analytic_destroy};

static const char *evk__analytic_names[] = {"linear", "gaussian_bump", "neg_distance"};

evk_status evk_reward_analytic_create(evk_context *ctx, evk_analytic_kind kind, uint32_t dim, const double *vec, double width,
                                      evk_reward **out) {
    *out = NULL;
    if ((unsigned)kind > EVK_REWARD_NEG_DISTANCE) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "analytic reward: unknown kind %d", (int)kind);
    if (dim < 1 || dim > (1u << 24)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "analytic reward: dim %u", dim);
    if (kind == EVK_REWARD_GAUSSIAN_BUMP && !(width > 0 && isfinite(width)))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "gaussian_bump reward: width %g, expected > 0", width);
    for (uint32_t i = 0; i < dim; i++)
        if (!isfinite(vec[i])) return evk_fail(EVK_ERROR_NUMERIC, "%s reward: element %u is not finite", evk__analytic_names[kind], i);
    evk__analytic *a = calloc(1, sizeof *a);
    float *host = malloc(dim * sizeof *host);
    if (a) a->vec = malloc(dim * sizeof *a->vec);
    if (!a || !host || !a->vec) {
        free(host);
        if (a) free(a->vec), free(a);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    a->ctx = ctx, a->kind = kind, a->dim = dim, a->width = width;
    for (uint32_t i = 0; i < dim; i++) a->vec[i] = vec[i], host[i] = (float)vec[i];
    int64_t shape[1] = {dim};
    evk_status st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, shape, &a->dev);
    if (!st) st = evk_tensor_upload_f32(ctx, &a->dev, host);
    free(host);
    if (st) {
        evk__analytic_destroy(a);
        return st;
    }
    return evk_reward_create(ctx, &evk__analytic_ops, evk__analytic_names[kind], dim, a, out);
}

evk_status evk_reward_eval_host(const evk_reward *r, const float *x, int64_t numel, double *out) {
    if (r->ops.evaluate == evk__sum_evaluate) {
        const evk__reward_sum *sum = r->impl;
        double acc = 0, v;
        for (uint32_t i = 0; i < sum->count; i++) {
            EVK_TRY(evk_reward_eval_host(sum->terms[i], x, numel, &v));
            acc += sum->weights[i] * v;
        }
        *out = acc;
        return EVK_OK;
    }
    if (r->ops.evaluate != evk__analytic_evaluate)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "reward %s has no host evaluation", r->name);
    const evk__analytic *a = r->impl;
    if (numel != a->dim) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward %s: %lld elements, expected %u", r->name, (long long)numel, a->dim);
    double s = 0;
    for (uint32_t i = 0; i < a->dim; i++) {
        if (a->kind == EVK_REWARD_LINEAR) s += a->vec[i] * x[i];
        else s += (x[i] - a->vec[i]) * (x[i] - a->vec[i]);
    }
    *out = a->kind == EVK_REWARD_LINEAR ? s : a->kind == EVK_REWARD_GAUSSIAN_BUMP ? exp(-s / (2 * a->width * a->width)) : -sqrt(s);
    return EVK_OK;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static evk_status evk__reward_from_json(evk_context *ctx, const cJSON *o, const char *what, const char *path, int depth,
                                        const evk_reward_options *opt, evk_reward **out) {
    *out = NULL;
    if (depth > 16) return evk_fail(EVK_ERROR_FORMAT, "reward %s: sums nested deeper than 16 at %s", what, path);
    if (!cJSON_IsObject(o)) return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s is not an object", what, path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(type)) return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s has no \"type\" string", what, path);
    const char *t = type->valuestring;
    if (!strcmp(t, "sum")) {
        const cJSON *terms = cJSON_GetObjectItemCaseSensitive(o, "terms");
        int n = cJSON_IsArray(terms) ? cJSON_GetArraySize(terms) : 0;
        if (n < 1 || n > 64) return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s \"terms\" must be an array of 1..64 terms", what, path);
        evk_reward **rs = calloc((size_t)n, sizeof *rs);
        double *ws = calloc((size_t)n, sizeof *ws);
        evk_status st = rs && ws ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (int i = 0; i < n && !st; i++) {
            const cJSON *term = cJSON_GetArrayItem(terms, i);
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(term, "weight");
            char sub[256];
            snprintf(sub, sizeof sub, "%s.terms[%d]", path, i);
            if (!cJSON_IsObject(term) || !cJSON_IsNumber(w)) {
                st = evk_fail(EVK_ERROR_FORMAT, "reward %s: %s needs a number \"weight\" and an object \"reward\"", what, sub);
                break;
            }
            ws[i] = w->valuedouble;
            strncat(sub, ".reward", sizeof sub - strlen(sub) - 1);
            st = evk__reward_from_json(ctx, cJSON_GetObjectItemCaseSensitive(term, "reward"), what, sub, depth + 1, opt, &rs[i]);
        }
        if (st) {
            for (int i = 0; i < n && rs; i++) evk_reward_destroy(rs[i]);
            free(rs), free(ws);
            return st;
        }
        st = evk_reward_sum(ctx, (uint32_t)n, rs, ws, out);
        free(rs), free(ws);
        if (st) evk_fail_context(st, "reward %s", what);
        return st;
    }
    if (!strcmp(t, "aesthetic")) {
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(o, "clip"), *hd = cJSON_GetObjectItemCaseSensitive(o, "head");
        if (!cJSON_IsString(cl) || !cJSON_IsString(hd) || !cl->valuestring[0] || !hd->valuestring[0])
            return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s (aesthetic) needs strings \"clip\" (a CLIPModel folder) and \"head\" (a safetensors file)",
                            what, path);
        char dir[1024], head[1024];
        const char *base = opt && opt->base_dir ? opt->base_dir : NULL;
        if (cl->valuestring[0] == '/' || !base) snprintf(dir, sizeof dir, "%s", cl->valuestring);
        else snprintf(dir, sizeof dir, "%s/%s", base, cl->valuestring);
        if (hd->valuestring[0] == '/' || !base) snprintf(head, sizeof head, "%s", hd->valuestring);
        else snprintf(head, sizeof head, "%s/%s", base, hd->valuestring);
        evk_status st = evk_reward_aesthetic_create(ctx, dir, head, opt ? opt->image_height : 0, opt ? opt->image_width : 0, out);
        if (st) evk_fail_context(st, "reward %s", what);
        return st;
    }
    if (!strcmp(t, "clip_score")) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
        if (!cJSON_IsString(m) || !m->valuestring[0])
            return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s (clip_score) needs a string \"model\" (a CLIPModel folder)", what, path);
        char dir[1024];
        const char *base = opt && opt->base_dir ? opt->base_dir : NULL;
        if (m->valuestring[0] == '/' || !base) snprintf(dir, sizeof dir, "%s", m->valuestring);
        else snprintf(dir, sizeof dir, "%s/%s", base, m->valuestring);
        evk_status st = evk_reward_clip_score_create(ctx, dir, opt ? opt->prompt : NULL, opt ? opt->image_height : 0,
                                                     opt ? opt->image_width : 0, out);
        if (st) evk_fail_context(st, "reward %s", what);
        return st;
    }
    evk_analytic_kind kind;
    const char *vec_key = "center";
    if (!strcmp(t, "linear")) kind = EVK_REWARD_LINEAR, vec_key = "direction";
    else if (!strcmp(t, "gaussian_bump")) kind = EVK_REWARD_GAUSSIAN_BUMP;
    else if (!strcmp(t, "neg_distance")) kind = EVK_REWARD_NEG_DISTANCE;
    else return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s has unknown type \"%s\" (linear, gaussian_bump, neg_distance, clip_score, aesthetic, sum)", what, path, t);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, vec_key);
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n < 1) return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s (%s) needs a non-empty array \"%s\"", what, path, t, vec_key);
    double width = 0;
    if (kind == EVK_REWARD_GAUSSIAN_BUMP) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "width");
        if (!cJSON_IsNumber(w) || !(w->valuedouble > 0))
            return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s (gaussian_bump) needs a number \"width\" > 0", what, path);
        width = w->valuedouble;
    }
    double *vec = malloc((size_t)n * sizeof *vec);
    if (!vec) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(e)) {
            free(vec);
            return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s \"%s\"[%d] is not a number", what, path, vec_key, i);
        }
        vec[i] = e->valuedouble;
    }
    evk_status st = evk_reward_analytic_create(ctx, kind, (uint32_t)n, vec, width, out);
    free(vec);
    if (st) evk_fail_context(st, "reward %s", what);
    return st;
}

evk_status evk_reward_parse_with(evk_context *ctx, const char *json, const char *what, const evk_reward_options *options,
                                 evk_reward **out) {
    *out = NULL;
    cJSON *root = cJSON_Parse(json);
    if (!root) return evk_fail(EVK_ERROR_FORMAT, "reward %s: not valid JSON", what);
    evk_status st = evk__reward_from_json(ctx, root, what, "the top level", 0, options, out);
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
