/* clip.c — CLIP text and vision transformers (transformers' CLIPTextModel / CLIPVisionModel
 * semantics): pre-norm encoder layers with biased q/k/v/out projections, causal self-attention
 * in the text tower, quick-GELU or GELU MLPs, final / post layer norms and pooled outputs. */
#include "models/clip/clip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/attention.h"
#include "ops/op_layout.h"
#include "ops/op_norm.h"

typedef struct evk__clip_layer {
    evk_norm ln1, ln2;
    evk_attention_block attn;
    evk_linear fc1, fc2;
} evk__clip_layer;

typedef struct evk__clip_encoder {
    int layers, hidden, heads, intermediate;
    evk_activation act;
    evk__clip_layer *layer;
} evk__clip_encoder;

struct evk_clip_text {
    evk_context *ctx;
    evk_clip_text_config cfg;
    evk_tensor token_embedding, position_embedding; /* [V, D], [P, D] f32 */
    evk__clip_encoder enc;
    evk_norm final_ln;
};

struct evk_clip_vision {
    evk_context *ctx;
    evk_clip_vision_config cfg;
    evk_conv2d patch;                /* no bias */
    evk_tensor class_embedding;      /* [1, D] */
    evk_tensor position_embedding;   /* [P, D] */
    evk_norm pre_ln, post_ln;
    evk__clip_encoder enc;
    int video_frames;                /* evk_clip_vision_set_video */
    evk_tensor video_table;          /* [T·(P + 1), D] */
};

static evk_status evk__encoder_load(evk_weights *ws, const char *prefix, int layers, int hidden, int heads,
                                    int intermediate, evk_activation act, float eps, evk_dtype storage, evk__clip_encoder *e) {
    memset(e, 0, sizeof *e);
    e->layers = layers;
    e->hidden = hidden;
    e->heads = heads;
    e->intermediate = intermediate;
    if (!EVK_ACT_HAS_KERNEL(act)) return evk_fail(EVK_ERROR_UNSUPPORTED, "CLIP hidden_act '%s' is not supported", evk_activation_name(act));
    e->act = act;
    if (heads <= 0 || hidden % heads)
        return evk_fail(EVK_ERROR_FORMAT, "CLIP: hidden_size %d is not divisible by num_attention_heads %d", hidden, heads);
    e->layer = calloc((size_t)layers, sizeof *e->layer);
    if (!e->layer) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    char p[256];
    for (int i = 0; i < layers; i++) {
        evk__clip_layer *l = &e->layer[i];
#define _P(s) (snprintf(p, sizeof p, "%s.encoder.layers.%d.%s", prefix, i, s), p)
        EVK_TRY(evk_norm_load(ws, _P("layer_norm1"), hidden, 1, eps, &l->ln1));
        EVK_TRY(evk_norm_load(ws, _P("layer_norm2"), hidden, 1, eps, &l->ln2));
        char q[300], k[300], v[300];
        snprintf(q, sizeof q, "%s", _P("self_attn.q_proj"));
        snprintf(k, sizeof k, "%s", _P("self_attn.k_proj"));
        snprintf(v, sizeof v, "%s", _P("self_attn.v_proj"));
        EVK_TRY(evk_attention_block_load(ws, &(evk_attention_names){q, k, v, _P("self_attn.out_proj")}, hidden, hidden, heads, true,
                                         false, storage, &l->attn));
        EVK_TRY(evk_linear_load(ws, _P("mlp.fc1"), hidden, intermediate, true, storage, &l->fc1));
        EVK_TRY(evk_linear_load(ws, _P("mlp.fc2"), intermediate, hidden, true, storage, &l->fc2));
#undef _P
    }
    return EVK_OK;
}

static void evk__encoder_free(evk_context *ctx, evk__clip_encoder *e) {
    for (int i = 0; e->layer && i < e->layers; i++) {
        evk__clip_layer *l = &e->layer[i];
        evk_norm_free(ctx, &l->ln1);
        evk_norm_free(ctx, &l->ln2);
        evk_attention_block_free(ctx, &l->attn);
        evk_linear_free(ctx, &l->fc1);
        evk_linear_free(ctx, &l->fc2);
    }
    free(e->layer);
    e->layer = NULL;
}

