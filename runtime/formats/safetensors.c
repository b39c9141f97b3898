/* safetensors.c — validation of safetensors headers, the read-only mapping, and conversion of
 * float tensors while they stream to the device (see safetensors.h for the rules checked).
 *
 * The header is copied into a NUL-terminated buffer for cJSON (headers are small; the data is
 * never copied). Names are checked for duplicates with a hash table built at open, which also
 * serves lookups. Ranges are checked by sorting them: after sorting by (begin, end) every range
 * must start where the previous one ended and the last must end at the end of the file, which
 * rules out overlaps, gaps and trailing bytes at once. */
#include "formats/safetensors.h"

#include "core/file.h"
#include "formats/gguf_quant.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct evk_safetensors {
    char *path;
    const uint8_t *map;     /* whole file */
    size_t map_size;
    int mapped;             /* munmap at close */
    const uint8_t *data;    /* data region */
    uint64_t data_size;
    evk_st_tensor *tensors; /* sorted by offset */
    size_t count;
    char *names;            /* all names, NUL-separated */
    uint32_t *table;        /* open-addressing hash of tensor index + 1 */
    uint32_t table_size;
    char **meta;            /* key, value pairs */
    size_t meta_count;
};

static const struct { const char *name; size_t size; } evk__st_dtypes[EVK_ST_DTYPE_COUNT] = {
    [EVK_ST_BOOL] = {"BOOL", 1}, [EVK_ST_U8] = {"U8", 1},       [EVK_ST_I8] = {"I8", 1},
    [EVK_ST_F8_E4M3] = {"F8_E4M3", 1}, [EVK_ST_F8_E5M2] = {"F8_E5M2", 1},
    [EVK_ST_I16] = {"I16", 2},   [EVK_ST_U16] = {"U16", 2},     [EVK_ST_F16] = {"F16", 2},
    [EVK_ST_BF16] = {"BF16", 2}, [EVK_ST_I32] = {"I32", 4},     [EVK_ST_U32] = {"U32", 4},
    [EVK_ST_F32] = {"F32", 4},   [EVK_ST_I64] = {"I64", 8},     [EVK_ST_U64] = {"U64", 8},
    [EVK_ST_F64] = {"F64", 8},
};

const char *evk_st_dtype_name(evk_st_dtype d) {
    if (d == EVK_ST_QUANT) return "GGUF-quantised";
    return (unsigned)d < EVK_ST_DTYPE_COUNT ? evk__st_dtypes[d].name : "?";
}
size_t evk_st_dtype_size(evk_st_dtype d) { return (unsigned)d < EVK_ST_DTYPE_COUNT ? evk__st_dtypes[d].size : 0; }
int evk_st_dtype_is_float(evk_st_dtype d) {
    return d == EVK_ST_F16 || d == EVK_ST_BF16 || d == EVK_ST_F32 || d == EVK_ST_F64;
}

static uint32_t evk__hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

void evk_safetensors_close(evk_safetensors *st) {
    if (!st) return;
    if (st->mapped && st->map) evk_file_unmap((void *)st->map, st->map_size);
    for (size_t i = 0; st->meta && i < st->meta_count * 2; i++) free(st->meta[i]);
    free(st->meta);
    free(st->table);
    free(st->names);
    free(st->tensors);
    free(st->path);
    free(st);
}

