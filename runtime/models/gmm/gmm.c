/* gmm.c — the exact Gaussian-mixture model family: JSON parsing with clear errors, the parameter
 * buffer, the C entry of shaders/models/gmm.comp, and the registry's probe and loader. Searches
 * on it can be scored against ground truth, since its denoiser is exact at every noise level. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "core/file.h"
#include "models/gmm/gmm.h"
#include "ops/op_reduce.h"
#include "ops/ops_internal.h"
#include "samplers/sampler.h"

typedef struct evk__gmm {
    evk_context *ctx;
    evk_gmm_desc desc;
    double *weights, *means, *stds;
    evk_tensor params; /* per component: log w, s², μ[D] */
} evk__gmm;

static void evk__gmm_destroy(void *impl) {
    evk__gmm *g = impl;
    if (!g) return;
    evk_tensor_free(g->ctx, &g->params);
    free(g->weights);
    free(g->means);
    free(g->stds);
    free(g);
}

static evk_status evk__gmm_forward(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out) {
    evk__gmm *g = impl;
    evk_context *ctx = evk_stream_context(s);
    const uint32_t local = 64;
    evk_pipeline_desc desc = {.shader = "gmm", .binding_count = 5, .push_size = 28, .spec_count = 2,
                              .spec = {local, (uint32_t)g->desc.prediction}};
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));
    int64_t rows = in->x->shape[0];
    if (rows > 0xffffffffll || rows * (int64_t)g->desc.dim > 0xffffffffll)
        return evk__shape_fail("gmm forward", "x", in->x, "fewer than 2^32 elements");
    struct { uint32_t rows, dim, comps, x_off, a_off, s_off, out_off; } push = {(uint32_t)rows, g->desc.dim, g->desc.components, 0, 0, 0, 0};
    evk_binding b[5];
    uint32_t unused;
    EVK_TRY(evk__bind_view(ctx, in->x, EVK_ACCESS_READ, "gmm x", &b[0], &push.x_off));
    EVK_TRY(evk__bind_view(ctx, in->alpha, EVK_ACCESS_READ, "gmm alpha", &b[1], &push.a_off));
    EVK_TRY(evk__bind_view(ctx, in->sigma, EVK_ACCESS_READ, "gmm sigma", &b[2], &push.s_off));
    EVK_TRY(evk__bind_view(ctx, &g->params, EVK_ACCESS_READ, "gmm parameters", &b[3], &unused));
    EVK_TRY(evk__bind_view(ctx, out, EVK_ACCESS_WRITE, "gmm output", &b[4], &push.out_off));
    evk_dispatch d = {.pipeline = pipe, .bindings = b, .binding_count = 5, .push = &push, .push_size = sizeof push, .label = "gmm"};
    evk__grid_1d((uint64_t)rows, local, d.groups);
    return evk_stream_dispatch(s, &d);
}

/* DDIM (η = 1) on trailing timesteps for VP mixtures, the stochastic flow sampler for flow ones:
 * the samplers the search experiments use. */
static evk_status evk__gmm_sampler_config(void *impl, uint32_t steps, evk_sampler_config *out) {
    evk__gmm *g = impl;
    *out = (evk_sampler_config){.kind = g->desc.schedule == EVK_SCHEDULE_FLOW ? EVK_SAMPLER_FLOW_SDE : EVK_SAMPLER_DDIM,
                                .schedule = g->desc.schedule, .prediction = g->desc.prediction, .steps = steps, .eta = 1,
                                .spacing = EVK_SPACING_TRAILING, .shift = 1};
    return EVK_OK;
}

static const evk_model_ops evk__gmm_ops = {.forward = evk__gmm_forward, .sampler_config = evk__gmm_sampler_config,
                                           .destroy = evk__gmm_destroy};