/* One pre-norm encoder layer, in place on h [B, L, D]. */
static void evk__encoder_layer(evk_nn *nn, const evk__clip_encoder *e, const evk__clip_layer *l, evk_tensor *h,
                               bool causal) {
    evk_tensor x = evk_nn_layer_norm(nn, h, &l->ln1);
    evk_attention_block attn = l->attn;
    attn.causal = causal; /* the text encoder's mask; the vision tower attends everywhere */
    evk_nn_attention_block_add(nn, &attn, h, &x, NULL);
    evk_nn_free(nn, &x);
    x = evk_nn_layer_norm(nn, h, &l->ln2);
    evk_tensor f = evk_nn_linear(nn, &x, &l->fc1);
    evk_nn_free(nn, &x);
    evk_tensor g = evk_nn_activation(nn, &f, e->act);
    evk_nn_free(nn, &f);
    evk_tensor m = evk_nn_linear(nn, &g, &l->fc2);
    evk_nn_free(nn, &g);
    evk_nn_add_into(nn, h, &m);
    evk_nn_free(nn, &m);
}

/* ---- text ------------------------------------------------------------------------------------ */

evk_status evk_clip_text_load(evk_context *ctx, const evk_clip_text_config *cfg, evk_weights *ws, evk_dtype storage,
                              evk_clip_text **out) {
    *out = NULL;
    evk_clip_text *m = calloc(1, sizeof *m);
    if (!m) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->cfg = *cfg;
    int64_t te[2] = {cfg->vocab_size, cfg->hidden_size}, pe[2] = {cfg->max_position_embeddings, cfg->hidden_size};
    evk_status s = evk_weights_get(ws, "text_model.embeddings.token_embedding.weight", 2, te, EVK_DTYPE_F32, &m->token_embedding);
    if (!s) s = evk_weights_get(ws, "text_model.embeddings.position_embedding.weight", 2, pe, EVK_DTYPE_F32, &m->position_embedding);
    if (!s) s = evk__encoder_load(ws, "text_model", cfg->num_hidden_layers, cfg->hidden_size, cfg->num_attention_heads,
                                  cfg->intermediate_size, cfg->hidden_act, cfg->layer_norm_eps, storage, &m->enc);
    if (!s) s = evk_norm_load(ws, "text_model.final_layer_norm", cfg->hidden_size, 1, cfg->layer_norm_eps, &m->final_ln);
    if (s) {
        evk_clip_text_destroy(m);
        return evk_fail_context(s, "loading the CLIP text encoder");
    }
    *out = m;
    return EVK_OK;
}

void evk_clip_text_destroy(evk_clip_text *m) {
    if (!m) return;
    evk_tensor_free(m->ctx, &m->token_embedding);
    evk_tensor_free(m->ctx, &m->position_embedding);
    evk__encoder_free(m->ctx, &m->enc);
    evk_norm_free(m->ctx, &m->final_ln);
    free(m);
}

const evk_clip_text_config *evk_clip_text_get_config(const evk_clip_text *m) { return &m->cfg; }

void evk_clip_text_eos_positions(const evk_clip_text_config *cfg, const int32_t *ids, int batch, int length,
                                 int32_t *positions) {
    for (int b = 0; b < batch; b++) {
        const int32_t *row = ids + (size_t)b * length;
        int pos = length - 1;
        if (cfg->legacy_eos) {
            pos = 0;
            for (int i = 1; i < length; i++)
                if (row[i] > row[pos]) pos = i;
        } else {
            for (int i = 0; i < length; i++)
                if (row[i] == cfg->eos_token_id) { pos = i; break; }
        }
        positions[b] = pos;
    }
}

/* Small host integers into a fresh i32 tensor, written in stream order (see evk_stream_update). */
static evk_tensor evk__ids_tensor(evk_nn *nn, const int32_t *v, int64_t n) {
    evk_tensor t;
    memset(&t, 0, sizeof t);
    if (nn->status) return t;
    int64_t shape[1] = {n};
    evk_status s = evk_tensor_alloc(nn->ctx, EVK_DTYPE_I32, 1, shape, &t);
    if (!s) s = evk_stream_update(nn->s, &t.buf, 0, v, (uint64_t)n * 4);
    if (s) evk_nn_fail(nn, s);
    return t;
}

static evk_status evk__clip_text_run(evk_clip_text *m, evk_stream *s, const int32_t *ids, int batch, int length, int clip_skip,
                                     const evk_tensor *hidden, const evk_tensor *pooled, const evk_tensor *penultimate);

