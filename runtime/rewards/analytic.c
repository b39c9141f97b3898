/* analytic.c — analytic rewards on vectors (the Gaussian-mixture toy), evaluated by
 * shaders/rewards/reward.comp with a double-precision host evaluation for references and reports:
 *   {"type":"linear","direction":[...]}                  r = d·x
 *   {"type":"gaussian_bump","center":[...],"width":w}    r = exp(−|x − c|² / 2w²)
 *   {"type":"neg_distance","center":[...]}               r = −|x − c|            */
#include "rewards/analytic.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"
#include "rewards/reward_type.h"

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

static const char *evk__analytic_names[] = {"linear", "gaussian_bump", "neg_distance"};

static evk_status evk__analytic_eval_host(void *impl, const float *x, int64_t numel, double *out) {
    const evk__analytic *a = impl;
    if (numel != a->dim)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward %s: %lld elements, expected %u", evk__analytic_names[a->kind], (long long)numel, a->dim);
    double s = 0;
    for (uint32_t i = 0; i < a->dim; i++) {
        if (a->kind == EVK_REWARD_LINEAR) s += a->vec[i] * x[i];
        else s += (x[i] - a->vec[i]) * (x[i] - a->vec[i]);
    }
    *out = a->kind == EVK_REWARD_LINEAR ? s : a->kind == EVK_REWARD_GAUSSIAN_BUMP ? exp(-s / (2 * a->width * a->width)) : -sqrt(s);
    return EVK_OK;
}

static const evk_reward_ops evk__analytic_ops = {.evaluate = evk__analytic_evaluate, .destroy = evk__analytic_destroy,
                                                .eval_host = evk__analytic_eval_host};

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

static evk_status evk__analytic_parse(evk_analytic_kind kind, const cJSON *o, const char *path, const evk__reward_json *j,
                                      evk_reward **out) {
    const char *what = j->what, *t = evk__analytic_names[kind];
    const char *vec_key = kind == EVK_REWARD_LINEAR ? "direction" : "center";
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
    evk_status st = evk_reward_analytic_create(j->ctx, kind, (uint32_t)n, vec, width, out);
    free(vec);
    if (st) evk_fail_context(st, "reward %s", what);
    return st;
}

static evk_status evk__linear_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    return evk__analytic_parse(EVK_REWARD_LINEAR, o, path, j, out);
}
static evk_status evk__bump_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    return evk__analytic_parse(EVK_REWARD_GAUSSIAN_BUMP, o, path, j, out);
}
static evk_status evk__distance_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    return evk__analytic_parse(EVK_REWARD_NEG_DISTANCE, o, path, j, out);
}

const evk_reward_type evk__reward_type_linear = {"linear", evk__linear_parse};
const evk_reward_type evk__reward_type_gaussian_bump = {"gaussian_bump", evk__bump_parse};
const evk_reward_type evk__reward_type_neg_distance = {"neg_distance", evk__distance_parse};
