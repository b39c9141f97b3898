/* config.c — diffusers / transformers JSON configs into C structs (see config.h).
 *
 * The defaults below are the keyword defaults of the Python constructors
 * (UNet2DConditionModel, AutoencoderKL, CLIPTextConfig, CLIPVisionConfig, CLIPConfig,
 * CLIPImageProcessor, the scheduler classes, CLIPTokenizer), because a key absent from a saved
 * config means "the constructor default" there. Getters treat JSON null like an absent key for
 * optional values and report the file, the key and the offending value otherwise. */
#include "formats/config.h"

#include "core/file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static evk_status evk__parse_root(const char *json, const char *label, cJSON **root) {
    *root = json ? cJSON_Parse(json) : NULL;
    if (!*root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = json && at && at >= json ? (size_t)(at - json) : 0;
        return evk_fail(EVK_ERROR_FORMAT, "%s: not valid JSON (near byte %zu)", label, off);
    }
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return evk_fail(EVK_ERROR_FORMAT, "%s: not a JSON object", label);
    }
    return EVK_OK;
}

/* A short printable rendering of a JSON value for messages. */
static const char *evk__show(const cJSON *v, char *buf, size_t n) {
    char *p = cJSON_PrintUnformatted(v);
    if (!p) {
        snprintf(buf, n, "?");
        return buf;
    }
    if (strlen(p) + 1 > n && n > 4) {
        memcpy(buf, p, n - 4);
        memcpy(buf + n - 4, "...", 4);
    } else snprintf(buf, n, "%s", p);
    cJSON_free(p);
    return buf;
}

static const cJSON *evk__key(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static evk_status evk__bad(const char *label, const char *key, const cJSON *v, const char *want) {
    char b[96];
    return evk_fail(EVK_ERROR_FORMAT, "%s: \"%s\" is %s, expected %s", label, key, evk__show(v, b, sizeof b), want);
}

static bool evk__as_int(const cJSON *v, int *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (d != floor(d) || d < -2147483648.0 || d > 2147483647.0) return false;
    *out = (int)d;
    return true;
}

static evk_status evk__get_int(const cJSON *o, const char *label, const char *key, int lo, int hi, int *out) {
    const cJSON *v = evk__key(o, key);
    if (!v) return EVK_OK;
    int x;
    if (!evk__as_int(v, &x)) return evk__bad(label, key, v, "an integer");
    if (x < lo || x > hi) {
        char want[64];
        snprintf(want, sizeof want, "an integer in [%d, %d]", lo, hi);
        return evk__bad(label, key, v, want);
    }
    *out = x;
    return EVK_OK;
}

static evk_status evk__get_double(const cJSON *o, const char *label, const char *key, double *out) {
    const cJSON *v = evk__key(o, key);
    if (!v) return EVK_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return evk__bad(label, key, v, "a number");
    *out = v->valuedouble;
    return EVK_OK;
}

static evk_status evk__get_float(const cJSON *o, const char *label, const char *key, float *out) {
    double d = *out;
    EVK_TRY(evk__get_double(o, label, key, &d));
    *out = (float)d;
    return EVK_OK;
}

static evk_status evk__get_bool(const cJSON *o, const char *label, const char *key, bool *out) {
    const cJSON *v = evk__key(o, key);
    if (!v) return EVK_OK;
    if (!cJSON_IsBool(v)) return evk__bad(label, key, v, "true or false");
    *out = cJSON_IsTrue(v);
    return EVK_OK;
}

static evk_status evk__get_string(const cJSON *o, const char *label, const char *key, char *out, size_t n) {
    const cJSON *v = evk__key(o, key);
    if (!v) return EVK_OK;
    if (!cJSON_IsString(v)) return evk__bad(label, key, v, "a string");
    if (strlen(v->valuestring) >= n) return evk__bad(label, key, v, "a shorter string");
    strcpy(out, v->valuestring);
    return EVK_OK;
}

/* An enumerated string: index into names (aliases allowed through `values`). Absent: unchanged.
 * null: `null_value` if >= 0, else rejected. */
static evk_status evk__get_enum(const cJSON *o, const char *label, const char *key, const char *const *names, const int *values,
                                int count, int null_value, int *out) {
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!raw) return EVK_OK;
    if (cJSON_IsNull(raw)) {
        if (null_value >= 0) {
            *out = null_value;
            return EVK_OK;
        }
    } else if (cJSON_IsString(raw)) {
        for (int i = 0; i < count; i++)
            if (!strcmp(raw->valuestring, names[i])) {
                *out = values ? values[i] : i;
                return EVK_OK;
            }
    }
    char list[400];
    size_t u = 0;
    list[0] = 0;
    for (int i = 0; i < count && u < sizeof list; i++) u += (size_t)snprintf(list + u, sizeof list - u, "%s\"%s\"", i ? ", " : "", names[i]);
    if (null_value >= 0 && u < sizeof list) snprintf(list + u, sizeof list - u, ", null");
    char b[96];
    return evk_fail(EVK_ERROR_FORMAT, "%s: unsupported value %s for \"%s\" (supported: %s)", label, evk__show(raw, b, sizeof b), key, list);
}

/* An int or a list of ints, one per block. A single int fills every block. */
static evk_status evk__get_int_list(const cJSON *o, const char *label, const char *key, int blocks, int lo, int hi, int *out,
                                    bool *was_list) {
    const cJSON *v = evk__key(o, key);
    if (was_list) *was_list = false;
    if (!v) return EVK_OK;
    int x;
    if (evk__as_int(v, &x)) {
        if (x < lo || x > hi) return evk__bad(label, key, v, "a positive integer in range");
        for (int i = 0; i < blocks; i++) out[i] = x;
        return EVK_OK;
    }
    if (!cJSON_IsArray(v)) return evk__bad(label, key, v, "an integer or a list of integers");
    if (cJSON_GetArraySize(v) != blocks) {
        char want[64];
        snprintf(want, sizeof want, "one integer per block (%d)", blocks);
        return evk__bad(label, key, v, want);
    }
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (cJSON_IsArray(e)) return evk__bad(label, key, v, "a flat list (nested per-layer lists are not supported)");
        if (!evk__as_int(e, &x) || x < lo || x > hi) return evk__bad(label, key, v, "a list of positive integers in range");
        out[i] = x;
    }
    if (was_list) *was_list = true;
    return EVK_OK;
}

static evk_status evk__get_bool_list(const cJSON *o, const char *label, const char *key, int blocks, bool *out, bool *was_list) {
    const cJSON *v = evk__key(o, key);
    if (was_list) *was_list = false;
    if (!v) return EVK_OK;
    if (cJSON_IsBool(v)) {
        for (int i = 0; i < blocks; i++) out[i] = cJSON_IsTrue(v);
        return EVK_OK;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != blocks) return evk__bad(label, key, v, "true/false or one per block");
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsBool(e)) return evk__bad(label, key, v, "a list of true/false");
        out[i] = cJSON_IsTrue(e);
    }
    if (was_list) *was_list = true;
    return EVK_OK;
}

/* Reject a key that is present with a value other than null/false/absent-equivalent. */
static evk_status evk__require_null(const cJSON *o, const char *label, const char *key, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return EVK_OK;
    char b[96];
    return evk_fail(EVK_ERROR_FORMAT, "%s: unsupported value %s for \"%s\" (%s; only null is supported)", label, evk__show(v, b, sizeof b),
                    key, what);
}

typedef evk_status (*evk__parse_fn)(const cJSON *root, const char *label, void *out);

static evk_status evk__parse_with(const char *json, const char *label, evk__parse_fn fn, void *out) {
    if (!label) label = "<config>";
    cJSON *root;
    EVK_TRY(evk__parse_root(json, label, &root));
    evk_status s = fn(root, label, out);
    cJSON_Delete(root);
    return s;
}

static evk_status evk__load_with(const char *path, evk_status (*parse)(const char *, const char *, void *), void *out) {
    char *text;
    EVK_TRY(evk_file_read_text(path, 16u << 20, &text));
    evk_status s = parse(text, path, out);
    free(text);
    return s;
}

