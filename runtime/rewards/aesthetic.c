/* aesthetic.c — the LAION-style aesthetic predictor: an MLP of linear layers without activations
 * on the L2-normalised CLIP image embedding. Being affine it collapses (in double, at load) to one
 * vector v and a bias b, and MLP(e/|e|) = |v|·cos(e, v) + b exactly, so it runs as a CLIP reward
 * (clip_reward.h) with target v. JSON: {"type":"aesthetic","clip":DIR,"head":FILE.safetensors}. */
#include "rewards/aesthetic.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewards/clip_reward.h"
#include "rewards/reward_type.h"

/* The head's linear layers "layers.N.weight" / "layers.N.bias" in N order, chained from the
 * projection width down to one output, collapsed in double: v = W_k ⋯ W_1 (1 × P), b = head(0). */
static evk_status evk__head_collapse(evk_weights *head, const char *path, int64_t in_dim, double **v_out, double *b_out) {
    int idx[32], nl = 0;
    for (size_t i = 0; i < evk_weights_count(head); i++) {
        const evk_st_tensor *t = evk_weights_at(head, i);
        int k;
        char tail[16];
        if (sscanf(t->name, "layers.%d.%15s", &k, tail) == 2 && !strcmp(tail, "weight")) {
            if (nl == 32) return evk_fail(EVK_ERROR_FORMAT, "%s: more than 32 layers", path);
            idx[nl++] = k;
        } else if (!(sscanf(t->name, "layers.%d.%15s", &k, tail) == 2 && !strcmp(tail, "bias"))) {
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' is not a linear layer of an aesthetic head (layers.N.weight/bias)", path,
                            t->name);
        }
    }
    if (!nl) return evk_fail(EVK_ERROR_FORMAT, "%s: no layers.N.weight tensors", path);
    for (int a = 0; a < nl; a++)
        for (int b = a + 1; b < nl; b++)
            if (idx[b] < idx[a]) { int t = idx[a]; idx[a] = idx[b]; idx[b] = t; }
    /* forward through the chain a basis at a time would cost P passes: carry the affine map instead */
    int64_t rows = in_dim; /* current width */
    double *M = NULL, *c = NULL; /* current map: y = M x + c, M [rows_out, in_dim] */
    int64_t m_rows = in_dim;
    M = calloc((size_t)(in_dim * in_dim), sizeof *M);
    c = calloc((size_t)in_dim, sizeof *c);
    if (!M || !c) { free(M); free(c); return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"); }
    for (int64_t i = 0; i < in_dim; i++) M[i * in_dim + i] = 1;
    evk_status s = EVK_OK;
    for (int l = 0; l < nl && !s; l++) {
        char name[64];
        snprintf(name, sizeof name, "layers.%d.weight", idx[l]);
        int nd;
        int64_t sh[8];
        s = evk_weights_shape(head, name, &nd, sh);
        if (!s && (nd != 2 || sh[1] != rows))
            s = evk_fail(EVK_ERROR_FORMAT, "%s: %s is %dD [%lld, ...], expected [out, %lld] to follow the previous layer", path, name, nd,
                         (long long)(nd ? sh[0] : 0), (long long)rows);
        if (s) break;
        int64_t out_dim = sh[0];
        float *W = malloc((size_t)(out_dim * rows) * sizeof *W), *B = calloc((size_t)out_dim, sizeof *B);
        double *M2 = calloc((size_t)(out_dim * in_dim), sizeof *M2), *c2 = calloc((size_t)out_dim, sizeof *c2);
        if (!W || !B || !M2 || !c2) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (!s) s = evk_weights_read_f32(head, name, 2, sh, W);
        snprintf(name, sizeof name, "layers.%d.bias", idx[l]);
        if (!s && evk_weights_has(head, name)) s = evk_weights_read_f32(head, name, 1, &out_dim, B);
        for (int64_t o = 0; !s && o < out_dim; o++) {
            c2[o] = B[o];
            for (int64_t k = 0; k < rows; k++) {
                double w = W[o * rows + k];
                c2[o] += w * c[k];
                for (int64_t j = 0; j < in_dim; j++) M2[o * in_dim + j] += w * M[k * in_dim + j];
            }
        }
        free(W), free(B), free(M), free(c);
        M = M2, c = c2, rows = out_dim, m_rows = out_dim;
    }
    if (!s && m_rows != 1) s = evk_fail(EVK_ERROR_FORMAT, "%s: the head ends with %lld outputs, expected 1", path, (long long)m_rows);
    if (s) { free(M); free(c); return s; }
    *v_out = M; /* [1, in_dim] */
    *b_out = c[0];
    free(c);
    return EVK_OK;
}

evk_status evk_reward_aesthetic_create(evk_context *ctx, const char *clip_folder, const char *head_path, uint32_t height,
                                       uint32_t width, evk_reward **out) {
    *out = NULL;
    evk__clip_reward *r;
    evk_status s = evk__clip_reward_open(ctx, clip_folder, height, width, &r);
    if (s) return evk_fail_context(s, "aesthetic reward from %s", clip_folder);
    evk_weights *head = NULL;
    double *v = NULL, b = 0;
    int64_t P = r->cfg.projection_dim;
    s = evk_weights_open(NULL, head_path, &head);
    if (!s) s = evk__head_collapse(head, head_path, P, &v, &b);
    evk_weights_close(head);
    if (!s) {
        double norm = 0;
        for (int64_t i = 0; i < P; i++) norm += v[i] * v[i];
        norm = sqrt(norm);
        float *vf = malloc((size_t)P * sizeof *vf);
        if (!vf) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (int64_t i = 0; !s && i < P; i++) vf[i] = (float)v[i];
        if (!s) s = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, P}, &r->text_embed);
        if (!s) s = evk_tensor_upload_f32(ctx, &r->text_embed, vf);
        free(vf);
        r->scale = (float)norm;
        r->bias = (float)b;
    }
    free(v);
    if (s) {
        evk__clip_reward_destroy(r);
        return evk_fail_context(s, "aesthetic reward (%s, %s)", clip_folder, head_path);
    }
    return evk_reward_create(ctx, &evk__clip_reward_ops, "aesthetic", (int64_t)3 * height * width, r, out);
}

static evk_status evk__aesthetic_parse(const cJSON *o, const char *path, const evk__reward_json *j, evk_reward **out) {
    const char *what = j->what;
    const evk_reward_options *opt = j->opt;
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(o, "clip"), *hd = cJSON_GetObjectItemCaseSensitive(o, "head");
    if (!cJSON_IsString(cl) || !cJSON_IsString(hd) || !cl->valuestring[0] || !hd->valuestring[0])
        return evk_fail(EVK_ERROR_FORMAT, "reward %s: %s (aesthetic) needs strings \"clip\" (a CLIPModel folder) and \"head\" (a safetensors file)",
                        what, path);
    char dir[1024], head[1024];
    evk__reward_resolve(j, cl->valuestring, dir, sizeof dir);
    evk__reward_resolve(j, hd->valuestring, head, sizeof head);
    evk_status st = evk_reward_aesthetic_create(j->ctx, dir, head, opt ? opt->image_height : 0, opt ? opt->image_width : 0, out);
    if (st) evk_fail_context(st, "reward %s", what);
    return st;
}

const evk_reward_type evk__reward_type_aesthetic = {"aesthetic", evk__aesthetic_parse};
