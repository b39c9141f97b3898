/* openclip.c — OpenCLIP-layout CLIP towers (see openclip.h): finding the towers by name, their
 * sizes from the tensor shapes, the transformers-name → OpenCLIP-name map (fused in_proj q/k/v
 * split in three, the 5-D ViCLIP patch kernel squeezed), and the transposed projections. */
#include "models/clip/openclip.h"
#include "models/clip/openclip_names.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"

/* The file prefix in front of `root` + `probe` (e.g. "module." + "visual." + "conv1.weight"); NULL
 * when no tensor ends so, or several do. */
static evk_status evk__find_root(const evk_weights *ws, const char *root, const char *probe, const char *what, char *out, size_t size) {
    char tail[200];
    snprintf(tail, sizeof tail, "%s%s", root, probe);
    size_t tl = strlen(tail);
    const char *found = NULL;
    for (size_t i = 0; i < evk_weights_count(ws); i++) {
        const char *n = evk_weights_at(ws, i)->name;
        size_t nl = strlen(n);
        if (nl < tl || strcmp(n + nl - tl, tail)) continue;
        if (nl > tl && n[nl - tl - 1] != '.') continue; /* a whole name component */
        if (found) return evk_fail(EVK_ERROR_FORMAT, "the %s tower: two tensors end in %s (%s and %s)", what, tail, found, n);
        found = n;
    }
    if (!found) return evk_fail(EVK_ERROR_FORMAT, "the %s tower: no tensor named ...%s (not an OpenCLIP-layout checkpoint)", what, tail);
    size_t pl = strlen(found) - strlen(probe);
    if (pl >= size) return evk_fail(EVK_ERROR_FORMAT, "the %s tower: tensor name %s is too long", what, found);
    memcpy(out, found, pl);
    out[pl] = 0;
    return EVK_OK;
}

static evk_status evk__shape(const evk_weights *ws, const char *prefix, const char *name, int ndim, int64_t *shape) {
    char full[400];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const evk_st_tensor *t = evk_weights_lookup(ws, full, NULL);
    if (!t) return evk_fail(EVK_ERROR_FORMAT, "no tensor %s", full);
    if (t->ndim != ndim) return evk_fail(EVK_ERROR_FORMAT, "tensor %s has %d dimensions, expected %d", full, t->ndim, ndim);
    for (int i = 0; i < ndim; i++) {
        if (t->shape[i] < 1 || t->shape[i] > (1 << 24)) return evk_fail(EVK_ERROR_FORMAT, "tensor %s: dimension %d is %lld", full, i, (long long)t->shape[i]);
        shape[i] = t->shape[i];
    }
    return EVK_OK;
}

static int evk__count_layers(const evk_weights *ws, const char *prefix) {
    int n = 0;
    char name[400];
    for (;;) {
        snprintf(name, sizeof name, "%stransformer.resblocks.%d.ln_1.weight", prefix, n);
        if (!evk_weights_lookup(ws, name, NULL) || n >= 1024) return n;
        n++;
    }
}

static evk_status evk__openclip_map(const void *user, const char *name, evk_weight_ref *ref) {
    const evk_openclip *oc = user;
    return evk_openclip_map_names(oc->vision, oc->text, name, ref);
}

