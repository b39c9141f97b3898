/* sum.c — the weighted sum of rewards, r = Σ a_i r_i, e.g. T2V-Turbo's mixed image-text +
 * video-text reward. JSON: {"type":"sum","terms":[{"weight":a,"reward":{...}}, ...]}. */
#include "rewards/sum.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewards/reward_type.h"

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

static evk_status evk__sum_eval_host(void *impl, const float *x, int64_t numel, double *out) {
    const evk__reward_sum *sum = impl;
    double acc = 0, v;
    for (uint32_t i = 0; i < sum->count; i++) {
        EVK_TRY(evk_reward_eval_host(sum->terms[i], x, numel, &v));
        acc += sum->weights[i] * v;
    }
    *out = acc;
    return EVK_OK;
}

static const evk_reward_ops evk__sum_ops = {.evaluate = evk__sum_evaluate, .destroy = evk__sum_destroy, .eval_host = evk__sum_eval_host};

evk_status evk_reward_sum(evk_context *ctx, uint32_t count, evk_reward **terms, const double *weights, evk_reward **out) {
    *out = NULL;
    evk_status st = EVK_OK;
    int64_t numel = 0;
    if (count == 0) st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward sum: no terms");
    for (uint32_t i = 0; i < count && !st; i++) {
        if (!terms[i]) st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward sum: term %u is missing", i);
        else if (!isfinite(weights[i])) st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward sum: term %u has weight %g", i, weights[i]);
        else if (evk_reward_sample_numel(terms[i]) && numel && evk_reward_sample_numel(terms[i]) != numel)
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "reward sum: term %u scores %lld elements per sample, an earlier term %lld", i,
                          (long long)evk_reward_sample_numel(terms[i]), (long long)numel);
        else if (evk_reward_sample_numel(terms[i])) numel = evk_reward_sample_numel(terms[i]);
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

static evk_status evk__sum_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    const char *what = j->what;
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
        evk__reward_json sub_j = *j;
        sub_j.depth++;
        st = evk__reward_from_json(cJSON_GetObjectItemCaseSensitive(term, "reward"), sub, &sub_j, &rs[i]);
    }
    if (st) {
        for (int i = 0; i < n && rs; i++) evk_reward_destroy(rs[i]);
        free(rs), free(ws);
        return st;
    }
    st = evk_reward_sum(j->ctx, (uint32_t)n, rs, ws, out);
    free(rs), free(ws);
    if (st) evk_fail_context(st, "reward %s", what);
    return st;
}

const evk_reward_type evk__reward_type_sum = {"sum", evk__sum_parse};