/* A JSON number that is a non-negative integer representable exactly. */
static int evk__json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int evk__range_cmp(const void *a, const void *b) {
    const evk_st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static evk_status evk__parse_tensor(const char *file, const cJSON *item, evk_st_tensor *t) {
    const char *name = item->string;
    if (!cJSON_IsObject(item)) return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': header entry is not an object", file, name);
    const cJSON *dt = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *f = item->child; f; f = f->next) {
        if (!strcmp(f->string, "dtype")) dt = f;
        else if (!strcmp(f->string, "shape")) shape = f;
        else if (!strcmp(f->string, "data_offsets")) offs = f;
        /* other fields are ignored, as the reference reader does */
    }
    if (!cJSON_IsString(dt)) return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"", file, name);
    int d = -1;
    for (int i = 0; i < EVK_ST_DTYPE_COUNT; i++)
        if (!strcmp(dt->valuestring, evk__st_dtypes[i].name)) d = i;
    if (d < 0) return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': unknown dtype \"%.40s\"", file, name, dt->valuestring);
    t->dtype = (evk_st_dtype)d;
    if (!cJSON_IsArray(shape)) return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"", file, name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > EVK_ST_MAX_DIMS)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': rank %d above the supported %d", file, name, nd, EVK_ST_MAX_DIMS);
    t->ndim = nd;
    /* numel * element size must not overflow: products are checked against 2^60 */
    uint64_t numel = 1;
    int i = 0;
    for (const cJSON *v = shape->child; v; v = v->next, i++) {
        uint64_t x;
        if (!evk__json_uint(v, &x) || x > (1ull << 48))
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': shape dimension %d is not a non-negative integer", file, name, i);
        t->shape[i] = (int64_t)x;
        if (x && numel > (1ull << 60) / x)
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': element count overflows", file, name);
        numel *= x;
    }
    t->numel = numel;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': \"data_offsets\" must be an array [begin, end]", file, name);
    if (!evk__json_uint(offs->child, &t->begin) || !evk__json_uint(offs->child->next, &t->end))
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': data_offsets are not non-negative integers", file, name);
    if (t->end < t->begin)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", file, name,
                        (unsigned long long)t->begin, (unsigned long long)t->end);
    uint64_t want = t->numel * evk__st_dtypes[d].size;
    if (want != t->end - t->begin) {
        char sh[160];
        size_t u = 0;
        sh[0] = 0;
        for (int k = 0; k < nd && u < sizeof sh; k++) u += (size_t)snprintf(sh + u, sizeof sh - u, k ? ",%lld" : "%lld", (long long)t->shape[k]);
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': shape [%s] of %s needs %llu bytes but data_offsets [%llu, %llu] hold %llu",
                        file, name, sh, evk__st_dtypes[d].name, (unsigned long long)want, (unsigned long long)t->begin,
                        (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
    }
    return EVK_OK;
}

