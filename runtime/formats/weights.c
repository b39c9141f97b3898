/* weights.c — weight sets over one or several safetensors files, GGUF files or PyTorch
 * checkpoints (see weights.h).
 *
 * All tensors of all files go into one hash table keyed by name, so a sharded checkpoint is
 * looked up exactly like a single file, and a name present in two shards is refused at open
 * (which shard would win is otherwise an accident of the order files were listed in). A `used`
 * flag per tensor feeds the unused-tensor report. A file is read as GGUF when it starts with the
 * GGUF magic, and as a PyTorch checkpoint when it starts like a zip archive or a legacy torch
 * pickle or is named .ckpt/.pt/.pth/.bin (so a damaged .pt gets the PyTorch reader's message
 * rather than a safetensors one), whatever else its name; all readers describe tensors as
 * evk_st_tensor, so everything past opening is shared (GGUF's quantised tensors and PyTorch's
 * strided views convert through evk_st_convert too). */
#include "formats/weights.h"
#include "formats/gguf.h"
#include "formats/pytorch.h"

#include "core/file.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct evk__wentry {
    const evk_st_tensor *t;
    int file;
    bool used;
} evk__wentry;

struct evk_weights {
    evk_context *ctx;
    char *origin;               /* what was opened, for messages */
    evk_safetensors **files;    /* per file: the safetensors reader, or NULL for another kind */
    evk_gguf **ggufs;           /* per file: the GGUF reader, or NULL */
    evk_pytorch **pts;          /* per file: the PyTorch checkpoint reader, or NULL */
    int file_count;
    evk__wentry *entries;
    size_t count;
    uint32_t *table;            /* entry index + 1 */
    uint32_t table_size;
    char *prefix;
    evk_weights_map_fn map;
    const void *map_user;
    char *scope;
    evk_st_tensor **owned;      /* tensors replaced by evk_weights_replace_f32 (their values follow) */
    size_t owned_count;
};

static uint32_t evk__whash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

evk_context *evk_weights_context(const evk_weights *ws) { return ws ? ws->ctx : NULL; }

void evk_weights_close(evk_weights *ws) {
    if (!ws) return;
    for (int i = 0; i < ws->file_count; i++) {
        evk_safetensors_close(ws->files[i]);
        evk_gguf_close(ws->ggufs[i]);
        evk_pytorch_close(ws->pts[i]);
    }
    free(ws->files);
    free(ws->ggufs);
    free(ws->pts);
    for (size_t i = 0; i < ws->owned_count; i++) free(ws->owned[i]);
    free(ws->owned);
    free(ws->entries);
    free(ws->table);
    free(ws->prefix);
    free(ws->scope);
    free(ws->origin);
    free(ws);
}

static const char *evk__file_path(const evk_weights *ws, int f) {
    if (ws->pts[f]) return evk_pytorch_path(ws->pts[f]);
    return ws->files[f] ? evk_safetensors_path(ws->files[f]) : evk_gguf_path(ws->ggufs[f]);
}
static size_t evk__file_count(const evk_weights *ws, int f) {
    if (ws->pts[f]) return evk_pytorch_count(ws->pts[f]);
    return ws->files[f] ? evk_safetensors_count(ws->files[f]) : evk_gguf_count(ws->ggufs[f]);
}
static const evk_st_tensor *evk__file_at(const evk_weights *ws, int f, size_t i) {
    if (ws->pts[f]) return evk_pytorch_at(ws->pts[f], i);
    return ws->files[f] ? evk_safetensors_at(ws->files[f], i) : evk_gguf_at(ws->ggufs[f], i);
}

static bool evk__ends_with(const char *s, const char *suffix);

/* Open file `i` with the reader its first bytes (or, for PyTorch, its name) call for; unreadable
 * files go to the safetensors reader, whose message says why. */