evk_status evk_openclip_open(evk_weights *ws, const char *config_path, const evk_openclip_defaults *defaults, evk_openclip *oc) {
    memset(oc, 0, sizeof *oc);
    evk_openclip_defaults d = *defaults;
    struct stat sb;
    if (config_path && !stat(config_path, &sb)) {
        char *text;
        EVK_TRY(evk_file_read_text(config_path, 1 << 20, &text));
        evk_openclip_config oc_cfg = {d.vision_heads, d.text_heads, d.quick_gelu};
        evk_status st = evk_openclip_config_parse(text, config_path, &oc_cfg);
        d.vision_heads = oc_cfg.vision_heads, d.text_heads = oc_cfg.text_heads, d.quick_gelu = oc_cfg.quick_gelu;
        free(text);
        EVK_TRY(st);
    }
    EVK_TRY(evk__find_root(ws, d.vision_root, "conv1.weight", "vision", oc->vision, sizeof oc->vision));
    EVK_TRY(evk__find_root(ws, d.text_root, "token_embedding.weight", "text", oc->text, sizeof oc->text));
    evk_clip_config *c = &oc->cfg;
    evk_clip_vision_config *v = &c->vision;
    evk_clip_text_config *t = &c->text;
    int64_t sh[5] = {0};
    /* vision */
    const evk_st_tensor *conv = NULL;
    {
        char full[400];
        snprintf(full, sizeof full, "%sconv1.weight", oc->vision);
        conv = evk_weights_lookup(ws, full, NULL);
    }
    if (!conv || !(conv->ndim == 4 || (conv->ndim == 5 && conv->shape[2] == 1)) || conv->shape[conv->ndim - 2] != conv->shape[conv->ndim - 1] ||
        conv->shape[0] < 1 || conv->shape[0] > 65536 || conv->shape[1] != 3 || conv->shape[3] < 1 || conv->shape[3] > 1024)
        return evk_fail(EVK_ERROR_FORMAT, "%sconv1.weight must be [D, 3, p, p] (or [D, 3, 1, p, p])", oc->vision);
    int D = (int)conv->shape[0], p = (int)conv->shape[conv->ndim - 1];
    EVK_TRY(evk__shape(ws, oc->vision, "positional_embedding", 2, sh));
    int64_t g = (int64_t)llround(sqrt((double)(sh[0] - 1)));
    if (sh[1] != D || g < 1 || g * g + 1 != sh[0])
        return evk_fail(EVK_ERROR_FORMAT, "%spositional_embedding is [%lld, %lld], expected [g·g + 1, %d]", oc->vision, (long long)sh[0],
                        (long long)sh[1], D);
    v->hidden_size = D;
    v->patch_size = p;
    v->image_size = (int)(g * p);
    v->num_channels = 3;
    v->num_hidden_layers = evk__count_layers(ws, oc->vision);
    if (!v->num_hidden_layers) return evk_fail(EVK_ERROR_FORMAT, "%stransformer.resblocks.0 is missing", oc->vision);
    EVK_TRY(evk__shape(ws, oc->vision, "transformer.resblocks.0.mlp.c_fc.weight", 2, sh));
    v->intermediate_size = (int)sh[0];
    EVK_TRY(evk__shape(ws, oc->vision, "proj", 2, sh));
    if (sh[0] != D) return evk_fail(EVK_ERROR_FORMAT, "%sproj is [%lld, %lld], expected [%d, E]", oc->vision, (long long)sh[0], (long long)sh[1], D);
    v->projection_dim = (int)sh[1];
    v->num_attention_heads = d.vision_heads;
    v->hidden_act = d.quick_gelu ? EVK_ACT_QUICK_GELU : EVK_ACT_GELU;
    v->layer_norm_eps = 1e-5f;
    /* text */
    EVK_TRY(evk__shape(ws, oc->text, "token_embedding.weight", 2, sh));
    t->vocab_size = (int)sh[0];
    t->hidden_size = (int)sh[1];
    EVK_TRY(evk__shape(ws, oc->text, "positional_embedding", 2, sh));
    if (sh[1] != t->hidden_size)
        return evk_fail(EVK_ERROR_FORMAT, "%spositional_embedding is %lld wide, the tokens %d", oc->text, (long long)sh[1], t->hidden_size);
    t->max_position_embeddings = (int)sh[0];
    t->num_hidden_layers = evk__count_layers(ws, oc->text);
    if (!t->num_hidden_layers) return evk_fail(EVK_ERROR_FORMAT, "%stransformer.resblocks.0 is missing", oc->text);
    EVK_TRY(evk__shape(ws, oc->text, "transformer.resblocks.0.mlp.c_fc.weight", 2, sh));
    t->intermediate_size = (int)sh[0];
    EVK_TRY(evk__shape(ws, oc->text, "text_projection", 2, sh));
    if (sh[0] != t->hidden_size || sh[1] != v->projection_dim)
        return evk_fail(EVK_ERROR_FORMAT, "%stext_projection is [%lld, %lld], expected [%d, %d] (the image projection's width)", oc->text,
                        (long long)sh[0], (long long)sh[1], t->hidden_size, v->projection_dim);
    t->projection_dim = v->projection_dim;
    t->num_attention_heads = d.text_heads;
    t->hidden_act = v->hidden_act;
    t->layer_norm_eps = 1e-5f;
    t->pad_token_id = 0;
    t->bos_token_id = 49406;
    t->eos_token_id = 49407;
    t->legacy_eos = true; /* open_clip pools at text.argmax(dim=-1) */
    c->projection_dim = v->projection_dim;
    c->logit_scale_init_value = 0.0f;
    if (v->hidden_size % v->num_attention_heads || t->hidden_size % t->num_attention_heads)
        return evk_fail(EVK_ERROR_FORMAT, "OpenCLIP towers: widths %d / %d are not divisible by %d / %d heads (vision_heads / text_heads "
                        "in config.json)", v->hidden_size, t->hidden_size, v->num_attention_heads, t->num_attention_heads);
    /* ViCLIP's temporal table */
    char full[400];
    snprintf(full, sizeof full, "%stemporal_positional_embedding", oc->vision);
    if (evk_weights_lookup(ws, full, NULL)) {
        EVK_TRY(evk__shape(ws, oc->vision, "temporal_positional_embedding", 3, sh));
        if (sh[0] != 1 || sh[2] != D || sh[1] > 1024)
            return evk_fail(EVK_ERROR_FORMAT, "%s is [%lld, %lld, %lld], expected [1, T, %d]", full, (long long)sh[0], (long long)sh[1],
                            (long long)sh[2], D);
        oc->frames = (int)sh[1];
    }
    evk_weights_set_map(ws, evk__openclip_map, oc, NULL);
    return EVK_OK;
}