static evk_status evk__st_build(evk_safetensors *st) {
    const char *file = st->path;
    if (st->map_size < 8) return evk_fail(EVK_ERROR_FORMAT, "%s: %zu bytes is too short for a safetensors header", file, st->map_size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | st->map[i];
    if (n > EVK_ST_MAX_HEADER)
        return evk_fail(EVK_ERROR_FORMAT, "%s: header length %llu exceeds the %u-byte limit (not a safetensors file?)", file,
                        (unsigned long long)n, EVK_ST_MAX_HEADER);
    if (n > st->map_size - 8)
        return evk_fail(EVK_ERROR_FORMAT, "%s: header length %llu runs past the end of the %zu-byte file (truncated?)", file,
                        (unsigned long long)n, st->map_size);
    if (n < 2 || st->map[8] != '{')
        return evk_fail(EVK_ERROR_FORMAT, "%s: header does not start with a JSON object", file);
    st->data = st->map + 8 + n;
    st->data_size = st->map_size - 8 - n;

    char *text = malloc(n + 1);
    if (!text) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for a %llu-byte header", file, (unsigned long long)n);
    memcpy(text, st->map + 8, n);
    text[n] = 0;
    if (strlen(text) != n) {
        free(text);
        return evk_fail(EVK_ERROR_FORMAT, "%s: header contains a NUL byte", file);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        size_t at = cJSON_GetErrorPtr() ? (size_t)(cJSON_GetErrorPtr() - text) : 0;
        free(text);
        return evk_fail(EVK_ERROR_FORMAT, "%s: header is not valid JSON (near byte %zu of %llu)", file, at, (unsigned long long)n);
    }
    evk_status s = EVK_OK;
    for (const char *p = end; p && *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: header has bytes after its JSON object", file);
            break;
        }
    if (!s && !cJSON_IsObject(root)) s = evk_fail(EVK_ERROR_FORMAT, "%s: header is not a JSON object", file);
    size_t count = 0, name_bytes = 0;
    const cJSON *meta = NULL;
    for (const cJSON *it = root->child; !s && it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) {
            if (meta) s = evk_fail(EVK_ERROR_FORMAT, "%s: \"__metadata__\" appears twice", file);
            meta = it;
            continue;
        }
        if (!it->string[0]) s = evk_fail(EVK_ERROR_FORMAT, "%s: a tensor has an empty name", file);
        count++;
        name_bytes += strlen(it->string) + 1;
    }
    if (!s && meta) {
        if (!cJSON_IsObject(meta) && !cJSON_IsNull(meta)) s = evk_fail(EVK_ERROR_FORMAT, "%s: \"__metadata__\" is not an object", file);
        for (const cJSON *m = meta->child; !s && m; m = m->next) {
            if (!cJSON_IsString(m)) s = evk_fail(EVK_ERROR_FORMAT, "%s: metadata \"%.80s\" is not a string", file, m->string);
            st->meta_count++;
        }
        if (!s && st->meta_count) {
            st->meta = calloc(st->meta_count * 2, sizeof *st->meta);
            if (!st->meta) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", file);
            size_t k = 0;
            for (const cJSON *m = meta->child; !s && m; m = m->next, k += 2) {
                st->meta[k] = strdup(m->string);
                st->meta[k + 1] = strdup(m->valuestring);
                if (!st->meta[k] || !st->meta[k + 1]) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", file);
            }
        }
    }
    if (!s) {
        st->tensors = calloc(count ? count : 1, sizeof *st->tensors);
        st->names = malloc(name_bytes ? name_bytes : 1);
        st->table_size = 16;
        while (st->table_size < count * 2) st->table_size *= 2;
        st->table = calloc(st->table_size, sizeof *st->table);
        if (!st->tensors || !st->names || !st->table) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", file);
    }
    size_t k = 0, used = 0;
    for (const cJSON *it = root->child; !s && it; it = it->next) {
        if (it == meta) continue;
        evk_st_tensor *t = &st->tensors[k];
        size_t len = strlen(it->string) + 1;
        memcpy(st->names + used, it->string, len);
        t->name = st->names + used;
        used += len;
        s = evk__parse_tensor(file, it, t);
        k++;
    }
    cJSON_Delete(root);
    free(text);
    if (s) return s;
    st->count = count;

    /* ranges: sorted, contiguous, ending at the end of the file */
    qsort(st->tensors, count, sizeof *st->tensors, evk__range_cmp);
    uint64_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        evk_st_tensor *t = &st->tensors[i];
        if (t->end > st->data_size)
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] run past the %llu bytes of data (truncated file?)",
                            file, t->name, (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)st->data_size);
        if (t->begin < pos)
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' (which ends at %llu)", file,
                            t->name, (unsigned long long)t->begin, (unsigned long long)t->end, st->tensors[i - 1].name,
                            (unsigned long long)pos);
        if (t->begin > pos)
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': data starts at %llu, leaving a gap of %llu unused bytes after offset %llu",
                            file, t->name, (unsigned long long)t->begin, (unsigned long long)(t->begin - pos), (unsigned long long)pos);
        pos = t->end;
        t->data = st->data + t->begin;
    }
    if (pos != st->data_size)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor data ends at byte %llu of %llu: the file has %llu bytes past the last tensor", file,
                        (unsigned long long)pos, (unsigned long long)st->data_size, (unsigned long long)(st->data_size - pos));

    /* names: hash table, duplicates rejected */
    for (size_t i = 0; i < count; i++) {
        uint32_t h = evk__hash(st->tensors[i].name) & (st->table_size - 1);
        while (st->table[h]) {
            if (!strcmp(st->tensors[st->table[h] - 1].name, st->tensors[i].name))
                return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' appears twice in the header", file, st->tensors[i].name);
            h = (h + 1) & (st->table_size - 1);
        }
        st->table[h] = (uint32_t)i + 1;
    }
    return EVK_OK;
}