static const char *const evk__act_names[] = {"silu", "swish", "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "mish", "relu"};
static const int evk__act_values[] = {EVK_ACT_SILU, EVK_ACT_SILU, EVK_ACT_GELU, EVK_ACT_GELU_TANH, EVK_ACT_GELU_TANH,
                                      EVK_ACT_GELU_TANH, EVK_ACT_QUICK_GELU, EVK_ACT_MISH, EVK_ACT_RELU};
#define EVK__CFG_ACT_COUNT ((int)(sizeof evk__act_values / sizeof *evk__act_values))

static evk_status evk__get_act(const cJSON *o, const char *label, const char *key, bool nullable, evk_activation *out) {
    int v = (int)*out;
    EVK_TRY(evk__get_enum(o, label, key, evk__act_names, evk__act_values, EVK__CFG_ACT_COUNT, nullable ? EVK_ACT_NONE : -1, &v));
    *out = (evk_activation)v;
    return EVK_OK;
}

/* ---- model_index.json --------------------------------------------------------------------- */

static evk_status evk__model_index(const cJSON *root, const char *label, void *p) {
    evk_model_index *mi = p;
    memset(mi, 0, sizeof *mi);
    EVK_TRY(evk__get_string(root, label, "_class_name", mi->class_name, sizeof mi->class_name));
    if (!mi->class_name[0]) return evk_fail(EVK_ERROR_FORMAT, "%s: no \"_class_name\" (not a diffusers model_index.json?)", label);
    EVK_TRY(evk__get_string(root, label, "_diffusers_version", mi->diffusers_version, sizeof mi->diffusers_version));
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e->string[0] == '_' || !cJSON_IsArray(e)) continue; /* "requires_safety_checker": true, ... */
        if (cJSON_GetArraySize(e) != 2) return evk__bad(label, e->string, e, "[library, class]");
        if (mi->count == EVK_MODEL_INDEX_MAX) return evk_fail(EVK_ERROR_FORMAT, "%s: more than %d components", label, EVK_MODEL_INDEX_MAX);
        if (strlen(e->string) >= EVK_CONFIG_MAX_NAME) return evk__bad(label, e->string, e, "a shorter component name");
        strcpy(mi->components[mi->count].name, e->string);
        const cJSON *lib = e->child, *cls = e->child->next;
        for (int k = 0; k < 2; k++) {
            const cJSON *v = k ? cls : lib;
            char *dst = k ? mi->components[mi->count].class_name : mi->components[mi->count].library;
            if (cJSON_IsNull(v)) continue;
            if (!cJSON_IsString(v) || strlen(v->valuestring) >= EVK_CONFIG_MAX_NAME) return evk__bad(label, e->string, e, "[library, class] strings");
            strcpy(dst, v->valuestring);
        }
        mi->count++;
    }
    return EVK_OK;
}

evk_status evk_model_index_parse(const char *json, const char *label, evk_model_index *out) {
    return evk__parse_with(json, label, evk__model_index, out);
}
static evk_status evk__model_index_p(const char *j, const char *l, void *o) { return evk_model_index_parse(j, l, o); }
evk_status evk_model_index_load(const char *path, evk_model_index *out) { return evk__load_with(path, evk__model_index_p, out); }

const char *evk_model_index_class(const evk_model_index *mi, const char *component) {
    for (int i = 0; i < mi->count; i++)
        if (!strcmp(mi->components[i].name, component)) return mi->components[i].class_name[0] ? mi->components[i].class_name : NULL;
    return NULL;
}

/* ---- UNet2DConditionModel ------------------------------------------------------------------ */

const char *evk_unet_block_name(evk_unet_block b) {
    static const char *n[] = {"DownBlock2D", "CrossAttnDownBlock2D", "UpBlock2D", "CrossAttnUpBlock2D",
                              "UNetMidBlock2DCrossAttn", "UNetMidBlock2D", "null"};
    return (unsigned)b <= EVK_UNET_MID_NONE ? n[b] : "?";
}

void evk_unet_config_default(evk_unet_config *c) {
    memset(c, 0, sizeof *c);
    static const int channels[4] = {320, 640, 1280, 1280};
    c->in_channels = c->out_channels = 4;
    c->flip_sin_to_cos = true;
    c->num_blocks = 4;
    for (int i = 0; i < 4; i++) {
        c->down_block_types[i] = i < 3 ? EVK_UNET_CROSS_ATTN_DOWN_BLOCK : EVK_UNET_DOWN_BLOCK;
        c->up_block_types[i] = i == 0 ? EVK_UNET_UP_BLOCK : EVK_UNET_CROSS_ATTN_UP_BLOCK;
        c->block_out_channels[i] = channels[i];
    }
    for (int i = 0; i < EVK_CONFIG_MAX_BLOCKS; i++) {
        c->layers_per_block[i] = 2;
        c->transformer_layers_per_block[i] = 1;
        c->attention_head_dim[i] = 8;
        c->num_attention_heads[i] = 8;
        c->cross_attention_dim[i] = 1280;
    }
    c->mid_block_type = EVK_UNET_MID_CROSS_ATTN;
    c->time_embedding_dim = 4 * 320;
    c->norm_num_groups = 32;
    c->norm_eps = 1e-5f;
    c->downsample_padding = 1;
    c->mid_block_scale_factor = 1;
    c->act_fn = EVK_ACT_SILU;
    c->resnet_out_scale_factor = 1;
    c->time_embedding_act_fn = EVK_ACT_NONE;
    c->timestep_post_act = EVK_ACT_NONE;
    c->conv_in_kernel = c->conv_out_kernel = 3;
}

static evk_status evk__block_list(const cJSON *root, const char *label, const char *key, const char *const *names, const int *values,
                                  int count, evk_unet_block *out, int *n) {
    const cJSON *v = evk__key(root, key);
    if (!v) return EVK_OK;
    if (!cJSON_IsArray(v)) return evk__bad(label, key, v, "a list of block type names");
    int len = cJSON_GetArraySize(v);
    if (len < 1 || len > EVK_CONFIG_MAX_BLOCKS) return evk__bad(label, key, v, "1 to 8 block types");
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        int k = -1;
        for (int j = 0; cJSON_IsString(e) && j < count; j++)
            if (!strcmp(e->valuestring, names[j])) k = j;
        if (k < 0) {
            char b[96], list[200];
            size_t u = 0;
            list[0] = 0;
            for (int j = 0; j < count; j++) u += (size_t)snprintf(list + u, sizeof list - u, "%s\"%s\"", j ? ", " : "", names[j]);
            return evk_fail(EVK_ERROR_FORMAT, "%s: unsupported value %s in \"%s\" (supported: %s)", label, evk__show(e, b, sizeof b), key, list);
        }
        out[i] = (evk_unet_block)values[k];
    }
    *n = len;
    return EVK_OK;
}

/* The block lists of a UNet config (2-D or 3-D: `dim` is "2D" or "3D"): down_block_types,
 * up_block_types and block_out_channels, all of one length (*num_blocks is the default length and
 * receives the length read). */
static evk_status evk__unet_blocks(const cJSON *r, const char *L, const char *dim, int *num_blocks, evk_unet_block *down,
                                   evk_unet_block *up, int *block_out_channels) {
    char d0[32], d1[32], u0[32], u1[32];
    snprintf(d0, sizeof d0, "DownBlock%s", dim);
    snprintf(d1, sizeof d1, "CrossAttnDownBlock%s", dim);
    snprintf(u0, sizeof u0, "UpBlock%s", dim);
    snprintf(u1, sizeof u1, "CrossAttnUpBlock%s", dim);
    const char *const down_names[] = {d0, d1}, *const up_names[] = {u0, u1};
    static const int down_values[] = {EVK_UNET_DOWN_BLOCK, EVK_UNET_CROSS_ATTN_DOWN_BLOCK};
    static const int up_values[] = {EVK_UNET_UP_BLOCK, EVK_UNET_CROSS_ATTN_UP_BLOCK};
    int nd = *num_blocks, nu = *num_blocks, nc = *num_blocks;
    EVK_TRY(evk__block_list(r, L, "down_block_types", down_names, down_values, 2, down, &nd));
    EVK_TRY(evk__block_list(r, L, "up_block_types", up_names, up_values, 2, up, &nu));
    if (nd != nu)
        return evk_fail(EVK_ERROR_FORMAT, "%s: %d down_block_types but %d up_block_types (diffusers requires the same number)", L, nd, nu);
    *num_blocks = nd;
    const cJSON *boc = evk__key(r, "block_out_channels");
    if (boc) {
        if (!cJSON_IsArray(boc)) return evk__bad(L, "block_out_channels", boc, "a list of integers");
        nc = cJSON_GetArraySize(boc);
    }
    if (nc != nd)
        return evk_fail(EVK_ERROR_FORMAT, "%s: %d block_out_channels but %d down_block_types (diffusers requires the same number)", L, nc, nd);
    return evk__get_int_list(r, L, "block_out_channels", nd, 1, 1 << 16, block_out_channels, NULL);
}