evk_status evk_model_gmm_create(evk_context *ctx, const evk_gmm_desc *desc, evk_model **out) {
    *out = NULL;
    if (!desc || desc->dim < 1 || desc->components < 1 || desc->components > EVK_GMM_MAX_COMPONENTS)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "gmm: %u components in %u dimensions, expected 1..%d components and dim >= 1",
                        desc ? desc->components : 0, desc ? desc->dim : 0, EVK_GMM_MAX_COMPONENTS);
    if (desc->dim > (1u << 24)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "gmm: dim %u is too large", desc->dim);
    if (desc->schedule == EVK_SCHEDULE_VP ? desc->prediction == EVK_OUTPUT_FLOW
                                          : (desc->prediction != EVK_OUTPUT_FLOW && desc->prediction != EVK_OUTPUT_X0))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "gmm: prediction \"%s\" does not go with the %s schedule (vp: eps, v, x0; flow: flow, x0)",
                        evk_model_output_name(desc->prediction), evk_schedule_name(desc->schedule));
    uint32_t K = desc->components, D = desc->dim;
    double wsum = 0;
    for (uint32_t k = 0; k < K; k++) {
        if (!(desc->weights[k] > 0) || !isfinite(desc->weights[k]))
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "gmm: component %u has weight %g, expected > 0", k, desc->weights[k]);
        if (!(desc->stds[k] > 0) || !isfinite(desc->stds[k]))
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "gmm: component %u has std %g, expected > 0", k, desc->stds[k]);
        for (uint32_t d = 0; d < D; d++)
            if (!isfinite(desc->means[(size_t)k * D + d]))
                return evk_fail(EVK_ERROR_NUMERIC, "gmm: component %u mean[%u] is not finite", k, d);
        wsum += desc->weights[k];
    }
    evk__gmm *g = calloc(1, sizeof *g);
    if (!g) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    g->ctx = ctx;
    g->desc = *desc;
    g->weights = malloc(K * sizeof(double));
    g->stds = malloc(K * sizeof(double));
    g->means = malloc((size_t)K * D * sizeof(double));
    float *host = malloc((size_t)K * (D + 2) * sizeof(float));
    if (!g->weights || !g->stds || !g->means || !host) {
        free(host);
        evk__gmm_destroy(g);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t k = 0; k < K; k++) {
        g->weights[k] = desc->weights[k] / wsum;
        g->stds[k] = desc->stds[k];
        memcpy(g->means + (size_t)k * D, desc->means + (size_t)k * D, D * sizeof(double));
        float *row = host + (size_t)k * (D + 2);
        row[0] = (float)log(g->weights[k]);
        row[1] = (float)(desc->stds[k] * desc->stds[k]);
        for (uint32_t d = 0; d < D; d++) row[2 + d] = (float)desc->means[(size_t)k * D + d];
    }
    g->desc.weights = g->weights;
    g->desc.means = g->means;
    g->desc.stds = g->stds;
    int64_t shape[2] = {K, D + 2};
    evk_status st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, shape, &g->params);
    if (!st) st = evk_tensor_upload_f32(ctx, &g->params, host);
    free(host);
    if (st) {
        evk__gmm_destroy(g);
        return st;
    }
    evk_model_info info = {.family = "gmm", .schedule = desc->schedule, .prediction = desc->prediction, .sample_ndim = 1,
                           .sample_shape = {D}, .conditional = false, .scratch_per_item = 0};
    return evk_model_create(ctx, &evk__gmm_ops, &info, g, out);
}

const evk_gmm_desc *evk_model_gmm_desc(const evk_model *m) {
    const evk_model_info *info = evk_model_get_info(m);
    if (strcmp(info->family, "gmm")) return NULL;
    evk__gmm *g = evk_model_impl(m);
    return g ? &g->desc : NULL;
}

static int evk__json_number(const cJSON *o, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return 0;
    *out = v->valuedouble;
    return 1;
}