evk_status evk_clip_text_forward(evk_clip_text *m, evk_stream *s, const int32_t *ids, int batch, int length,
                                 int clip_skip, const evk_tensor *hidden, const evk_tensor *pooled) {
    return evk__clip_text_run(m, s, ids, batch, length, clip_skip, hidden, pooled, NULL);
}

evk_status evk_clip_text_forward_penultimate(evk_clip_text *m, evk_stream *s, const int32_t *ids, int batch, int length,
                                             const evk_tensor *penultimate, const evk_tensor *pooled) {
    if (m->cfg.num_hidden_layers < 2) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP text: one layer has no penultimate state");
    if (!penultimate || evk_tensor_numel(penultimate) != (int64_t)batch * length * m->cfg.hidden_size)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP text: the penultimate state must be [%d, %d, %d]", batch, length,
                        m->cfg.hidden_size);
    return evk__clip_text_run(m, s, ids, batch, length, 0, NULL, pooled, penultimate);
}

static evk_status evk__clip_text_run(evk_clip_text *m, evk_stream *s, const int32_t *ids, int batch, int length, int clip_skip,
                                     const evk_tensor *hidden, const evk_tensor *pooled, const evk_tensor *penultimate) {
    const evk_clip_text_config *c = &m->cfg;
    int64_t D = c->hidden_size;
    if (batch <= 0 || length <= 0 || length > c->max_position_embeddings)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP text: %d sequences of %d tokens (at most %d tokens)", batch, length,
                        c->max_position_embeddings);
    if (clip_skip < 0 || clip_skip >= c->num_hidden_layers)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP text: clip_skip %d outside 0..%d", clip_skip, c->num_hidden_layers - 1);
    for (int64_t i = 0; i < (int64_t)batch * length; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP text: token id %d at position %lld outside the vocabulary of %d",
                            ids[i], (long long)i, c->vocab_size);
    if ((hidden && (evk_tensor_numel(hidden) != batch * length * D)) || (pooled && evk_tensor_numel(pooled) != batch * D))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP text: output tensors must be [%d, %d, %lld] and [%d, %lld]", batch,
                        length, (long long)D, batch, (long long)D);
    evk_nn nn;
    evk_nn_init(&nn, s);
    int64_t n = (int64_t)batch * length;
    evk_tensor idx = evk__ids_tensor(&nn, ids, n);
    evk_tensor tok = evk_nn_new(&nn, EVK_SHAPE(n, D));
    if (!nn.status) evk_nn_fail(&nn, evk_op_gather_rows(s, &m->token_embedding, &idx, &tok));
    evk_nn_free(&nn, &idx);
    evk_tensor h = evk_nn_view(&nn, &tok, EVK_SHAPE(batch, length, D));
    /* positions 0..length-1: the first `length` rows of the table, broadcast over the batch */
    evk_tensor pos = m->position_embedding;
    pos.ndim = 2;
    pos.shape[0] = length;
    pos.buf.size = (uint64_t)length * D * 4;
    evk_nn_add_into(&nn, &h, &pos);
    int layers = c->num_hidden_layers - clip_skip;
    for (int i = 0; i < layers; i++) {
        evk__encoder_layer(&nn, &m->enc, &m->enc.layer[i], &h, true);
        if (penultimate && i == layers - 2 && !nn.status) { /* hidden_states[-2]: no final norm */
            evk_tensor pv = evk_nn_view(&nn, penultimate, EVK_SHAPE(n * D)), hv = evk_nn_view(&nn, &h, EVK_SHAPE(n * D));
            if (!nn.status) evk_nn_fail(&nn, evk_op_scale(s, &hv, 1.0f, 0.0f, &pv));
        }
    }
    evk_tensor out = evk_nn_layer_norm(&nn, &h, &m->final_ln);
    evk_nn_free(&nn, &tok);
    if (hidden && !nn.status) {
        evk_tensor hv = evk_nn_view(&nn, hidden, EVK_SHAPE(n * D));
        evk_tensor ov = evk_nn_view(&nn, &out, EVK_SHAPE(n * D));
        if (!nn.status) evk_nn_fail(&nn, evk_op_scale(s, &ov, 1.0f, 0.0f, &hv));
    }
    if (pooled && !nn.status) {
        int32_t *rows = malloc((size_t)batch * sizeof *rows);
        if (!rows) evk_nn_fail(&nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
        else {
            evk_clip_text_eos_positions(c, ids, batch, length, rows);
            for (int b = 0; b < batch; b++) rows[b] += b * length;
            evk_tensor ri = evk__ids_tensor(&nn, rows, batch);
            free(rows);
            evk_tensor flat = evk_nn_view(&nn, &out, EVK_SHAPE(n, D));
            evk_tensor pv = evk_nn_view(&nn, pooled, EVK_SHAPE(batch, D));
            if (!nn.status) evk_nn_fail(&nn, evk_op_gather_rows(s, &flat, &ri, &pv));
            evk_nn_free(&nn, &ri);
        }
    }
    evk_nn_free(&nn, &out);
    return nn.status;
}