static evk_status evk__unet(const cJSON *r, const char *L, void *p) {
    evk_unet_config *c = p;
    evk_unet_config_default(c);
    c->mid_block_only_cross_attention = -1; /* resolved below, once only_cross_attention is known */
    EVK_TRY(evk__get_int(r, L, "in_channels", 1, 1 << 16, &c->in_channels));
    EVK_TRY(evk__get_int(r, L, "out_channels", 1, 1 << 16, &c->out_channels));
    EVK_TRY(evk__get_int(r, L, "sample_size", 1, 1 << 16, &c->sample_size));
    EVK_TRY(evk__get_bool(r, L, "center_input_sample", &c->center_input_sample));
    EVK_TRY(evk__get_bool(r, L, "flip_sin_to_cos", &c->flip_sin_to_cos));
    EVK_TRY(evk__get_float(r, L, "freq_shift", &c->freq_shift));

    EVK_TRY(evk__unet_blocks(r, L, "2D", &c->num_blocks, c->down_block_types, c->up_block_types, c->block_out_channels));
    const int nd = c->num_blocks;
    static const char *const mid_names[] = {"UNetMidBlock2DCrossAttn", "UNetMidBlock2D"};
    int mid = 0; /* index into mid_names; absent: UNetMidBlock2DCrossAttn */
    EVK_TRY(evk__get_enum(r, L, "mid_block_type", mid_names, NULL, 2, 2, &mid));
    c->mid_block_type = mid == 0 ? EVK_UNET_MID_CROSS_ATTN : mid == 1 ? EVK_UNET_MID_PLAIN : EVK_UNET_MID_NONE;

    EVK_TRY(evk__get_int_list(r, L, "layers_per_block", nd, 1, 64, c->layers_per_block, NULL));
    EVK_TRY(evk__get_int_list(r, L, "transformer_layers_per_block", nd, 1, 64, c->transformer_layers_per_block, NULL));
    EVK_TRY(evk__require_null(r, L, "reverse_transformer_layers_per_block", "per-layer transformer depths"));
    EVK_TRY(evk__get_int_list(r, L, "attention_head_dim", nd, 1, 4096, c->attention_head_dim, NULL));
    /* diffusers: num_attention_heads = num_attention_heads or attention_head_dim (see config.h) */
    for (int i = 0; i < nd; i++) c->num_attention_heads[i] = c->attention_head_dim[i];
    const cJSON *nah = evk__key(r, "num_attention_heads");
    if (nah) {
        /* UNet2DConditionModel raises when it is given; keep the same rule so a config that
         * diffusers refuses is not read differently here */
        char b[96];
        return evk_fail(EVK_ERROR_FORMAT,
                        "%s: \"num_attention_heads\" is %s; UNet2DConditionModel does not accept it (the head count is given by "
                        "\"attention_head_dim\")", L, evk__show(nah, b, sizeof b));
    }
    EVK_TRY(evk__get_int_list(r, L, "cross_attention_dim", nd, 1, 1 << 16, c->cross_attention_dim, NULL));
    bool oca_list = false;
    EVK_TRY(evk__get_bool_list(r, L, "only_cross_attention", nd, c->only_cross_attention, &oca_list));
    const cJSON *mocv = evk__key(r, "mid_block_only_cross_attention");
    if (mocv) {
        if (!cJSON_IsBool(mocv)) return evk__bad(L, "mid_block_only_cross_attention", mocv, "true, false or null");
        c->mid_block_only_cross_attention = cJSON_IsTrue(mocv);
    }
    /* diffusers: with a bool only_cross_attention and no explicit mid value, the mid block follows it */
    if (c->mid_block_only_cross_attention < 0) c->mid_block_only_cross_attention = oca_list ? 0 : c->only_cross_attention[0];
    EVK_TRY(evk__get_bool(r, L, "dual_cross_attention", &c->dual_cross_attention));
    if (c->dual_cross_attention) return evk_fail(EVK_ERROR_FORMAT, "%s: unsupported value true for \"dual_cross_attention\"", L);
    EVK_TRY(evk__get_bool(r, L, "use_linear_projection", &c->use_linear_projection));
    EVK_TRY(evk__get_bool(r, L, "upcast_attention", &c->upcast_attention));
    const cJSON *ng = cJSON_GetObjectItemCaseSensitive(r, "norm_num_groups");
    if (ng && cJSON_IsNull(ng)) c->norm_num_groups = 0;
    else EVK_TRY(evk__get_int(r, L, "norm_num_groups", 1, 1 << 16, &c->norm_num_groups));
    EVK_TRY(evk__get_float(r, L, "norm_eps", &c->norm_eps));
    EVK_TRY(evk__get_int(r, L, "downsample_padding", 0, 16, &c->downsample_padding));
    EVK_TRY(evk__get_float(r, L, "mid_block_scale_factor", &c->mid_block_scale_factor));
    EVK_TRY(evk__get_act(r, L, "act_fn", false, &c->act_fn));
    static const char *const shift_names[] = {"default", "scale_shift"};
    int shift = 0;
    EVK_TRY(evk__get_enum(r, L, "resnet_time_scale_shift", shift_names, NULL, 2, -1, &shift));
    c->resnet_scale_shift = shift == 1;
    EVK_TRY(evk__get_bool(r, L, "resnet_skip_time_act", &c->resnet_skip_time_act));
    EVK_TRY(evk__get_float(r, L, "resnet_out_scale_factor", &c->resnet_out_scale_factor));
    static const char *const temb_names[] = {"positional"};
    int temb = 0;
    EVK_TRY(evk__get_enum(r, L, "time_embedding_type", temb_names, NULL, 1, -1, &temb));
    c->time_embedding_dim = c->block_out_channels[0] * 4;
    EVK_TRY(evk__get_int(r, L, "time_embedding_dim", 1, 1 << 20, &c->time_embedding_dim));
    EVK_TRY(evk__get_act(r, L, "time_embedding_act_fn", true, &c->time_embedding_act_fn));
    EVK_TRY(evk__get_act(r, L, "timestep_post_act", true, &c->timestep_post_act));
    EVK_TRY(evk__get_int(r, L, "time_cond_proj_dim", 1, 1 << 20, &c->time_cond_proj_dim));
    EVK_TRY(evk__get_int(r, L, "conv_in_kernel", 1, 15, &c->conv_in_kernel));
    EVK_TRY(evk__get_int(r, L, "conv_out_kernel", 1, 15, &c->conv_out_kernel));
    if (!(c->conv_in_kernel & 1) || !(c->conv_out_kernel & 1))
        return evk_fail(EVK_ERROR_FORMAT, "%s: conv_in_kernel/conv_out_kernel must be odd (got %d, %d)", L, c->conv_in_kernel, c->conv_out_kernel);
    /* conditioning extras the SD family does not use: refuse rather than ignore */
    EVK_TRY(evk__require_null(r, L, "class_embed_type", "class embeddings"));
    EVK_TRY(evk__require_null(r, L, "num_class_embeds", "class embeddings"));
    EVK_TRY(evk__require_null(r, L, "addition_embed_type", "added text/time embeddings"));
    EVK_TRY(evk__require_null(r, L, "encoder_hid_dim", "an encoder hidden-state projection"));
    EVK_TRY(evk__require_null(r, L, "encoder_hid_dim_type", "an encoder hidden-state projection"));
    EVK_TRY(evk__require_null(r, L, "class_embeddings_concat", "class embeddings"));
    EVK_TRY(evk__require_null(r, L, "cross_attention_norm", "a norm on the cross-attention context"));
    EVK_TRY(evk__require_null(r, L, "projection_class_embeddings_input_dim", "class embeddings"));
    static const char *const attn_names[] = {"default"};
    int at = 0;
    EVK_TRY(evk__get_enum(r, L, "attention_type", attn_names, NULL, 1, -1, &at));
    for (int i = 0; i < nd; i++)
        if (c->block_out_channels[i] % c->num_attention_heads[i])
            return evk_fail(EVK_ERROR_FORMAT, "%s: block %d has %d channels, not divisible by its %d attention heads", L, i,
                            c->block_out_channels[i], c->num_attention_heads[i]);
    if (c->norm_num_groups)
        for (int i = 0; i < nd; i++)
            if (c->block_out_channels[i] % c->norm_num_groups)
                return evk_fail(EVK_ERROR_FORMAT, "%s: block %d has %d channels, not divisible by norm_num_groups %d", L, i,
                                c->block_out_channels[i], c->norm_num_groups);
    return EVK_OK;
}