static evk_status evk__file_open(evk_weights *ws, int i, const char *path) {
    uint8_t head[16];
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        n = fread(head, 1, sizeof head, f);
        fclose(f);
    }
    if (n >= 4 && !memcmp(head, "GGUF", 4)) return evk_gguf_open(path, &ws->ggufs[i]);
    static const char *const torch_ext[] = {".ckpt", ".pt", ".pth", ".bin"};
    bool torch = evk_pytorch_sniff(head, n);
    for (size_t k = 0; k < sizeof torch_ext / sizeof *torch_ext && !torch; k++) torch = evk__ends_with(path, torch_ext[k]);
    return torch ? evk_pytorch_open(path, &ws->pts[i]) : evk_safetensors_open(path, &ws->files[i]);
}

static evk__wentry *evk__wfind(const evk_weights *ws, const char *name) {
    if (!ws->count) return NULL;
    uint32_t h = evk__whash(name) & (ws->table_size - 1);
    while (ws->table[h]) {
        evk__wentry *e = &ws->entries[ws->table[h] - 1];
        if (!strcmp(e->t->name, name)) return e;
        h = (h + 1) & (ws->table_size - 1);
    }
    return NULL;
}

static evk_status evk__weights_index(evk_weights *ws) {
    size_t n = 0;
    for (int i = 0; i < ws->file_count; i++) n += evk__file_count(ws, i);
    ws->entries = calloc(n ? n : 1, sizeof *ws->entries);
    ws->table_size = 16;
    while (ws->table_size < n * 2) ws->table_size *= 2;
    ws->table = calloc(ws->table_size, sizeof *ws->table);
    if (!ws->entries || !ws->table) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", ws->origin);
    for (int f = 0; f < ws->file_count; f++) {
        for (size_t i = 0; i < evk__file_count(ws, f); i++) {
            const evk_st_tensor *t = evk__file_at(ws, f, i);
            uint32_t h = evk__whash(t->name) & (ws->table_size - 1);
            while (ws->table[h]) {
                const evk__wentry *o = &ws->entries[ws->table[h] - 1];
                if (!strcmp(o->t->name, t->name))
                    return evk_fail(EVK_ERROR_FORMAT, "tensor '%s' is in both %s and %s", t->name, evk__file_path(ws, o->file),
                                    evk__file_path(ws, f));
                h = (h + 1) & (ws->table_size - 1);
            }
            ws->entries[ws->count] = (evk__wentry){.t = t, .file = f};
            ws->table[h] = (uint32_t)++ws->count;
        }
    }
    return EVK_OK;
}

evk_status evk_weights_open_files(evk_context *ctx, const char *const *paths, int count, evk_weights **out) {
    *out = NULL;
    if (count < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_weights_open_files: no files");
    evk_weights *ws = calloc(1, sizeof *ws);
    if (!ws) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    ws->ctx = ctx;
    ws->origin = strdup(paths[0]);
    ws->files = calloc((size_t)count, sizeof *ws->files);
    ws->ggufs = calloc((size_t)count, sizeof *ws->ggufs);
    ws->pts = calloc((size_t)count, sizeof *ws->pts);
    evk_status s = ws->origin && ws->files && ws->ggufs && ws->pts ? EVK_OK
                                                                   : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < count && !s; i++) {
        s = evk__file_open(ws, i, paths[i]);
        if (!s) ws->file_count = i + 1;
    }
    if (!s) s = evk__weights_index(ws);
    if (s) {
        evk_weights_close(ws);
        return s;
    }
    *out = ws;
    return EVK_OK;
}

static bool evk__is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool evk__ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static char *evk__join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