/* ---- vision ---------------------------------------------------------------------------------- */

evk_status evk_clip_vision_load(evk_context *ctx, const evk_clip_vision_config *cfg, evk_weights *ws, evk_dtype storage,
                                evk_clip_vision **out) {
    *out = NULL;
    evk_clip_vision *m = calloc(1, sizeof *m);
    if (!m) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->cfg = *cfg;
    evk_status s = EVK_OK;
    if (cfg->patch_size <= 0 || cfg->image_size % cfg->patch_size)
        s = evk_fail(EVK_ERROR_FORMAT, "CLIP vision: image_size %d is not a multiple of patch_size %d", cfg->image_size,
                     cfg->patch_size);
    int64_t g = cfg->patch_size > 0 ? cfg->image_size / cfg->patch_size : 0, D = cfg->hidden_size;
    int64_t ce[1] = {D}, pe[2] = {g * g + 1, D};
    if (!s) s = evk_conv2d_load(ws, "vision_model.embeddings.patch_embedding", cfg->num_channels, (int)D, cfg->patch_size,
                                cfg->patch_size, 0, false, storage, &m->patch);
    if (!s) s = evk_weights_get(ws, "vision_model.embeddings.class_embedding", 1, ce, EVK_DTYPE_F32, &m->class_embedding);
    if (!s) s = evk_weights_get(ws, "vision_model.embeddings.position_embedding.weight", 2, pe, EVK_DTYPE_F32, &m->position_embedding);
    if (!s) s = evk_norm_load(ws, "vision_model.pre_layrnorm", (int)D, 1, cfg->layer_norm_eps, &m->pre_ln);
    if (!s) s = evk__encoder_load(ws, "vision_model", cfg->num_hidden_layers, (int)D, cfg->num_attention_heads,
                                  cfg->intermediate_size, cfg->hidden_act, cfg->layer_norm_eps, storage, &m->enc);
    if (!s) s = evk_norm_load(ws, "vision_model.post_layernorm", (int)D, 1, cfg->layer_norm_eps, &m->post_ln);
    if (s) {
        evk_clip_vision_destroy(m);
        return evk_fail_context(s, "loading the CLIP vision encoder");
    }
    m->class_embedding.ndim = 2; /* [1, D] for the gather */
    m->class_embedding.shape[0] = 1;
    m->class_embedding.shape[1] = D;
    *out = m;
    return EVK_OK;
}

void evk_clip_vision_destroy(evk_clip_vision *m) {
    if (!m) return;
    evk_conv2d_free(m->ctx, &m->patch);
    evk_tensor_free(m->ctx, &m->class_embedding);
    evk_tensor_free(m->ctx, &m->position_embedding);
    evk_norm_free(m->ctx, &m->pre_ln);
    evk_norm_free(m->ctx, &m->post_ln);
    evk__encoder_free(m->ctx, &m->enc);
    evk_tensor_free(m->ctx, &m->video_table);
    free(m);
}

/* The class token in front of each image's patch tokens: images [B, C, S, S] -> h [B, P + 1, D]
 * (no position embedding yet). */