evk_status evk_unet_config_parse(const char *json, const char *label, evk_unet_config *out) {
    return evk__parse_with(json, label, evk__unet, out);
}
static evk_status evk__unet_p(const char *j, const char *l, void *o) { return evk_unet_config_parse(j, l, o); }
evk_status evk_unet_config_load(const char *path, evk_unet_config *out) { return evk__load_with(path, evk__unet_p, out); }

/* ---- UNet3DConditionModel -------------------------------------------------------------------- */

static evk_status evk__unet3d(const cJSON *r, const char *L, void *p) {
    evk_unet3d_config *c = p;
    memset(c, 0, sizeof *c);
    static const int channels[] = {320, 640, 1280, 1280};
    c->in_channels = c->out_channels = 4;
    c->num_blocks = 4;
    for (int i = 0; i < 4; i++) {
        c->down_block_types[i] = i < 3 ? EVK_UNET_CROSS_ATTN_DOWN_BLOCK : EVK_UNET_DOWN_BLOCK;
        c->up_block_types[i] = i == 0 ? EVK_UNET_UP_BLOCK : EVK_UNET_CROSS_ATTN_UP_BLOCK;
        c->block_out_channels[i] = channels[i];
    }
    c->layers_per_block = 2;
    c->attention_head_dim = 64;
    c->cross_attention_dim = 1024;
    c->norm_num_groups = 32;
    c->norm_eps = 1e-5f;
    c->downsample_padding = 1;
    c->mid_block_scale_factor = 1;
    EVK_TRY(evk__get_int(r, L, "in_channels", 1, 1 << 16, &c->in_channels));
    EVK_TRY(evk__get_int(r, L, "out_channels", 1, 1 << 16, &c->out_channels));
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(r, "sample_size");
    if (!ss || !cJSON_IsNull(ss)) EVK_TRY(evk__get_int(r, L, "sample_size", 1, 1 << 16, &c->sample_size));
    EVK_TRY(evk__unet_blocks(r, L, "3D", &c->num_blocks, c->down_block_types, c->up_block_types, c->block_out_channels));
    const int nd = c->num_blocks;
    EVK_TRY(evk__get_int(r, L, "layers_per_block", 1, 64, &c->layers_per_block));
    /* a per-block list cannot build transformer_in (8 heads of attention_head_dim) in diffusers */
    EVK_TRY(evk__get_int(r, L, "attention_head_dim", 1, 4096, &c->attention_head_dim));
    EVK_TRY(evk__require_null(r, L, "num_attention_heads", "UNet3DConditionModel raises when it is given"));
    EVK_TRY(evk__get_int(r, L, "cross_attention_dim", 1, 1 << 16, &c->cross_attention_dim));
    const cJSON *ng = cJSON_GetObjectItemCaseSensitive(r, "norm_num_groups");
    if (ng && cJSON_IsNull(ng))
        return evk_fail(EVK_ERROR_FORMAT, "%s: \"norm_num_groups\" null is not supported (the temporal layers need groups)", L);
    EVK_TRY(evk__get_int(r, L, "norm_num_groups", 1, 1 << 16, &c->norm_num_groups));
    EVK_TRY(evk__get_float(r, L, "norm_eps", &c->norm_eps));
    EVK_TRY(evk__get_int(r, L, "downsample_padding", 0, 16, &c->downsample_padding));
    EVK_TRY(evk__get_float(r, L, "mid_block_scale_factor", &c->mid_block_scale_factor));
    evk_activation act = EVK_ACT_SILU;
    EVK_TRY(evk__get_act(r, L, "act_fn", false, &act));
    if (act != EVK_ACT_SILU) return evk_fail(EVK_ERROR_FORMAT, "%s: unsupported \"act_fn\" (silu only)", L);
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(r, "time_cond_proj_dim");
    if (tc && !cJSON_IsNull(tc)) EVK_TRY(evk__get_int(r, L, "time_cond_proj_dim", 1, 1 << 20, &c->time_cond_proj_dim));
    for (int i = 0; i < nd; i++) {
        if (c->block_out_channels[i] % c->attention_head_dim)
            return evk_fail(EVK_ERROR_FORMAT, "%s: block %d has %d channels, not divisible into heads of attention_head_dim %d", L, i,
                            c->block_out_channels[i], c->attention_head_dim);
        if (c->block_out_channels[i] % c->norm_num_groups)
            return evk_fail(EVK_ERROR_FORMAT, "%s: block %d has %d channels, not divisible by norm_num_groups %d", L, i,
                            c->block_out_channels[i], c->norm_num_groups);
    }
    return EVK_OK;
}

evk_status evk_unet3d_config_parse(const char *json, const char *label, evk_unet3d_config *out) {
    return evk__parse_with(json, label, evk__unet3d, out);
}
static evk_status evk__unet3d_p(const char *j, const char *l, void *o) { return evk_unet3d_config_parse(j, l, o); }
evk_status evk_unet3d_config_load(const char *path, evk_unet3d_config *out) { return evk__load_with(path, evk__unet3d_p, out); }

/* ---- AutoencoderKL ------------------------------------------------------------------------ */

void evk_vae_config_default(evk_vae_config *c) {
    memset(c, 0, sizeof *c);
    c->in_channels = c->out_channels = 3;
    c->num_blocks = 1;
    c->block_out_channels[0] = 64;
    c->layers_per_block = 1;
    c->act_fn = EVK_ACT_SILU;
    c->latent_channels = 4;
    c->norm_num_groups = 32;
    c->sample_size = 32;
    c->scaling_factor = 0.18215f;
    c->force_upcast = true;
    c->use_quant_conv = c->use_post_quant_conv = true;
    c->mid_block_add_attention = true;
}

static evk_status evk__vae(const cJSON *r, const char *L, void *p) {
    evk_vae_config *c = p;
    evk_vae_config_default(c);
    EVK_TRY(evk__get_int(r, L, "in_channels", 1, 1 << 16, &c->in_channels));
    EVK_TRY(evk__get_int(r, L, "out_channels", 1, 1 << 16, &c->out_channels));
    const cJSON *boc = evk__key(r, "block_out_channels");
    if (boc) {
        if (!cJSON_IsArray(boc) || cJSON_GetArraySize(boc) < 1 || cJSON_GetArraySize(boc) > EVK_CONFIG_MAX_BLOCKS)
            return evk__bad(L, "block_out_channels", boc, "a list of 1 to 8 integers");
        c->num_blocks = cJSON_GetArraySize(boc);
        EVK_TRY(evk__get_int_list(r, L, "block_out_channels", c->num_blocks, 1, 1 << 16, c->block_out_channels, NULL));
    }
    static const char *const down[] = {"DownEncoderBlock2D"}, *const up[] = {"UpDecoderBlock2D"};
    static const int zero[] = {0};
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "up_block_types" : "down_block_types";
        evk_unet_block tmp[EVK_CONFIG_MAX_BLOCKS];
        int n = c->num_blocks;
        const cJSON *v = evk__key(r, key);
        if (!v) {
            if (c->num_blocks != 1) /* the default lists have one entry */
                return evk_fail(EVK_ERROR_FORMAT, "%s: %d block_out_channels but \"%s\" is absent (one block by default)", L, c->num_blocks, key);
            continue;
        }
        EVK_TRY(evk__block_list(r, L, key, k ? up : down, zero, 1, tmp, &n));
        if (n != c->num_blocks)
            return evk_fail(EVK_ERROR_FORMAT, "%s: %d %s but %d block_out_channels", L, n, key, c->num_blocks);
    }
    EVK_TRY(evk__get_int(r, L, "layers_per_block", 1, 64, &c->layers_per_block));
    EVK_TRY(evk__get_act(r, L, "act_fn", false, &c->act_fn));
    EVK_TRY(evk__get_int(r, L, "latent_channels", 1, 1 << 16, &c->latent_channels));
    EVK_TRY(evk__get_int(r, L, "norm_num_groups", 1, 1 << 16, &c->norm_num_groups));
    EVK_TRY(evk__get_int(r, L, "sample_size", 1, 1 << 20, &c->sample_size));
    EVK_TRY(evk__get_float(r, L, "scaling_factor", &c->scaling_factor));
    if (evk__key(r, "shift_factor")) {
        c->has_shift_factor = true;
        EVK_TRY(evk__get_float(r, L, "shift_factor", &c->shift_factor));
    }
    EVK_TRY(evk__get_bool(r, L, "force_upcast", &c->force_upcast));
    EVK_TRY(evk__get_bool(r, L, "use_quant_conv", &c->use_quant_conv));
    EVK_TRY(evk__get_bool(r, L, "use_post_quant_conv", &c->use_post_quant_conv));
    EVK_TRY(evk__get_bool(r, L, "mid_block_add_attention", &c->mid_block_add_attention));
    for (int i = 0; i < c->num_blocks; i++)
        if (c->block_out_channels[i] % c->norm_num_groups)
            return evk_fail(EVK_ERROR_FORMAT, "%s: block %d has %d channels, not divisible by norm_num_groups %d", L, i,
                            c->block_out_channels[i], c->norm_num_groups);
    return EVK_OK;
}