/* *.safetensors.index.json: {"metadata": {...}, "weight_map": {"tensor": "shard file"}} */
static evk_status evk__weights_open_index(evk_context *ctx, const char *index_path, evk_weights **out) {
    char *text;
    EVK_TRY(evk_file_read_text(index_path, 64u << 20, &text));
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return evk_fail(EVK_ERROR_FORMAT, "%s: not valid JSON", index_path);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return evk_fail(EVK_ERROR_FORMAT, "%s: no \"weight_map\" object", index_path);
    }
    char *dir = strdup(index_path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) slash[1] = 0;
    else if (dir) strcpy(dir, "./");
    const char **shards = NULL;
    int n = 0;
    evk_status s = dir ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (const cJSON *e = map->child; e && !s; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: weight_map entry '%s' is not a file name", index_path, e->string);
            break;
        }
        const char *f = e->valuestring;
        if (strchr(f, '/') || strchr(f, '\\') || !strcmp(f, "..") || !strcmp(f, ".")) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: weight_map entry '%s' names '%s', which is not a file beside the index", index_path,
                         e->string, f);
            break;
        }
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = !strcmp(shards[i], f);
        if (seen) continue;
        const char **ns = realloc(shards, (size_t)(n + 1) * sizeof *shards);
        if (!ns) {
            s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            break;
        }
        shards = ns;
        shards[n++] = f;
    }
    if (!s && n == 0) s = evk_fail(EVK_ERROR_FORMAT, "%s: weight_map is empty", index_path);
    char **paths = NULL;
    if (!s) {
        paths = calloc((size_t)n, sizeof *paths);
        for (int i = 0; paths && i < n; i++) paths[i] = evk__join(dir, shards[i]);
        for (int i = 0; !s && i < n; i++)
            if (!paths || !paths[i]) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    evk_weights *ws = NULL;
    if (!s) s = evk_weights_open_files(ctx, (const char *const *)paths, n, &ws);
    if (s) evk_fail_context(s, "%s", index_path);
    /* every listed tensor must be in the shard the index names */
    for (const cJSON *e = map->child; e && !s; e = e->next) {
        const evk__wentry *w = evk__wfind(ws, e->string);
        if (!w) s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' is listed in weight_map but absent from %s", index_path, e->string,
                             e->valuestring);
        else {
            const char *p = evk__file_path(ws, w->file);
            if (!evk__ends_with(p, e->valuestring))
                s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' is listed in %s but found in %s", index_path, e->string,
                             e->valuestring, p);
        }
    }
    if (paths)
        for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(shards);
    free(dir);
    cJSON_Delete(root);
    if (s) {
        evk_weights_close(ws);
        return s;
    }
    free(ws->origin);
    ws->origin = strdup(index_path);
    *out = ws;
    return EVK_OK;
}

evk_status evk_weights_open(evk_context *ctx, const char *path, evk_weights **out) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return evk_fail(EVK_ERROR_IO, "%s: %s", path, strerror(errno));
    if (S_ISREG(sb.st_mode)) {
        if (evk__ends_with(path, ".index.json")) return evk__weights_open_index(ctx, path, out);
        return evk_weights_open_files(ctx, &path, 1, out);
    }
    if (!S_ISDIR(sb.st_mode)) return evk_fail(EVK_ERROR_IO, "%s: neither a file nor a folder", path);
    /* the names diffusers and transformers save under, plain before the fp16 variant */
    static const char *const candidates[] = {
        "diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json",
        "diffusion_pytorch_model.safetensors",            "model.safetensors",
        "diffusion_pytorch_model.fp16.safetensors.index.json", "model.fp16.safetensors.index.json",
        "diffusion_pytorch_model.fp16.safetensors",       "model.fp16.safetensors",
        "diffusion_pytorch_model.bin.index.json",         "pytorch_model.bin.index.json",
        "diffusion_pytorch_model.bin",                    "pytorch_model.bin",
    };
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        char *p = evk__join(path, candidates[i]);
        if (!p) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        evk_status s = EVK_OK;
        bool found = evk__is_file(p);
        if (found) s = evk_weights_open(ctx, p, out);
        free(p);
        if (found) return s;
    }
    /* otherwise exactly one *.safetensors file */
    DIR *d = opendir(path);
    if (!d) return evk_fail(EVK_ERROR_IO, "%s: cannot list: %s", path, strerror(errno));
    char *only = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!evk__ends_with(e->d_name, ".safetensors")) continue;
        if (!n++) only = strdup(e->d_name);
    }
    closedir(d);
    if (n != 1) {
        free(only);
        if (n) return evk_fail(EVK_ERROR_IO, "%s: %d .safetensors files and no index.json: cannot tell which holds the weights", path, n);
        return evk_fail(EVK_ERROR_IO, "%s: no weights (looked for diffusion_pytorch_model[.fp16].safetensors, model[.fp16].safetensors, "
                                      "their .index.json, diffusion_pytorch_model.bin, pytorch_model.bin, or a single .safetensors file)", path);
    }
    char *p = only ? evk__join(path, only) : NULL;
    free(only);
    if (!p) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    const char *cp = p;
    evk_status s = evk_weights_open_files(ctx, &cp, 1, out);
    free(p);
    return s;
}