evk_status evk_safetensors_parse(const void *bytes, size_t size, const char *label, evk_safetensors **out) {
    *out = NULL;
    evk_safetensors *st = calloc(1, sizeof *st);
    if (!st) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    st->path = strdup(label ? label : "<memory>");
    st->map = bytes;
    st->map_size = size;
    evk_status s = st->path ? evk__st_build(st) : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (s) {
        evk_safetensors_close(st);
        return s;
    }
    *out = st;
    return EVK_OK;
}

evk_status evk_safetensors_open(const char *path, evk_safetensors **out) {
    *out = NULL;
    void *map = NULL;
    size_t size = 0;
    EVK_TRY(evk_file_map(path, &map, &size));
    static const uint8_t empty[1];
    evk_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        evk_file_unmap(map, size);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    st->path = strdup(path);
    st->map = map ? map : empty;
    st->map_size = size;
    st->mapped = map != NULL;
    evk_status s = st->path ? evk__st_build(st) : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (s) {
        evk_safetensors_close(st);
        return s;
    }
    *out = st;
    return EVK_OK;
}

const char *evk_safetensors_path(const evk_safetensors *st) { return st->path; }
size_t evk_safetensors_count(const evk_safetensors *st) { return st->count; }
const evk_st_tensor *evk_safetensors_at(const evk_safetensors *st, size_t i) { return i < st->count ? &st->tensors[i] : NULL; }
uint64_t evk_safetensors_data_size(const evk_safetensors *st) { return st->data_size; }

const evk_st_tensor *evk_safetensors_find(const evk_safetensors *st, const char *name) {
    if (!st->count) return NULL;
    uint32_t h = evk__hash(name) & (st->table_size - 1);
    while (st->table[h]) {
        const evk_st_tensor *t = &st->tensors[st->table[h] - 1];
        if (!strcmp(t->name, name)) return t;
        h = (h + 1) & (st->table_size - 1);
    }
    return NULL;
}

const char *evk_safetensors_metadata(const evk_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->meta_count; i++)
        if (!strcmp(st->meta[2 * i], key)) return st->meta[2 * i + 1];
    return NULL;
}

/* ---- conversion --------------------------------------------------------------------------- */

static float evk__load_f(const uint8_t *p, evk_st_dtype d) {
    switch (d) {
    case EVK_ST_F16: return evk_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
    case EVK_ST_BF16: return evk_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
    case EVK_ST_F32: {
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: {
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--) u = u << 8 | p[i];
        double x;
        memcpy(&x, &u, 8);
        return (float)x;
    }
    }
}

/* A strided view: walk the row-major index like an odometer, keeping the element's offset, so
 * each element costs an add (a carry is rare) instead of a division per dimension. */
static evk_status evk__st_convert_strided(const evk_st_tensor *t, uint64_t first, uint64_t count, evk_dtype to, void *dst, size_t es) {
    int64_t idx[EVK_ST_MAX_DIMS];
    uint64_t off = 0, rest = first;
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = t->shape[d] ? (int64_t)(rest % (uint64_t)t->shape[d]) : 0;
        rest = t->shape[d] ? rest / (uint64_t)t->shape[d] : 0;
        off += (uint64_t)idx[d] * (uint64_t)t->strides[d];
    }
    for (uint64_t i = 0; i < count; i++) {
        float x = evk__load_f(t->data + off * es, t->dtype);
        if (to == EVK_DTYPE_F32) ((float *)dst)[i] = x;
        else ((uint16_t *)dst)[i] = evk_f32_to_f16(x);
        for (int d = t->ndim - 1; d >= 0; d--) {
            off += (uint64_t)t->strides[d];
            if (++idx[d] < t->shape[d]) break;
            off -= (uint64_t)t->strides[d] * (uint64_t)idx[d];
            idx[d] = 0;
        }
    }
    return EVK_OK;
}