evk_status evk_vae_config_parse(const char *json, const char *label, evk_vae_config *out) {
    return evk__parse_with(json, label, evk__vae, out);
}
static evk_status evk__vae_p(const char *j, const char *l, void *o) { return evk_vae_config_parse(j, l, o); }
evk_status evk_vae_config_load(const char *path, evk_vae_config *out) { return evk__load_with(path, evk__vae_p, out); }

/* ---- CLIP ---------------------------------------------------------------------------------- */

void evk_clip_text_config_default(evk_clip_text_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 49408;
    c->hidden_size = 512;
    c->intermediate_size = 2048;
    c->projection_dim = 512;
    c->num_hidden_layers = 12;
    c->num_attention_heads = 8;
    c->max_position_embeddings = 77;
    c->hidden_act = EVK_ACT_QUICK_GELU;
    c->layer_norm_eps = 1e-5f;
    c->pad_token_id = 1;
    c->bos_token_id = 49406;
    c->eos_token_id = 49407;
}

void evk_clip_vision_config_default(evk_clip_vision_config *c) {
    memset(c, 0, sizeof *c);
    c->hidden_size = 768;
    c->intermediate_size = 3072;
    c->projection_dim = 512;
    c->num_hidden_layers = 12;
    c->num_attention_heads = 12;
    c->num_channels = 3;
    c->image_size = 224;
    c->patch_size = 32;
    c->hidden_act = EVK_ACT_QUICK_GELU;
    c->layer_norm_eps = 1e-5f;
}

static evk_status evk__clip_text_fields(const cJSON *r, const char *L, evk_clip_text_config *c) {
    EVK_TRY(evk__get_int(r, L, "vocab_size", 1, 1 << 24, &c->vocab_size));
    EVK_TRY(evk__get_int(r, L, "hidden_size", 1, 1 << 16, &c->hidden_size));
    EVK_TRY(evk__get_int(r, L, "intermediate_size", 1, 1 << 18, &c->intermediate_size));
    EVK_TRY(evk__get_int(r, L, "projection_dim", 1, 1 << 16, &c->projection_dim));
    EVK_TRY(evk__get_int(r, L, "num_hidden_layers", 1, 1024, &c->num_hidden_layers));
    EVK_TRY(evk__get_int(r, L, "num_attention_heads", 1, 1024, &c->num_attention_heads));
    EVK_TRY(evk__get_int(r, L, "max_position_embeddings", 1, 1 << 16, &c->max_position_embeddings));
    EVK_TRY(evk__get_act(r, L, "hidden_act", false, &c->hidden_act));
    EVK_TRY(evk__get_float(r, L, "layer_norm_eps", &c->layer_norm_eps));
    EVK_TRY(evk__get_int(r, L, "pad_token_id", -1, 1 << 24, &c->pad_token_id));
    EVK_TRY(evk__get_int(r, L, "bos_token_id", -1, 1 << 24, &c->bos_token_id));
    EVK_TRY(evk__get_int(r, L, "eos_token_id", -1, 1 << 24, &c->eos_token_id));
    c->legacy_eos = c->eos_token_id == 2;
    if (c->hidden_size % c->num_attention_heads)
        return evk_fail(EVK_ERROR_FORMAT, "%s: hidden_size %d is not divisible by num_attention_heads %d", L, c->hidden_size,
                        c->num_attention_heads);
    return EVK_OK;
}

static evk_status evk__clip_vision_fields(const cJSON *r, const char *L, evk_clip_vision_config *c) {
    EVK_TRY(evk__get_int(r, L, "hidden_size", 1, 1 << 16, &c->hidden_size));
    EVK_TRY(evk__get_int(r, L, "intermediate_size", 1, 1 << 18, &c->intermediate_size));
    EVK_TRY(evk__get_int(r, L, "projection_dim", 1, 1 << 16, &c->projection_dim));
    EVK_TRY(evk__get_int(r, L, "num_hidden_layers", 1, 1024, &c->num_hidden_layers));
    EVK_TRY(evk__get_int(r, L, "num_attention_heads", 1, 1024, &c->num_attention_heads));
    EVK_TRY(evk__get_int(r, L, "num_channels", 1, 64, &c->num_channels));
    EVK_TRY(evk__get_int(r, L, "image_size", 1, 1 << 14, &c->image_size));
    EVK_TRY(evk__get_int(r, L, "patch_size", 1, 1 << 14, &c->patch_size));
    EVK_TRY(evk__get_act(r, L, "hidden_act", false, &c->hidden_act));
    EVK_TRY(evk__get_float(r, L, "layer_norm_eps", &c->layer_norm_eps));
    if (c->image_size % c->patch_size)
        return evk_fail(EVK_ERROR_FORMAT, "%s: image_size %d is not a multiple of patch_size %d", L, c->image_size, c->patch_size);
    if (c->hidden_size % c->num_attention_heads)
        return evk_fail(EVK_ERROR_FORMAT, "%s: vision hidden_size %d is not divisible by num_attention_heads %d", L, c->hidden_size,
                        c->num_attention_heads);
    return EVK_OK;
}

/* transformers' CLIPConfig: `text_config_dict` (older files) takes precedence over `text_config` */
static const cJSON *evk__sub(const cJSON *r, const char *a, const char *b) {
    const cJSON *v = evk__key(r, b);
    if (v && cJSON_IsObject(v)) return v;
    v = evk__key(r, a);
    return v && cJSON_IsObject(v) ? v : NULL;
}

static evk_status evk__clip_text(const cJSON *r, const char *L, void *p) {
    evk_clip_text_config *c = p;
    evk_clip_text_config_default(c);
    const cJSON *sub = evk__sub(r, "text_config", "text_config_dict");
    char label[512];
    if (sub) snprintf(label, sizeof label, "%s: text_config", L);
    return evk__clip_text_fields(sub ? sub : r, sub ? label : L, c);
}

evk_status evk_clip_text_config_parse(const char *json, const char *label, evk_clip_text_config *out) {
    return evk__parse_with(json, label, evk__clip_text, out);
}
static evk_status evk__clip_text_p(const char *j, const char *l, void *o) { return evk_clip_text_config_parse(j, l, o); }
evk_status evk_clip_text_config_load(const char *path, evk_clip_text_config *out) { return evk__load_with(path, evk__clip_text_p, out); }