evk_status evk_weights_set_prefix(evk_weights *ws, const char *prefix) {
    free(ws->prefix);
    ws->prefix = NULL;
    if (prefix && *prefix) {
        ws->prefix = strdup(prefix);
        if (!ws->prefix) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    return EVK_OK;
}

void evk_weights_set_map(evk_weights *ws, evk_weights_map_fn fn, const void *user, const char *scope) {
    ws->map = fn;
    ws->map_user = user;
    free(ws->scope);
    ws->scope = scope && *scope ? strdup(scope) : NULL;
}

/* Requested name -> entry; fills *ref. On failure sets a message naming the request. */
static evk_status evk__resolve(const evk_weights *ws, const char *name, evk_weight_ref *ref, evk__wentry **entry) {
    memset(ref, 0, sizeof *ref);
    if (ws->map) {
        EVK_TRY(ws->map(ws->map_user, name, ref));
    } else {
        if (strlen(name) >= sizeof ref->name) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor name '%.80s...' is too long", name);
        strcpy(ref->name, name);
    }
    char full[512];
    if (snprintf(full, sizeof full, "%s%s", ws->prefix ? ws->prefix : "", ref->name) >= (int)sizeof full)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor name '%.80s...' is too long", name);
    *entry = evk__wfind(ws, full);
    if (!*entry) {
        if (strcmp(full, name))
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' (stored as '%s') is missing", ws->origin, name, full);
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' is missing", ws->origin, name);
    }
    if (ref->split_parts > 1) {
        const evk_st_tensor *t = (*entry)->t;
        if (t->ndim < 1 || t->shape[0] % ref->split_parts || ref->split_index < 0 || ref->split_index >= ref->split_parts)
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' (dim 0 = %lld) cannot be split into %d parts for '%s'", ws->origin,
                            t->name, t->ndim ? (long long)t->shape[0] : 0ll, ref->split_parts, name);
    }
    return EVK_OK;
}

static void evk__delivered_shape(const evk_st_tensor *t, const evk_weight_ref *ref, int *ndim, int64_t *shape) {
    *ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    if (ref->split_parts > 1 && t->ndim > 0) shape[0] /= ref->split_parts; /* a 0-d tensor has no dim 0 to split */
}

static const char *evk__shape_text(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t u = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && u < n; i++) u += (size_t)snprintf(buf + u, n - u, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (u < n) snprintf(buf + u, n - u, "]");
    return buf;
}

/* Shapes agree exactly, or (squeeze) after dropping every size-1 dim. Negative expected = any. */
static bool evk__shape_match(int endim, const int64_t *eshape, int fndim, const int64_t *fshape, bool squeeze) {
    if (endim == fndim) {
        bool ok = true;
        for (int i = 0; i < endim; i++) ok = ok && (eshape[i] < 0 || eshape[i] == fshape[i]);
        if (ok) return true;
    }
    if (!squeeze) return false;
    int i = 0, j = 0;
    for (;;) {
        while (i < endim && eshape[i] == 1) i++;
        while (j < fndim && fshape[j] == 1) j++;
        if (i == endim || j == fndim) return i == endim && j == fndim;
        if (eshape[i] >= 0 && eshape[i] != fshape[j]) return false;
        i++, j++;
    }
}