/* x · P with P [in, out] in the file -> a linear layer with W = Pᵀ [out, in]. */
static evk_status evk__proj(evk_weights *ws, const char *name, int in, int out, evk_linear *l) {
    memset(l, 0, sizeof *l);
    evk_context *ctx = evk_weights_context(ws);
    float *p = malloc((size_t)in * out * sizeof *p), *w = malloc((size_t)in * out * sizeof *w);
    evk_status st = p && w ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!st) st = evk_weights_read_f32(ws, name, 2, (int64_t[]){in, out}, p);
    for (int i = 0; !st && i < in; i++)
        for (int o = 0; o < out; o++) w[(size_t)o * in + i] = p[(size_t)i * out + o];
    if (!st) st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){out, in}, &l->w);
    if (!st) st = evk_tensor_upload_f32(ctx, &l->w, w);
    free(p), free(w);
    if (st) {
        evk_tensor_free(ctx, &l->w);
        return st;
    }
    l->in = in, l->out = out;
    return EVK_OK;
}

evk_status evk_openclip_projections(evk_weights *ws, const evk_openclip *oc, evk_clip_projections *out) {
    memset(out, 0, sizeof *out);
    char name[400];
    snprintf(name, sizeof name, "%sproj", oc->vision);
    EVK_TRY(evk__proj(ws, name, oc->cfg.vision.hidden_size, oc->cfg.projection_dim, &out->visual));
    snprintf(name, sizeof name, "%stext_projection", oc->text);
    evk_status st = evk__proj(ws, name, oc->cfg.text.hidden_size, oc->cfg.projection_dim, &out->text);
    if (st) {
        evk_clip_projections_free(evk_weights_context(ws), out);
        return st;
    }
    /* logit_scale beside the towers (open_clip: at the root; absent in ViCLIP, which has "temp") */
    snprintf(name, sizeof name, "%slogit_scale", oc->text);
    out->logit_scale = 0.0f;
    if (evk_weights_has(ws, name)) st = evk_weights_read_f32(ws, name, 0, NULL, &out->logit_scale);
    if (st) evk_clip_projections_free(evk_weights_context(ws), out);
    return st;
}

evk_status evk_openclip_temporal(evk_weights *ws, const evk_openclip *oc, evk_clip_vision *vision) {
    if (!oc->frames) return evk_fail(EVK_ERROR_FORMAT, "%stemporal_positional_embedding is missing (not a ViCLIP vision tower)", oc->vision);
    const evk_clip_vision_config *v = &oc->cfg.vision;
    int64_t g = v->image_size / v->patch_size, P = g * g, D = v->hidden_size, T = oc->frames;
    float *pos = malloc((size_t)(P + 1) * D * sizeof *pos), *tmp = malloc((size_t)T * D * sizeof *tmp),
          *table = malloc((size_t)T * (P + 1) * D * sizeof *table);
    evk_status st = pos && tmp && table ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    char name[400];
    snprintf(name, sizeof name, "%spositional_embedding", oc->vision);
    if (!st) st = evk_weights_read_f32(ws, name, 2, (int64_t[]){P + 1, D}, pos);
    snprintf(name, sizeof name, "%stemporal_positional_embedding", oc->vision);
    if (!st) st = evk_weights_read_f32(ws, name, 3, (int64_t[]){1, T, D}, tmp);
    for (int64_t t = 0; !st && t < T; t++)
        for (int64_t j = 0; j <= P; j++)
            for (int64_t k = 0; k < D; k++)
                table[(t * (P + 1) + j) * D + k] = pos[j * D + k] + (j ? tmp[t * D + k] : 0.0f);
    if (!st) st = evk_clip_vision_set_video(vision, (int)T, table);
    free(pos), free(tmp), free(table);
    return st;
}
