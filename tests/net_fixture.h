/* net_fixture.h — reading the network fixtures of tests/data/nets (written by
 * tools/ref/make_fixtures.py): a weight set holding a model's tensors under their real names plus
 * "fixture.*" inputs and expected outputs, host/device transfers of those tensors, the error
 * measure, and the check that a network read every weight it was given. Header-only: each
 * network test includes it once. */
#ifndef EVOKE_TEST_NET_FIXTURE_H
#define EVOKE_TEST_NET_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "formats/safetensors.h"
#include "formats/weights.h"

/* Open tests/data/nets/<name>.safetensors. */
static inline evk_weights *fixture_open(evk_context *ctx, const char *name) {
    char rel[128], path[512];
    snprintf(rel, sizeof rel, "nets/%s.safetensors", name);
    evk_weights *ws = NULL;
    TEST_OK(evk_weights_open(ctx, test_data_path(rel, path, sizeof path), &ws));
    return ws;
}

/* Path of tests/data/nets/<name>. */
static inline const char *fixture_path(const char *name, char *buf, size_t n) {
    char rel[128];
    snprintf(rel, sizeof rel, "nets/%s", name);
    return test_data_path(rel, buf, n);
}

/* A float tensor of the file as f32 (malloc'd), its shape checked (entries < 0 match anything). */
static inline float *fixture_read(evk_weights *ws, const char *name, int ndim, const int64_t *shape) {
    const evk_st_tensor *t = evk_weights_lookup(ws, name, NULL);
    if (!t) fail_msg("fixture tensor '%s' is absent", name);
    float *dst = malloc((size_t)t->numel * sizeof(float) + 1);
    assert_non_null(dst);
    TEST_OK(evk_weights_read_f32(ws, name, ndim, shape, dst));
    return dst;
}

/* An I32 tensor of the file (malloc'd); *count receives its element count. */
static inline int32_t *fixture_read_i32(evk_weights *ws, const char *name, int64_t *count) {
    const evk_st_tensor *t = evk_weights_lookup(ws, name, NULL);
    if (!t) fail_msg("fixture tensor '%s' is absent", name);
    if (t->dtype != EVK_ST_I32) fail_msg("fixture tensor '%s' is %s, expected I32", name, evk_st_dtype_name(t->dtype));
    int32_t *dst = malloc((size_t)t->numel * sizeof(int32_t) + 1);
    assert_non_null(dst);
    memcpy(dst, t->data, (size_t)t->numel * sizeof(int32_t));
    *count = (int64_t)t->numel;
    return dst;
}

/* A device tensor holding `data`. */
static inline evk_tensor fixture_upload(evk_context *ctx, const float *data, int ndim, const int64_t *shape) {
    evk_tensor t;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, ndim, shape, &t));
    TEST_OK(evk_tensor_upload_f32(ctx, &t, data));
    return t;
}

/* An output tensor, poisoned. */
static inline evk_tensor fixture_output(evk_context *ctx, int ndim, const int64_t *shape) {
    evk_tensor t;
    TEST_OK(evk_tensor_alloc(ctx, EVK_DTYPE_F32, ndim, shape, &t));
    test_poison(ctx, &t.buf);
    return t;
}

/* Relative L2 error of a device tensor against the expected floats; fails on NaN/Inf (a
 * poisoned element left unwritten reads as NaN). */
static inline double fixture_error(evk_context *ctx, const evk_tensor *got, const float *want, const char *what) {
    size_t n = (size_t)evk_tensor_numel(got);
    float *host = malloc(n * sizeof(float));
    double *ref = malloc(n * sizeof(double));
    assert_non_null(host);
    assert_non_null(ref);
    TEST_OK(evk_tensor_download_f32(ctx, got, host));
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(host[i])) fail_msg("%s: element %zu is %f (unwritten or NaN)", what, i, (double)host[i]);
        ref[i] = want[i];
    }
    double e = test_rel_l2(host, ref, n);
    free(host);
    free(ref);
    return e;
}

/* Fails unless every tensor of the file that is not a "fixture." entry was read. */
static inline void fixture_assert_all_used(evk_weights *ws, const char *what) {
    const char *names[64];
    size_t n = evk_weights_unused(ws, names, 64), bad = 0;
    for (size_t i = 0; i < n && i < 64; i++)
        if (strncmp(names[i], "fixture.", 8) != 0) {
            fprintf(stderr, "%s: weight '%s' never read\n", what, names[i]);
            bad++;
        }
    if (bad) fail_msg("%s: %zu weights of the checkpoint were never read", what, bad);
}

/* A name map that hides or redirects one tensor (for missing / mis-shaped weight errors) and
 * otherwise passes names through. */
typedef struct fixture_map {
    const char *from[8], *to[8]; /* to NULL: the tensor is missing */
    int count;
} fixture_map;

static inline evk_status fixture_map_fn(const void *user, const char *name, evk_weight_ref *ref) {
    const fixture_map *m = user;
    memset(ref, 0, sizeof *ref);
    const char *target = name;
    for (int i = 0; i < m->count; i++)
        if (strcmp(name, m->from[i]) == 0) target = m->to[i] ? m->to[i] : "absent.tensor";
    snprintf(ref->name, sizeof ref->name, "%s", target);
    return EVK_OK;
}

#endif