evk_status evk_model_gmm_parse(evk_context *ctx, const char *json, const char *what, evk_model **out) {
    *out = NULL;
    cJSON *root = cJSON_Parse(json);
    if (!root) return evk_fail(EVK_ERROR_FORMAT, "model %s: not valid JSON", what);
    evk_status st = EVK_OK;
    double *w = NULL, *mu = NULL, *sd = NULL;
    double dimv;
    const cJSON *fam = cJSON_GetObjectItemCaseSensitive(root, "family");
    const cJSON *sch = cJSON_GetObjectItemCaseSensitive(root, "schedule");
    const cJSON *pred = cJSON_GetObjectItemCaseSensitive(root, "prediction");
    const cJSON *comps = cJSON_GetObjectItemCaseSensitive(root, "components");
    evk_gmm_desc desc = {0};
    if (!cJSON_IsString(fam) || strcmp(fam->valuestring, "gmm")) {
        st = evk_fail(EVK_ERROR_FORMAT, "model %s: \"family\" must be \"gmm\"", what);
        goto done;
    }
    if (!evk__json_number(root, "dim", &dimv) || dimv < 1 || dimv > (1 << 24) || dimv != (double)(uint32_t)dimv) {
        st = evk_fail(EVK_ERROR_FORMAT, "model %s: \"dim\" must be a positive integer", what);
        goto done;
    }
    desc.dim = (uint32_t)dimv;
    if (!cJSON_IsString(sch) || (strcmp(sch->valuestring, "vp") && strcmp(sch->valuestring, "flow"))) {
        st = evk_fail(EVK_ERROR_FORMAT, "model %s: \"schedule\" must be \"vp\" or \"flow\"", what);
        goto done;
    }
    desc.schedule = strcmp(sch->valuestring, "vp") ? EVK_SCHEDULE_FLOW : EVK_SCHEDULE_VP;
    if (!pred) desc.prediction = desc.schedule == EVK_SCHEDULE_VP ? EVK_OUTPUT_EPS : EVK_OUTPUT_FLOW;
    else if (!cJSON_IsString(pred)) { st = evk_fail(EVK_ERROR_FORMAT, "model %s: \"prediction\" must be a string", what); goto done; }
    else if (!strcmp(pred->valuestring, "eps")) desc.prediction = EVK_OUTPUT_EPS;
    else if (!strcmp(pred->valuestring, "v")) desc.prediction = EVK_OUTPUT_V;
    else if (!strcmp(pred->valuestring, "x0")) desc.prediction = EVK_OUTPUT_X0;
    else if (!strcmp(pred->valuestring, "flow")) desc.prediction = EVK_OUTPUT_FLOW;
    else { st = evk_fail(EVK_ERROR_FORMAT, "model %s: unknown prediction \"%s\" (eps, v, x0, flow)", what, pred->valuestring); goto done; }
    int K = cJSON_IsArray(comps) ? cJSON_GetArraySize(comps) : 0;
    if (K < 1 || K > EVK_GMM_MAX_COMPONENTS) {
        st = evk_fail(EVK_ERROR_FORMAT, "model %s: \"components\" must be an array of 1..%d components", what, EVK_GMM_MAX_COMPONENTS);
        goto done;
    }
    desc.components = (uint32_t)K;
    w = malloc(K * sizeof *w), sd = malloc(K * sizeof *sd), mu = malloc((size_t)K * desc.dim * sizeof *mu);
    if (!w || !sd || !mu) { st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"); goto done; }
    for (int k = 0; k < K; k++) {
        const cJSON *c = cJSON_GetArrayItem(comps, k);
        const cJSON *mean = cJSON_GetObjectItemCaseSensitive(c, "mean");
        if (!cJSON_IsObject(c) || !evk__json_number(c, "weight", &w[k]) || !evk__json_number(c, "std", &sd[k])) {
            st = evk_fail(EVK_ERROR_FORMAT, "model %s: component %d needs numbers \"weight\" and \"std\"", what, k);
            goto done;
        }
        if (!(w[k] > 0) || !(sd[k] > 0)) {
            st = evk_fail(EVK_ERROR_FORMAT, "model %s: component %d has weight %g and std %g, both must be > 0", what, k, w[k], sd[k]);
            goto done;
        }
        if (!cJSON_IsArray(mean) || cJSON_GetArraySize(mean) != (int)desc.dim) {
            st = evk_fail(EVK_ERROR_FORMAT, "model %s: component %d \"mean\" has %d values, expected dim = %u", what, k,
                          cJSON_IsArray(mean) ? cJSON_GetArraySize(mean) : 0, desc.dim);
            goto done;
        }
        for (uint32_t d = 0; d < desc.dim; d++) {
            const cJSON *v = cJSON_GetArrayItem(mean, (int)d);
            if (!cJSON_IsNumber(v)) {
                st = evk_fail(EVK_ERROR_FORMAT, "model %s: component %d mean[%u] is not a number", what, k, d);
                goto done;
            }
            mu[(size_t)k * desc.dim + d] = v->valuedouble;
        }
    }
    desc.weights = w, desc.means = mu, desc.stds = sd;
    st = evk_model_gmm_create(ctx, &desc, out);
    if (st) evk_fail_context(st, "model %s", what);
done:
    free(w), free(mu), free(sd);
    cJSON_Delete(root);
    return st;
}

bool evk_gmm_probe(const char *path) {
    /* a JSON object first: a multi-gigabyte checkpoint is never read whole to find out */
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\t' || c == '\n' || c == '\r') {}
    fclose(f);
    if (c != '{') return false;
    char *text;
    if (evk_file_read_text(path, (size_t)64 << 20, &text)) return false;
    cJSON *root = cJSON_Parse(text);
    const cJSON *fam = cJSON_GetObjectItemCaseSensitive(root, "family");
    bool ok = cJSON_IsString(fam) && !strcmp(fam->valuestring, "gmm");
    cJSON_Delete(root);
    free(text);
    return ok;
}

evk_status evk_gmm_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out) {
    *out = NULL;
    if (options && (options->storage != EVK_DTYPE_F32 || options->width || options->height || options->config_dir || options->vae_tile ||
                    options->diffusion_model))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "model %s: a Gaussian mixture takes none of the image options (f16 weights, width, height, config folder, "
                        "VAE tiles, a diffusion model file)", path);
    char *text;
    EVK_TRY(evk_file_read_text(path, (size_t)64 << 20, &text));
    evk_status st = evk_model_gmm_parse(ctx, text, path, out);
    free(text);
    return st;
}