static evk_status evk__clip(const cJSON *r, const char *L, void *p) {
    evk_clip_config *c = p;
    memset(c, 0, sizeof *c);
    evk_clip_text_config_default(&c->text);
    evk_clip_vision_config_default(&c->vision);
    c->projection_dim = 512;
    c->logit_scale_init_value = 2.6592f;
    const cJSON *t = evk__sub(r, "text_config", "text_config_dict"), *v = evk__sub(r, "vision_config", "vision_config_dict");
    static const char *const subs[] = {"text_config", "vision_config", "text_config_dict", "vision_config_dict"};
    for (int i = 0; i < 4; i++) {
        const cJSON *raw = evk__key(r, subs[i]);
        if (raw && !cJSON_IsObject(raw)) return evk__bad(L, subs[i], raw, "an object");
    }
    char label[512];
    snprintf(label, sizeof label, "%s: text_config", L);
    if (t) EVK_TRY(evk__clip_text_fields(t, label, &c->text));
    snprintf(label, sizeof label, "%s: vision_config", L);
    if (v) EVK_TRY(evk__clip_vision_fields(v, label, &c->vision));
    EVK_TRY(evk__get_int(r, L, "projection_dim", 1, 1 << 16, &c->projection_dim));
    EVK_TRY(evk__get_float(r, L, "logit_scale_init_value", &c->logit_scale_init_value));
    return EVK_OK;
}

evk_status evk_clip_config_parse(const char *json, const char *label, evk_clip_config *out) {
    return evk__parse_with(json, label, evk__clip, out);
}
static evk_status evk__clip_p(const char *j, const char *l, void *o) { return evk_clip_config_parse(j, l, o); }
evk_status evk_clip_config_load(const char *path, evk_clip_config *out) { return evk__load_with(path, evk__clip_p, out); }

/* ---- CLIPImageProcessor ------------------------------------------------------------------- */

void evk_clip_preprocess_config_default(evk_clip_preprocess_config *c) {
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memset(c, 0, sizeof *c);
    c->do_resize = true;
    c->shortest_edge = 224;
    c->resample = EVK_RESAMPLE_BICUBIC;
    c->do_center_crop = true;
    c->crop_height = c->crop_width = 224;
    c->do_rescale = true;
    c->rescale_factor = 1.0f / 255.0f;
    c->do_normalize = true;
    memcpy(c->image_mean, mean, sizeof mean);
    memcpy(c->image_std, std, sizeof std);
    c->do_convert_rgb = true;
}

/* size: int (shortest edge), {"shortest_edge": n} or {"height": h, "width": w}; crop_size: int
 * (square) or {"height", "width"} — transformers' get_size_dict rules. */
static evk_status evk__size_dict(const cJSON *r, const char *L, const char *key, bool square, int *edge, int *h, int *w) {
    const cJSON *v = evk__key(r, key);
    if (!v) return EVK_OK;
    int x;
    if (evk__as_int(v, &x)) {
        if (x < 1) return evk__bad(L, key, v, "a positive size");
        if (square) *h = *w = x, *edge = 0;
        else *edge = x, *h = *w = 0;
        return EVK_OK;
    }
    if (!cJSON_IsObject(v)) return evk__bad(L, key, v, "an integer or a size object");
    int se = 0, hh = 0, ww = 0;
    EVK_TRY(evk__get_int(v, L, "shortest_edge", 1, 1 << 16, &se));
    EVK_TRY(evk__get_int(v, L, "height", 1, 1 << 16, &hh));
    EVK_TRY(evk__get_int(v, L, "width", 1, 1 << 16, &ww));
    if (!((se && !hh && !ww) || (!se && hh && ww)))
        return evk__bad(L, key, v, "{\"shortest_edge\": n} or {\"height\": h, \"width\": w}");
    if (square && se) hh = ww = se, se = 0;
    *edge = se, *h = hh, *w = ww;
    return EVK_OK;
}

static evk_status evk__float3(const cJSON *r, const char *L, const char *key, float *out) {
    const cJSON *v = evk__key(r, key);
    if (!v) return EVK_OK;
    if (cJSON_IsNumber(v)) {
        out[0] = out[1] = out[2] = (float)v->valuedouble;
        return EVK_OK;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3) return evk__bad(L, key, v, "a number or a list of 3 numbers");
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e)) return evk__bad(L, key, v, "a list of 3 numbers");
        out[i] = (float)e->valuedouble;
    }
    return EVK_OK;
}

static evk_status evk__preprocess(const cJSON *r, const char *L, void *p) {
    evk_clip_preprocess_config *c = p;
    evk_clip_preprocess_config_default(c);
    EVK_TRY(evk__get_bool(r, L, "do_resize", &c->do_resize));
    EVK_TRY(evk__size_dict(r, L, "size", false, &c->shortest_edge, &c->resize_height, &c->resize_width));
    int rs = (int)c->resample;
    EVK_TRY(evk__get_int(r, L, "resample", 0, 5, &rs));
    c->resample = (evk_resample)rs;
    EVK_TRY(evk__get_bool(r, L, "do_center_crop", &c->do_center_crop));
    int unused = 0;
    EVK_TRY(evk__size_dict(r, L, "crop_size", true, &unused, &c->crop_height, &c->crop_width));
    EVK_TRY(evk__get_bool(r, L, "do_rescale", &c->do_rescale));
    EVK_TRY(evk__get_float(r, L, "rescale_factor", &c->rescale_factor));
    EVK_TRY(evk__get_bool(r, L, "do_normalize", &c->do_normalize));
    EVK_TRY(evk__float3(r, L, "image_mean", c->image_mean));
    EVK_TRY(evk__float3(r, L, "image_std", c->image_std));
    for (int i = 0; i < 3; i++)
        if (!(c->image_std[i] > 0)) return evk_fail(EVK_ERROR_FORMAT, "%s: \"image_std\" must be positive", L);
    EVK_TRY(evk__get_bool(r, L, "do_convert_rgb", &c->do_convert_rgb));
    return EVK_OK;
}

evk_status evk_clip_preprocess_config_parse(const char *json, const char *label, evk_clip_preprocess_config *out) {
    return evk__parse_with(json, label, evk__preprocess, out);
}
static evk_status evk__preprocess_p(const char *j, const char *l, void *o) { return evk_clip_preprocess_config_parse(j, l, o); }
evk_status evk_clip_preprocess_config_load(const char *path, evk_clip_preprocess_config *out) {
    return evk__load_with(path, evk__preprocess_p, out);
}

/* ---- SD3 transformer -------------------------------------------------------------------- */

static evk_status evk__mmdit(const cJSON *r, const char *L, void *p) {
    evk_mmdit_config *c = p;
    memset(c, 0, sizeof *c);
    char cls[EVK_CONFIG_MAX_NAME] = "";
    EVK_TRY(evk__get_string(r, L, "_class_name", cls, sizeof cls));
    if (strcmp(cls, "SD3Transformer2DModel"))
        return evk_fail(EVK_ERROR_FORMAT, "%s: \"_class_name\" is \"%s\", expected \"SD3Transformer2DModel\"", L, cls);
    *c = (evk_mmdit_config){.sample_size = 128, .patch_size = 2, .in_channels = 16, .out_channels = 16, .num_layers = 18,
                            .attention_head_dim = 64, .num_attention_heads = 18, .joint_attention_dim = 4096,
                            .caption_projection_dim = 1152, .pooled_projection_dim = 2048, .pos_embed_max_size = 96};
    EVK_TRY(evk__get_int(r, L, "sample_size", 1, 1 << 16, &c->sample_size));
    EVK_TRY(evk__get_int(r, L, "patch_size", 1, 64, &c->patch_size));
    EVK_TRY(evk__get_int(r, L, "in_channels", 1, 1 << 16, &c->in_channels));
    c->out_channels = c->in_channels;
    const cJSON *oc = evk__key(r, "out_channels");
    if (oc && !cJSON_IsNull(oc)) EVK_TRY(evk__get_int(r, L, "out_channels", 1, 1 << 16, &c->out_channels));
    EVK_TRY(evk__get_int(r, L, "num_layers", 1, EVK_MMDIT_MAX_LAYERS, &c->num_layers));
    EVK_TRY(evk__get_int(r, L, "attention_head_dim", 1, 256, &c->attention_head_dim));
    EVK_TRY(evk__get_int(r, L, "num_attention_heads", 1, 1 << 10, &c->num_attention_heads));
    EVK_TRY(evk__get_int(r, L, "joint_attention_dim", 1, 1 << 16, &c->joint_attention_dim));
    EVK_TRY(evk__get_int(r, L, "caption_projection_dim", 1, 1 << 16, &c->caption_projection_dim));
    EVK_TRY(evk__get_int(r, L, "pooled_projection_dim", 1, 1 << 16, &c->pooled_projection_dim));
    const cJSON *pm = evk__key(r, "pos_embed_max_size");
    if (!pm || cJSON_IsNull(pm)) return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: pos_embed_max_size null (an uncropped position table) is not supported", L);
    EVK_TRY(evk__get_int(r, L, "pos_embed_max_size", 1, 1 << 12, &c->pos_embed_max_size));
    const cJSON *qk = evk__key(r, "qk_norm");
    if (qk && !cJSON_IsNull(qk)) {
        if (!cJSON_IsString(qk) || strcmp(qk->valuestring, "rms_norm")) return evk__bad(L, "qk_norm", qk, "null or \"rms_norm\"");
        c->qk_norm_rms = true;
    }
    const cJSON *dl = evk__key(r, "dual_attention_layers");
    if (dl && !cJSON_IsNull(dl)) {
        if (!cJSON_IsArray(dl)) return evk__bad(L, "dual_attention_layers", dl, "a list of layer indices");
        for (const cJSON *e = dl->child; e; e = e->next) {
            int i;
            if (!evk__as_int(e, &i) || i < 0 || i >= c->num_layers)
                return evk__bad(L, "dual_attention_layers", dl, "a list of layer indices below num_layers");
            c->dual_attention[i] = true;
        }
    }
    if (c->num_attention_heads * c->attention_head_dim != c->caption_projection_dim)
        return evk_fail(EVK_ERROR_FORMAT, "%s: caption_projection_dim %d differs from heads x head dim = %d (the joint attention needs them equal)",
                        L, c->caption_projection_dim, c->num_attention_heads * c->attention_head_dim);
    if ((c->num_attention_heads * c->attention_head_dim) % 4)
        return evk_fail(EVK_ERROR_FORMAT, "%s: inner dim %d is not a multiple of 4 (the 2-D sin-cos position table needs it)", L,
                        c->num_attention_heads * c->attention_head_dim);
    return EVK_OK;
}