evk_status evk_st_convert(const evk_st_tensor *t, uint64_t first, uint64_t count, evk_dtype to, void *dst) {
    if (t->dtype == EVK_ST_QUANT) {
        if (first > t->numel || count > t->numel - first)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor '%s': elements [%llu, +%llu) outside its %llu", t->name,
                            (unsigned long long)first, (unsigned long long)count, (unsigned long long)t->numel);
        evk_status s = evk_gguf_dequant(t->quant, t->data, first, count, to, dst);
        return s ? evk_fail_context(s, "tensor '%s'", t->name) : EVK_OK;
    }
    if (!evk_st_dtype_is_float(t->dtype))
        return evk_fail(EVK_ERROR_FORMAT, "tensor '%s': dtype %s cannot be converted to %s", t->name, evk_st_dtype_name(t->dtype),
                        evk_dtype_name(to));
    if (to != EVK_DTYPE_F32 && to != EVK_DTYPE_F16)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor '%s': storage dtype %s is not f32 or f16", t->name, evk_dtype_name(to));
    if (first > t->numel || count > t->numel - first)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor '%s': elements [%llu, +%llu) outside its %llu", t->name,
                        (unsigned long long)first, (unsigned long long)count, (unsigned long long)t->numel);
    size_t es = evk_st_dtype_size(t->dtype);
    if (t->strides) return evk__st_convert_strided(t, first, count, to, dst, es);
    const uint8_t *p = t->data + first * es;
    /* same representation: a byte copy (the file and every supported device are little-endian) */
    if ((to == EVK_DTYPE_F32 && t->dtype == EVK_ST_F32) || (to == EVK_DTYPE_F16 && t->dtype == EVK_ST_F16)) {
        memcpy(dst, p, count * es);
        return EVK_OK;
    }
    if (to == EVK_DTYPE_F32) {
        float *o = dst;
        for (uint64_t i = 0; i < count; i++) o[i] = evk__load_f(p + i * es, t->dtype);
    } else {
        uint16_t *o = dst;
        for (uint64_t i = 0; i < count; i++) o[i] = evk_f32_to_f16(evk__load_f(p + i * es, t->dtype));
    }
    return EVK_OK;
}

static _Atomic uint64_t evk__peak_chunk;

uint64_t evk_st_upload_peak_chunk(void) { return atomic_load(&evk__peak_chunk); }

evk_status evk_st_upload(evk_context *ctx, const evk_st_tensor *t, uint64_t first, uint64_t count, evk_dtype to,
                         const evk_buffer *buf, uint64_t offset, uint64_t chunk_bytes) {
    if (!chunk_bytes) chunk_bytes = 4u << 20;
    size_t os = evk_dtype_size(to);
    if (offset > buf->size || count * os > buf->size - offset)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "tensor '%s': %llu %s values do not fit the buffer at offset %llu", t->name,
                        (unsigned long long)count, evk_dtype_name(to), (unsigned long long)offset);
    uint64_t per = chunk_bytes / os;
    if (per < 1) per = 1;
    if (per > count) per = count ? count : 1;
    void *tmp = malloc(per * os);
    if (!tmp) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "tensor '%s': out of host memory for a %llu-byte chunk", t->name,
                              (unsigned long long)(per * os));
    uint64_t bytes = per * os, old = atomic_load(&evk__peak_chunk);
    while (bytes > old && !atomic_compare_exchange_weak(&evk__peak_chunk, &old, bytes)) {}
    evk_status s = EVK_OK;
    /* the file's pages of a chunk leave resident memory once the chunk is on the device (packed
     * tensors; views and quantised blocks as a whole at the end) */
    const bool packed = t->dtype != EVK_ST_QUANT && !t->strides && t->data;
    const size_t es = packed ? evk_st_dtype_size(t->dtype) : 0;
    for (uint64_t i = 0; i < count && !s; i += per) {
        uint64_t n = count - i < per ? count - i : per;
        s = evk_st_convert(t, first + i, n, to, tmp);
        if (!s) s = evk_buffer_upload(ctx, buf, offset + i * os, tmp, n * os);
        if (!s && packed) evk_file_release(t->data + (first + i) * es, n * es);
    }
    if (!s && !packed && t->data && t->end > t->begin) evk_file_release(t->data, t->end - t->begin);
    free(tmp);
    return s;
}