static evk_tensor evk__vision_tokens(evk_nn *nn, evk_clip_vision *m, const evk_tensor *images) {
    const evk_clip_vision_config *c = &m->cfg;
    evk_stream *s = nn->s;
    int64_t B = images->shape[0], D = c->hidden_size, g = c->image_size / c->patch_size, P = g * g;
    evk_tensor patches = evk_nn_conv2d(nn, images, &m->patch); /* [B, D, g, g] */
    evk_tensor tokens = evk_nn_transpose(nn, &patches, B, D, P, EVK_SHAPE(B, P, D));
    evk_nn_free(nn, &patches);
    /* the class token, the same for every image, in front of the patches */
    int32_t *zeros = calloc((size_t)B, sizeof *zeros);
    if (!zeros) evk_nn_fail(nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
    evk_tensor zi = evk__ids_tensor(nn, zeros ? zeros : (int32_t[]){0}, zeros ? B : 1);
    free(zeros);
    evk_tensor cls = evk_nn_new(nn, EVK_SHAPE(B, D));
    if (!nn->status) evk_nn_fail(nn, evk_op_gather_rows(s, &m->class_embedding, &zi, &cls));
    evk_nn_free(nn, &zi);
    evk_tensor cls3 = evk_nn_view(nn, &cls, EVK_SHAPE(B, 1, D));
    evk_tensor h = evk_nn_new(nn, EVK_SHAPE(B, P + 1, D));
    if (!nn->status) evk_nn_fail(nn, evk_op_concat(s, &cls3, &tokens, 1, &h));
    evk_nn_free(nn, &cls);
    evk_nn_free(nn, &tokens);
    return h;
}

/* ln_pre, the encoder and pooled = post_layernorm(x[:, 0]) for h [B, L, D] (freed here). */
static void evk__vision_encode(evk_nn *nn, evk_clip_vision *m, evk_tensor *h, int64_t B, int64_t L, const evk_tensor *pooled) {
    const evk_clip_vision_config *c = &m->cfg;
    evk_stream *s = nn->s;
    int64_t D = c->hidden_size;
    evk_tensor x = evk_nn_layer_norm(nn, h, &m->pre_ln);
    evk_nn_free(nn, h);
    for (int i = 0; i < c->num_hidden_layers; i++) evk__encoder_layer(nn, &m->enc, &m->enc.layer[i], &x, false);
    int32_t *rows = malloc((size_t)B * sizeof *rows);
    if (!rows) evk_nn_fail(nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
    for (int64_t b = 0; rows && b < B; b++) rows[b] = (int32_t)(b * L);
    evk_tensor ri = evk__ids_tensor(nn, rows ? rows : (int32_t[]){0}, rows ? B : 1);
    free(rows);
    evk_tensor flat = evk_nn_view(nn, &x, EVK_SHAPE(B * L, D));
    evk_tensor first = evk_nn_new(nn, EVK_SHAPE(B, D));
    if (!nn->status) evk_nn_fail(nn, evk_op_gather_rows(s, &flat, &ri, &first));
    evk_nn_free(nn, &ri);
    evk_nn_free(nn, &x);
    evk_tensor pv = evk_nn_view(nn, pooled, EVK_SHAPE(B, D));
    if (!nn->status) evk_nn_fail(nn, evk_op_layer_norm(s, &first, &m->post_ln.gamma, &m->post_ln.beta, m->post_ln.eps, &pv));
    evk_nn_free(nn, &first);
}

evk_status evk_clip_vision_forward(evk_clip_vision *m, evk_stream *s, const evk_tensor *images, const evk_tensor *pooled) {
    const evk_clip_vision_config *c = &m->cfg;
    int64_t B = images->shape[0], D = c->hidden_size, g = c->image_size / c->patch_size, P = g * g;
    if (images->ndim != 4 || images->shape[1] != c->num_channels || images->shape[2] != c->image_size ||
        images->shape[3] != c->image_size || evk_tensor_numel(pooled) != B * D)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP vision: images must be [B, %d, %d, %d] and pooled [B, %lld]",
                        c->num_channels, c->image_size, c->image_size, (long long)D);
    evk_nn nn;
    evk_nn_init(&nn, s);
    evk_tensor h = evk__vision_tokens(&nn, m, images);
    evk_nn_add_into(&nn, &h, &m->position_embedding);
    evk__vision_encode(&nn, m, &h, B, P + 1, pooled);
    return nn.status;
}

evk_status evk_clip_vision_set_video(evk_clip_vision *m, int frames, const float *table) {
    const evk_clip_vision_config *c = &m->cfg;
    int64_t g = c->image_size / c->patch_size, P = g * g, D = c->hidden_size;
    if (frames < 1 || frames > 1024) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP vision: %d frames (1 to 1024)", frames);
    evk_tensor_free(m->ctx, &m->video_table);
    m->video_frames = 0;
    EVK_TRY(evk_tensor_alloc(m->ctx, EVK_DTYPE_F32, 2, (int64_t[]){frames * (P + 1), D}, &m->video_table));
    evk_status st = evk_tensor_upload_f32(m->ctx, &m->video_table, table);
    if (st) {
        evk_tensor_free(m->ctx, &m->video_table);
        return st;
    }
    m->video_frames = frames;
    return EVK_OK;
}

evk_status evk_clip_vision_forward_video(evk_clip_vision *m, evk_stream *s, const evk_tensor *frames, const evk_tensor *pooled) {
    const evk_clip_vision_config *c = &m->cfg;
    int64_t T = m->video_frames, D = c->hidden_size, g = c->image_size / c->patch_size, P = g * g;
    if (!T) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP vision: no video table (evk_clip_vision_set_video)");
    int64_t BT = frames->ndim == 4 ? frames->shape[0] : 0, B = BT / T;
    if (frames->ndim != 4 || BT % T || !B || frames->shape[1] != c->num_channels || frames->shape[2] != c->image_size ||
        frames->shape[3] != c->image_size || evk_tensor_numel(pooled) != B * D)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "CLIP vision: frames must be [B·%lld, %d, %d, %d] and pooled [B, %lld]", (long long)T,
                        c->num_channels, c->image_size, c->image_size, (long long)D);
    evk_nn nn;
    evk_nn_init(&nn, s);
    evk_tensor h = evk__vision_tokens(&nn, m, frames); /* [B·T, P + 1, D] */
    evk_tensor hv = evk_nn_view(&nn, &h, EVK_SHAPE(B, T * (P + 1), D));
    evk_nn_add_into(&nn, &hv, &m->video_table);
    /* one sequence per clip: frame 0's class token, then for each patch n its T frames */
    int64_t L = 1 + P * T;
    int32_t *rows = malloc((size_t)(B * L) * sizeof *rows);
    if (!rows) evk_nn_fail(&nn, evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
    for (int64_t b = 0; rows && b < B; b++) {
        int32_t *r = rows + b * L, base = (int32_t)(b * T * (P + 1));
        r[0] = base;
        for (int64_t n = 0; n < P; n++)
            for (int64_t t = 0; t < T; t++) r[1 + n * T + t] = base + (int32_t)(t * (P + 1) + 1 + n);
    }
    evk_tensor ri = evk__ids_tensor(&nn, rows ? rows : (int32_t[]){0}, rows ? B * L : 1);
    free(rows);
    evk_tensor flat = evk_nn_view(&nn, &h, EVK_SHAPE(B * T * (P + 1), D));
    evk_tensor seq = evk_nn_new(&nn, EVK_SHAPE(B * L, D));
    if (!nn.status) evk_nn_fail(&nn, evk_op_gather_rows(s, &flat, &ri, &seq));
    evk_nn_free(&nn, &ri);
    evk_nn_free(&nn, &h);
    evk_tensor sv = evk_nn_view(&nn, &seq, EVK_SHAPE(B, L, D)); /* freed (with seq's storage) by the encoder */
    if (!sv.buf.block) evk_nn_free(&nn, &seq);
    evk__vision_encode(&nn, m, &sv, B, L, pooled);
    return nn.status;
}

evk_status evk_clip_projections_load(const evk_clip_config *cfg, evk_weights *ws, evk_dtype storage, evk_clip_projections *p) {
    memset(p, 0, sizeof *p);
    EVK_TRY(evk_linear_load(ws, "text_projection", cfg->text.hidden_size, cfg->projection_dim, false, storage, &p->text));
    EVK_TRY(evk_linear_load(ws, "visual_projection", cfg->vision.hidden_size, cfg->projection_dim, false, storage, &p->visual));
    /* the trained temperature lives in the checkpoint (a scalar); the config holds only its initial value */
    p->logit_scale = cfg->logit_scale_init_value;
    if (evk_weights_has(ws, "logit_scale")) EVK_TRY(evk_weights_read_f32(ws, "logit_scale", 0, NULL, &p->logit_scale));
    return EVK_OK;
}

void evk_clip_projections_free(evk_context *ctx, evk_clip_projections *p) {
    evk_linear_free(ctx, &p->text);
    evk_linear_free(ctx, &p->visual);
}