static evk_status evk__prepare(evk_weights *ws, const char *name, int ndim, const int64_t *shape, evk__wentry **entry,
                               evk_weight_ref *ref, uint64_t *first, uint64_t *count) {
    if (ndim < 0 || ndim > EVK_ST_MAX_DIMS) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor '%s': expected rank %d", name, ndim);
    EVK_TRY(evk__resolve(ws, name, ref, entry));
    const evk_st_tensor *t = (*entry)->t;
    int fndim;
    int64_t fshape[EVK_ST_MAX_DIMS];
    evk__delivered_shape(t, ref, &fndim, fshape);
    if (!evk__shape_match(ndim, shape, fndim, fshape, ref->squeeze)) {
        char a[200], b[200];
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' has shape %s, expected %s%s", ws->origin, name,
                        evk__shape_text(fndim, fshape, b, sizeof b), evk__shape_text(ndim, shape, a, sizeof a),
                        ref->split_parts > 1 ? " (after splitting the fused tensor)" : "");
    }
    if (t->dtype == EVK_ST_QUANT && !evk_gguf_type_can_dequant(t->quant))
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' is %s, a GGUF type evoke cannot dequantise (it reads F32, F16, BF16, "
                        "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K)", ws->origin, name, evk_gguf_type_name(t->quant));
    if (t->dtype != EVK_ST_QUANT && !evk_st_dtype_is_float(t->dtype))
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' is %s, not a float tensor", ws->origin, name, evk_st_dtype_name(t->dtype));
    uint64_t n = t->numel;
    if (ref->split_parts > 1) n /= (uint64_t)ref->split_parts;
    *first = ref->split_parts > 1 ? n * (uint64_t)ref->split_index : 0;
    *count = n;
    return EVK_OK;
}

/* The storage "as stored" means for one tensor: its blocks (*blocks) for a quantised GGUF tensor
 * delivered whole-row with the expected rank and rows (the dequantising matmul reads those), else
 * f16 for F16 (and quantised tensors that cannot stay blocks, dequantised), f32 for the rest. */
static void evk__as_stored(const evk__wentry *e, const evk_weight_ref *ref, int ndim, const int64_t *shape, evk_dtype *storage,
                           bool *blocks) {
    const evk_st_tensor *t = e->t;
    int fndim;
    int64_t fshape[EVK_ST_MAX_DIMS];
    evk__delivered_shape(t, ref, &fndim, fshape);
    uint32_t elems;
    *blocks = t->dtype == EVK_ST_QUANT && evk_quant_block(t->quant, &elems, NULL) && ndim >= 2 && fndim == ndim &&
              fshape[ndim - 1] == shape[ndim - 1] && fshape[ndim - 1] % elems == 0 && !t->strides;
    *storage = evk_weights_float_dtype(t);
}

evk_dtype evk_weights_float_dtype(const evk_st_tensor *t) {
    return t->dtype == EVK_ST_F32 || t->dtype == EVK_ST_F64 || t->dtype == EVK_ST_BF16 ? EVK_DTYPE_F32 : EVK_DTYPE_F16;
}