evk_status evk_mmdit_config_parse(const char *json, const char *label, evk_mmdit_config *out) {
    return evk__parse_with(json, label, evk__mmdit, out);
}
static evk_status evk__mmdit_p(const char *j, const char *l, void *o) { return evk_mmdit_config_parse(j, l, o); }
evk_status evk_mmdit_config_load(const char *path, evk_mmdit_config *out) { return evk__load_with(path, evk__mmdit_p, out); }

/* ---- schedulers ------------------------------------------------------------------------- */

/* The constructor defaults of each diffusers scheduler class for the keys read here. */
static const struct {
    const char *name;
    double beta_start, beta_end;
    evk_beta_schedule schedule;
    evk_spacing spacing;
    bool set_alpha_to_one, clip_sample;
} evk__schedulers[] = {
    {"DDIMScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LEADING, true, true},
    {"DDPMScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LEADING, false, true},
    {"PNDMScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LEADING, false, false},
    {"LMSDiscreteScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"EulerDiscreteScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"EulerAncestralDiscreteScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"HeunDiscreteScheduler", 0.00085, 0.012, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"KDPM2DiscreteScheduler", 0.00085, 0.012, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"KDPM2AncestralDiscreteScheduler", 0.00085, 0.012, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"DPMSolverMultistepScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"DPMSolverSinglestepScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"DEISMultistepScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"UniPCMultistepScheduler", 0.0001, 0.02, EVK_BETA_LINEAR, EVK_SPACING_LINSPACE, false, false},
    {"LCMScheduler", 0.00085, 0.012, EVK_BETA_SCALED_LINEAR, EVK_SPACING_LEADING, true, false},
    {"TCDScheduler", 0.00085, 0.012, EVK_BETA_SCALED_LINEAR, EVK_SPACING_LEADING, true, false},
    {"FlowMatchEulerDiscreteScheduler", 0.00085, 0.012, EVK_BETA_SCALED_LINEAR, EVK_SPACING_LINSPACE, false, false},
};

static evk_status evk__scheduler(const cJSON *r, const char *L, void *p) {
    evk_scheduler_config *c = p;
    memset(c, 0, sizeof *c);
    EVK_TRY(evk__get_string(r, L, "_class_name", c->class_name, sizeof c->class_name));
    int k = -1;
    const int n = (int)(sizeof evk__schedulers / sizeof *evk__schedulers);
    for (int i = 0; i < n; i++)
        if (!strcmp(c->class_name, evk__schedulers[i].name)) k = i;
    if (k < 0) {
        char list[900];
        size_t u = 0;
        for (int i = 0; i < n; i++) u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "", evk__schedulers[i].name);
        if (!c->class_name[0]) return evk_fail(EVK_ERROR_FORMAT, "%s: no \"_class_name\" (not a diffusers scheduler config?)", L);
        return evk_fail(EVK_ERROR_FORMAT, "%s: unsupported value \"%s\" for \"_class_name\" (supported: %s)", L, c->class_name, list);
    }
    c->num_train_timesteps = 1000;
    c->beta_start = evk__schedulers[k].beta_start;
    c->beta_end = evk__schedulers[k].beta_end;
    c->beta_schedule = evk__schedulers[k].schedule;
    c->timestep_spacing = evk__schedulers[k].spacing;
    c->set_alpha_to_one = evk__schedulers[k].set_alpha_to_one;
    c->clip_sample = evk__schedulers[k].clip_sample;
    c->clip_sample_range = 1.0;
    c->original_inference_steps = 50;
    c->timestep_scaling = 10.0;
    c->shift = 1.0;
    EVK_TRY(evk__get_int(r, L, "num_train_timesteps", 1, 1 << 20, &c->num_train_timesteps));
    if (!strcmp(c->class_name, "FlowMatchEulerDiscreteScheduler")) {
        /* flow matching: σ from 1 to 0 with the static shift; no β schedule */
        c->flow = true;
        c->prediction_type = EVK_OUTPUT_FLOW;
        EVK_TRY(evk__get_double(r, L, "shift", &c->shift));
        if (!(c->shift > 0 && c->shift < 1e6)) return evk_fail(EVK_ERROR_FORMAT, "%s: shift %g must be positive", L, c->shift);
        bool dynamic = false;
        EVK_TRY(evk__get_bool(r, L, "use_dynamic_shifting", &dynamic));
        if (dynamic)
            return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: use_dynamic_shifting true (resolution-dependent shift) is not supported", L);
        return EVK_OK;
    }
    EVK_TRY(evk__get_double(r, L, "beta_start", &c->beta_start));
    EVK_TRY(evk__get_double(r, L, "beta_end", &c->beta_end));
    static const char *const bs[] = {"linear", "scaled_linear", "squaredcos_cap_v2"};
    static const int bv[] = {EVK_BETA_LINEAR, EVK_BETA_SCALED_LINEAR, EVK_BETA_SQUAREDCOS_CAP_V2};
    int b = (int)c->beta_schedule;
    EVK_TRY(evk__get_enum(r, L, "beta_schedule", bs, bv, 3, -1, &b));
    c->beta_schedule = (evk_beta_schedule)b;
    EVK_TRY(evk__require_null(r, L, "trained_betas", "an explicit beta list"));
    static const char *const pt[] = {"epsilon", "v_prediction", "sample"};
    static const int pvals[] = {EVK_OUTPUT_EPS, EVK_OUTPUT_V, EVK_OUTPUT_X0};
    int pv = EVK_OUTPUT_EPS;
    EVK_TRY(evk__get_enum(r, L, "prediction_type", pt, pvals, 3, -1, &pv));
    c->prediction_type = (evk_model_output)pv;
    static const char *const sp[] = {"leading", "trailing", "linspace"};
    int sv = (int)c->timestep_spacing;
    EVK_TRY(evk__get_enum(r, L, "timestep_spacing", sp, NULL, 3, -1, &sv));
    c->timestep_spacing = (evk_spacing)sv;
    EVK_TRY(evk__get_int(r, L, "steps_offset", 0, 1 << 20, &c->steps_offset));
    EVK_TRY(evk__get_bool(r, L, "set_alpha_to_one", &c->set_alpha_to_one));
    EVK_TRY(evk__get_bool(r, L, "clip_sample", &c->clip_sample));
    EVK_TRY(evk__get_double(r, L, "clip_sample_range", &c->clip_sample_range));
    EVK_TRY(evk__get_bool(r, L, "thresholding", &c->thresholding));
    EVK_TRY(evk__get_bool(r, L, "rescale_betas_zero_snr", &c->rescale_betas_zero_snr));
    EVK_TRY(evk__get_int(r, L, "original_inference_steps", 1, 1 << 20, &c->original_inference_steps));
    EVK_TRY(evk__get_double(r, L, "timestep_scaling", &c->timestep_scaling));
    if (!(c->beta_start > 0 && c->beta_end > 0 && c->beta_start < 1 && c->beta_end < 1))
        return evk_fail(EVK_ERROR_FORMAT, "%s: beta_start %g / beta_end %g outside (0, 1)", L, c->beta_start, c->beta_end);
    return EVK_OK;
}

evk_status evk_scheduler_config_parse(const char *json, const char *label, evk_scheduler_config *out) {
    return evk__parse_with(json, label, evk__scheduler, out);
}
static evk_status evk__scheduler_p(const char *j, const char *l, void *o) { return evk_scheduler_config_parse(j, l, o); }
evk_status evk_scheduler_config_load(const char *path, evk_scheduler_config *out) { return evk__load_with(path, evk__scheduler_p, out); }

/* ---- tokenizer -------------------------------------------------------------------------- */

void evk_tokenizer_config_default(evk_tokenizer_config *c) {
    memset(c, 0, sizeof *c);
    c->model_max_length = 77;
    c->do_lower_case = true;
    strcpy(c->bos.content, "<|startoftext|>");
    strcpy(c->eos.content, "<|endoftext|>");
    strcpy(c->pad.content, "<|endoftext|>");
    strcpy(c->unk.content, "<|endoftext|>");
}

/* "<|endoftext|>" or {"content": "<|endoftext|>", "lstrip": false, ...} */
static evk_status evk__token(const cJSON *v, const char *L, const char *key, evk_special_token *out) {
    if (!v || cJSON_IsNull(v)) return EVK_OK;
    const cJSON *content = v;
    bool lstrip = false, rstrip = false;
    if (cJSON_IsObject(v)) {
        content = cJSON_GetObjectItemCaseSensitive(v, "content");
        EVK_TRY(evk__get_bool(v, L, "lstrip", &lstrip));
        EVK_TRY(evk__get_bool(v, L, "rstrip", &rstrip));
    }
    if (!cJSON_IsString(content) || !content->valuestring[0] || strlen(content->valuestring) >= EVK_TOKEN_MAX)
        return evk__bad(L, key, v, "a token string or {\"content\": ...}");
    strcpy(out->content, content->valuestring);
    out->lstrip = lstrip;
    out->rstrip = rstrip;
    return EVK_OK;
}

static evk_status evk__tokens(const cJSON *r, const char *L, evk_tokenizer_config *c) {
    EVK_TRY(evk__token(cJSON_GetObjectItemCaseSensitive(r, "bos_token"), L, "bos_token", &c->bos));
    EVK_TRY(evk__token(cJSON_GetObjectItemCaseSensitive(r, "eos_token"), L, "eos_token", &c->eos));
    EVK_TRY(evk__token(cJSON_GetObjectItemCaseSensitive(r, "pad_token"), L, "pad_token", &c->pad));
    EVK_TRY(evk__token(cJSON_GetObjectItemCaseSensitive(r, "unk_token"), L, "unk_token", &c->unk));
    return EVK_OK;
}

static evk_status evk__tokenizer_cfg(const cJSON *r, const char *L, void *p) {
    evk_tokenizer_config *c = p;
    /* model_max_length is sometimes saved as a huge "unset" value (1e30): keep CLIP's 77 then */
    const cJSON *ml = evk__key(r, "model_max_length");
    if (ml) {
        if (!cJSON_IsNumber(ml) || ml->valuedouble < 2) return evk__bad(L, "model_max_length", ml, "an integer >= 2");
        if (ml->valuedouble <= 1 << 20) EVK_TRY(evk__get_int(r, L, "model_max_length", 2, 1 << 20, &c->model_max_length));
    }
    EVK_TRY(evk__get_bool(r, L, "do_lower_case", &c->do_lower_case));
    EVK_TRY(evk__tokens(r, L, c));
    const cJSON *added = evk__key(r, "added_tokens_decoder");
    if (added) {
        if (!cJSON_IsObject(added)) return evk__bad(L, "added_tokens_decoder", added, "an object");
        for (const cJSON *e = added->child; e; e = e->next) {
            char *end = NULL;
            long id = strtol(e->string, &end, 10);
            if (!e->string[0] || *end || id < 0 || id > (1 << 24)) return evk__bad(L, "added_tokens_decoder", added, "token ids as keys");
            if (c->added_count == EVK_ADDED_TOKENS_MAX)
                return evk_fail(EVK_ERROR_FORMAT, "%s: more than %d added_tokens_decoder entries", L, EVK_ADDED_TOKENS_MAX);
            c->added[c->added_count].id = (int)id;
            memset(&c->added[c->added_count].token, 0, sizeof c->added[0].token);
            EVK_TRY(evk__token(e, L, "added_tokens_decoder", &c->added[c->added_count].token));
            if (!c->added[c->added_count].token.content[0]) return evk__bad(L, "added_tokens_decoder", e, "a token");
            c->added_count++;
        }
    }
    return EVK_OK;
}

static evk_status evk__special_map(const cJSON *r, const char *L, void *p) { return evk__tokens(r, L, p); }

evk_status evk_tokenizer_config_parse(const char *tokenizer_config, const char *special_tokens_map, const char *label,
                                      evk_tokenizer_config *out) {
    evk_tokenizer_config_default(out);
    char l[512];
    if (!label) label = "<tokenizer>";
    if (tokenizer_config) {
        snprintf(l, sizeof l, "%s/tokenizer_config.json", label);
        EVK_TRY(evk__parse_with(tokenizer_config, l, evk__tokenizer_cfg, out));
    }
    /* transformers: entries of special_tokens_map.json override tokenizer_config.json's */
    if (special_tokens_map) {
        snprintf(l, sizeof l, "%s/special_tokens_map.json", label);
        EVK_TRY(evk__parse_with(special_tokens_map, l, evk__special_map, out));
    }
    return EVK_OK;
}

evk_status evk_tokenizer_config_load(const char *folder, evk_tokenizer_config *out) {
    char path[4096];
    char *cfg = NULL, *map = NULL;
    FILE *f;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", folder);
    if ((f = fopen(path, "rb"))) {
        fclose(f);
        EVK_TRY(evk_file_read_text(path, 16u << 20, &cfg));
    }
    snprintf(path, sizeof path, "%s/special_tokens_map.json", folder);
    if ((f = fopen(path, "rb"))) {
        fclose(f);
        evk_status s = evk_file_read_text(path, 16u << 20, &map);
        if (s) {
            free(cfg);
            return s;
        }
    }
    evk_status s = evk_tokenizer_config_parse(cfg, map, folder, out);
    free(cfg);
    free(map);
    return s;
}

/* ---- OpenCLIP-layout checkpoints: config.json beside the weights ------------------------------ */

evk_status evk_openclip_config_parse(const char *text, const char *what, evk_openclip_config *d) {
    cJSON *root = cJSON_Parse(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return evk_fail(EVK_ERROR_FORMAT, "%s: not a JSON object", what);
    }
    evk_status st = EVK_OK;
    for (const cJSON *it = root->child; it && !st; it = it->next) {
        const char *k = it->string ? it->string : "";
        if (!strcmp(k, "vision_heads") || !strcmp(k, "text_heads")) {
            if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 4096 || it->valuedouble != floor(it->valuedouble))
                st = evk_fail(EVK_ERROR_FORMAT, "%s: \"%s\" must be an integer from 1 to 4096", what, k);
            else if (k[0] == 'v') d->vision_heads = (int)it->valuedouble;
            else d->text_heads = (int)it->valuedouble;
        } else if (!strcmp(k, "quick_gelu")) {
            if (!cJSON_IsBool(it)) st = evk_fail(EVK_ERROR_FORMAT, "%s: \"quick_gelu\" must be true or false", what);
            else d->quick_gelu = cJSON_IsTrue(it);
        } else {
            st = evk_fail(EVK_ERROR_FORMAT, "%s: unknown key \"%.64s\" (vision_heads, text_heads, quick_gelu)", what, k);
        }
    }
    cJSON_Delete(root);
    return st;
}