static evk_status evk__get_blocks(evk_weights *ws, evk__wentry *e, const char *name, int ndim, const int64_t *shape, evk_tensor *out) {
    evk_weight_raw raw;
    EVK_TRY(evk_weights_raw(ws, name, ndim, shape, &raw));
    EVK_TRY(evk_tensor_alloc_quant(ws->ctx, raw.quant, raw.ndim, raw.shape, out));
    if (evk_tensor_bytes(out) != raw.size) {
        evk_tensor_free(ws->ctx, out);
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' holds %llu bytes of %s blocks, its shape needs %llu", ws->origin, name,
                        (unsigned long long)raw.size, evk_quant_name(raw.quant), (unsigned long long)evk_tensor_bytes(out));
    }
    evk_status s = evk_buffer_upload(ws->ctx, &out->buf, 0, raw.data, raw.size);
    if (s) {
        evk_tensor_free(ws->ctx, out);
        return evk_fail_context(s, "%s: uploading '%s'", ws->origin, name);
    }
    e->used = true;
    return EVK_OK;
}

evk_status evk_weights_get(evk_weights *ws, const char *name, int ndim, const int64_t *shape, evk_dtype storage, evk_tensor *out) {
    memset(out, 0, sizeof *out);
    if (!ws->ctx) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_weights_get('%s'): the weight set was opened without a context", name);
    if (storage != EVK_DTYPE_F32 && storage != EVK_DTYPE_F16 && storage != EVK_DTYPE_QUANT)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor '%s': storage dtype %s is not f32, f16 or quant (as stored)", name,
                        evk_dtype_name(storage));
    evk__wentry *e;
    evk_weight_ref ref;
    uint64_t first, count;
    EVK_TRY(evk__prepare(ws, name, ndim, shape, &e, &ref, &first, &count));
    if (storage == EVK_DTYPE_QUANT) {
        bool blocks = false;
        evk__as_stored(e, &ref, ndim, shape, &storage, &blocks);
        if (blocks) return evk__get_blocks(ws, e, name, ndim, shape, out);
    }
    /* the device tensor gets the expected shape (wildcards filled from the file) */
    int64_t dshape[EVK_MAX_DIMS];
    int dndim = ndim;
    int fndim;
    int64_t fshape[EVK_ST_MAX_DIMS];
    evk__delivered_shape(e->t, &ref, &fndim, fshape);
    if (dndim > EVK_MAX_DIMS) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor '%s': rank %d above %d", name, ndim, EVK_MAX_DIMS);
    for (int i = 0; i < ndim; i++) dshape[i] = shape[i] >= 0 ? shape[i] : (ndim == fndim ? fshape[i] : 1);
    if (dndim == 0) dshape[dndim++] = 1;
    EVK_TRY(evk_tensor_alloc(ws->ctx, storage, dndim, dshape, out));
    evk_status s = evk_st_upload(ws->ctx, e->t, first, count, storage, &out->buf, 0, 0);
    if (s) {
        evk_tensor_free(ws->ctx, out);
        return evk_fail_context(s, "%s: uploading '%s'", ws->origin, name);
    }
    e->used = true;
    return EVK_OK;
}

evk_status evk_weights_read_f32(evk_weights *ws, const char *name, int ndim, const int64_t *shape, float *dst) {
    evk__wentry *e;
    evk_weight_ref ref;
    uint64_t first, count;
    EVK_TRY(evk__prepare(ws, name, ndim, shape, &e, &ref, &first, &count));
    EVK_TRY(evk_st_convert(e->t, first, count, EVK_DTYPE_F32, dst));
    e->used = true;
    return EVK_OK;
}

evk_status evk_weights_raw(evk_weights *ws, const char *name, int ndim, const int64_t *shape, evk_weight_raw *out) {
    memset(out, 0, sizeof *out);
    evk__wentry *e;
    evk_weight_ref ref;
    uint64_t first, count;
    EVK_TRY(evk__prepare(ws, name, ndim, shape, &e, &ref, &first, &count));
    const evk_st_tensor *t = e->t;
    if (t->strides)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' is a non-contiguous view in a PyTorch checkpoint, so its bytes are not "
                        "row-major (fetch it with evk_weights_get, or save it with .contiguous())", ws->origin, name);
    out->dtype = t->dtype;
    out->quant = t->quant;
    evk__delivered_shape(t, &ref, &out->ndim, out->shape);
    /* a split part is whole rows (dim 0 is outermost), so it starts on a block boundary */
    uint64_t total = t->end - t->begin, parts = ref.split_parts > 1 ? (uint64_t)ref.split_parts : 1;
    out->size = total / parts;
    out->data = t->data + out->size * (parts > 1 ? (uint64_t)ref.split_index : 0);
    (void)first;
    (void)count;
    e->used = true;
    return EVK_OK;
}

const evk_st_tensor *evk_weights_lookup(const evk_weights *ws, const char *name, evk_weight_ref *ref) {
    evk_weight_ref tmp;
    evk__wentry *e;
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", evk_error_message());
    evk_status s = evk__resolve(ws, name, ref ? ref : &tmp, &e);
    if (s) {
        evk_fail(EVK_OK, "%s", saved); /* a lookup is a question, not a failure: keep the old message */
        return NULL;
    }
    return e->t;
}

bool evk_weights_has(const evk_weights *ws, const char *name) { return evk_weights_lookup(ws, name, NULL) != NULL; }

evk_status evk_weights_shape(const evk_weights *ws, const char *name, int *ndim, int64_t shape[EVK_ST_MAX_DIMS]) {
    evk_weight_ref ref;
    evk__wentry *e;
    EVK_TRY(evk__resolve(ws, name, &ref, &e));
    evk__delivered_shape(e->t, &ref, ndim, shape);
    return EVK_OK;
}

evk_status evk_weights_replace_f32(evk_weights *ws, const char *file_name, const float *values) {
    evk__wentry *e = evk__wfind(ws, file_name);
    if (!e) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: no tensor '%s' to replace", ws->origin, file_name);
    uint64_t bytes = e->t->numel * 4;
    evk_st_tensor **grown = realloc(ws->owned, (ws->owned_count + 1) * sizeof *grown);
    if (!grown) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", ws->origin);
    ws->owned = grown;
    evk_st_tensor *t = bytes < SIZE_MAX - sizeof *t ? malloc(sizeof *t + (size_t)bytes) : NULL;
    if (!t) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for '%s'", ws->origin, file_name);
    *t = *e->t; /* the name stays the file's (it lives as long as the weight set) */
    t->dtype = EVK_ST_F32;
    t->quant = 0;
    t->strides = NULL;
    t->begin = 0;
    t->end = bytes;
    t->data = (const uint8_t *)(t + 1);
    memcpy(t + 1, values, (size_t)bytes);
    ws->owned[ws->owned_count++] = t;
    e->t = t;
    return EVK_OK;
}

size_t evk_weights_count(const evk_weights *ws) { return ws->count; }
const evk_st_tensor *evk_weights_at(const evk_weights *ws, size_t i) { return i < ws->count ? ws->entries[i].t : NULL; }

evk_dtype evk_weights_storage(const evk_weights *ws, evk_dtype requested) {
    for (size_t i = 0; i < ws->count; i++)
        if (ws->entries[i].t->dtype == EVK_ST_QUANT) return EVK_DTYPE_QUANT;
    return requested;
}

size_t evk_weights_unused(const evk_weights *ws, const char **names, size_t max) {
    size_t n = 0;
    const char *scope = ws->map ? ws->scope : ws->prefix;
    char full[512] = "";
    if (ws->map && ws->prefix) snprintf(full, sizeof full, "%s%s", ws->prefix, ws->scope ? ws->scope : "");
    if (*full) scope = full;
    size_t sl = scope ? strlen(scope) : 0;
    for (size_t i = 0; i < ws->count; i++) {
        const evk__wentry *e = &ws->entries[i];
        if (e->used || (sl && strncmp(e->t->name, scope, sl))) continue;
        if (n < max && names) names[n] = e->t->name;
        n++;
    }
    return n;
}

void evk_weights_reset_used(evk_weights *ws) {
    for (size_t i = 0; i < ws->count; i++) ws->entries[i].used = false;
}
