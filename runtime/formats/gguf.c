/* gguf.c — validation of GGUF headers and the read-only mapping (see gguf.h for the rules).
 *
 * The header is walked once with a cursor that refuses every read past the end of the file, and
 * every count is compared with the bytes that remain before anything is sized from it (an array
 * of n u32 needs 4n bytes, a string array 8 bytes per string at least, a tensor info 25 bytes), so
 * what is allocated grows with what was actually read. Metadata values stay in the mapping; keys
 * and tensor names are copied once into one NUL-terminated block after the walk (they are
 * recorded as file offsets until then). Names and keys are checked for duplicates with hash
 * tables that also serve lookups. Tensor ranges are checked by sorting them by offset: each must
 * start at or after the end of the previous one and leave less than one alignment unit between
 * them and after the last, which rules out overlaps and unexplained bytes at once. */
#include "formats/gguf.h"

#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct evk__gguf_str {
    uint64_t off;  /* in the file */
    uint32_t len;
} evk__gguf_str;

struct evk_gguf {
    char *path;
    const uint8_t *map;
    size_t map_size;
    int mapped;
    uint32_t version, alignment;
    uint64_t data_offset, data_size;
    evk_gguf_kv *kvs;
    size_t kv_count;
    evk_st_tensor *tensors;  /* in tensor-info order */
    size_t count;
    char *names;             /* every key and tensor name, NUL-terminated */
    uint32_t *ktable, *ttable;  /* open addressing: index + 1 */
    uint32_t ktable_size, ttable_size;
};

typedef struct evk__cur {
    const uint8_t *base;
    size_t size, pos;
} evk__cur;

static bool evk__take(evk__cur *c, uint64_t n, const uint8_t **p) {
    if (n > c->size - c->pos) return false;
    if (p) *p = c->base + c->pos;
    c->pos += (size_t)n;
    return true;
}

static uint64_t evk__le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static bool evk__u32(evk__cur *c, uint32_t *v) {
    const uint8_t *p;
    if (!evk__take(c, 4, &p)) return false;
    *v = (uint32_t)evk__le(p, 4);
    return true;
}

static bool evk__u64(evk__cur *c, uint64_t *v) {
    const uint8_t *p;
    if (!evk__take(c, 8, &p)) return false;
    *v = evk__le(p, 8);
    return true;
}

static uint32_t evk__hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static const char *const evk__vtype_names[EVK_GGUF_VALUE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

/* Bytes of one element of a fixed-size value type; 0 for strings and arrays. */
static uint32_t evk__vsize(uint32_t t) {
    switch (t) {
    case EVK_GGUF_UINT8: case EVK_GGUF_INT8: case EVK_GGUF_BOOL: return 1;
    case EVK_GGUF_UINT16: case EVK_GGUF_INT16: return 2;
    case EVK_GGUF_UINT32: case EVK_GGUF_INT32: case EVK_GGUF_FLOAT32: return 4;
    case EVK_GGUF_UINT64: case EVK_GGUF_INT64: case EVK_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

void evk_gguf_close(evk_gguf *g) {
    if (!g) return;
    if (g->mapped && g->map) evk_file_unmap((void *)g->map, g->map_size);
    free(g->kvs);
    free(g->tensors);
    free(g->names);
    free(g->ktable);
    free(g->ttable);
    free(g->path);
    free(g);
}

/* A length-prefixed string at the cursor: its bytes must be in the file. */
static bool evk__str(evk__cur *c, uint64_t *len, const uint8_t **p) {
    return evk__u64(c, len) && evk__take(c, *len, p);
}

/* " element 12" for an array element, "" for a scalar: only formatted on the way to an error. */
static const char *evk__where(char *buf, size_t n, bool in_array, uint64_t index) {
    if (!in_array) return "";
    snprintf(buf, n, " element %llu", (unsigned long long)index);
    return buf;
}

/* Walk one value of type `type` (strings and fixed-size scalars; arrays are walked by the caller). */
static evk_status evk__value(const char *file, const char *key, int klen, evk__cur *c, uint32_t type, uint64_t index, bool in_array) {
    char w[48];
    if (type == EVK_GGUF_STRING) {
        uint64_t len;
        if (!evk__u64(c, &len))
            return evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s'%s: string length runs past the end of the file", file, klen, key,
                            evk__where(w, sizeof w, in_array, index));
        if (!evk__take(c, len, NULL))
            return evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s'%s: string of %llu bytes runs past the end of the file", file, klen, key,
                            evk__where(w, sizeof w, in_array, index), (unsigned long long)len);
        return EVK_OK;
    }
    const uint8_t *p;
    if (!evk__take(c, evk__vsize(type), &p))
        return evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s'%s: %s value runs past the end of the file", file, klen, key,
                        evk__where(w, sizeof w, in_array, index), evk__vtype_names[type]);
    if (type == EVK_GGUF_BOOL && p[0] > 1)
        return evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s'%s: BOOL value %u is neither 0 nor 1", file, klen, key,
                        evk__where(w, sizeof w, in_array, index), p[0]);
    return EVK_OK;
}

/* Grow *arr (elements of `es` bytes) so index `need` fits. */
static bool evk__grow(void **arr, size_t *cap, size_t need, size_t es) {
    if (need < *cap) return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n <= need) n *= 2;
    void *p = realloc(*arr, n * es);
    if (!p) return false;
    *arr = p;
    *cap = n;
    return true;
}

static int evk__tensor_cmp(const void *a, const void *b) {
    const evk_st_tensor *x = *(const evk_st_tensor *const *)a, *y = *(const evk_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static evk_st_dtype evk__plain_dtype(uint32_t type) {
    switch (type) {
    case EVK_GGUF_F32: return EVK_ST_F32;
    case EVK_GGUF_F16: return EVK_ST_F16;
    case EVK_GGUF_BF16: return EVK_ST_BF16;
    case EVK_GGUF_F64: return EVK_ST_F64;
    case EVK_GGUF_I8: return EVK_ST_I8;
    case EVK_GGUF_I16: return EVK_ST_I16;
    case EVK_GGUF_I32: return EVK_ST_I32;
    case EVK_GGUF_I64: return EVK_ST_I64;
    default: return EVK_ST_QUANT;
    }
}

/* Index `count` entries by name (names[] gives each entry's name); duplicates are an error. */
static evk_status evk__index(const char *file, const char *what, const char *const *names, size_t count, size_t stride,
                             uint32_t **table, uint32_t *table_size) {
    uint32_t ts = 16;
    while (ts < count * 2) ts *= 2;
    *table = calloc(ts, sizeof **table);
    if (!*table) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", file);
    *table_size = ts;
    for (size_t i = 0; i < count; i++) {
        const char *n = *(const char *const *)((const char *)names + i * stride);
        uint32_t h = evk__hash(n) & (ts - 1);
        while ((*table)[h]) {
            const char *o = *(const char *const *)((const char *)names + ((*table)[h] - 1) * stride);
            if (!strcmp(o, n)) return evk_fail(EVK_ERROR_FORMAT, "%s: %s '%s' appears twice", file, what, n);
            h = (h + 1) & (ts - 1);
        }
        (*table)[h] = (uint32_t)i + 1;
    }
    return EVK_OK;
}

/* ComfyUI-GGUF's original shapes: a tensor stored in another shape (more dimensions than GGUF's
 * four, or rows reshaped to 256 elements so that K-quants fit a convolution kernel) names its real
 * shape, outermost first, in the metadata key comfy.gguf.orig_shape.<name>: an array of integers
 * whose product is the tensor's element count. The elements keep their row-major order, so the
 * tensor takes that shape as it is. */
static evk_status evk__orig_shapes(evk_gguf *g) {
    static const char prefix[] = "comfy.gguf.orig_shape.";
    for (size_t i = 0; i < g->count; i++) {
        evk_st_tensor *t = &g->tensors[i];
        char key[sizeof prefix + EVK_GGUF_MAX_NAME];
        snprintf(key, sizeof key, "%s%s", prefix, t->name);
        const evk_gguf_kv *kv = evk_gguf_kv_find(g, key);
        if (!kv) continue;
        int64_t v;
        if (kv->type != EVK_GGUF_ARRAY || kv->elem == EVK_GGUF_BOOL || !evk_gguf_kv_int(kv, 0, &v) || kv->count > EVK_ST_MAX_DIMS)
            return evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%s' (the original shape of tensor '%s') is not an array of 1 to %d integers",
                            g->path, key, t->name, EVK_ST_MAX_DIMS);
        int64_t shape[EVK_ST_MAX_DIMS];
        uint64_t numel = 1;
        for (uint64_t d = 0; d < kv->count; d++) {
            if (!evk_gguf_kv_int(kv, d, &v) || v < 1 || v > (int64_t)1 << 48)
                return evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%s': dimension %llu is %lld, not a positive size", g->path, key,
                                (unsigned long long)d, (long long)v);
            if (numel > ((uint64_t)1 << 60) / (uint64_t)v)
                return evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%s': the element count overflows", g->path, key);
            numel *= (uint64_t)v;
            shape[d] = v;
        }
        if (numel != t->numel)
            return evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%s' is a shape of %llu elements, but tensor '%s' holds %llu", g->path, key,
                            (unsigned long long)numel, t->name, (unsigned long long)t->numel);
        t->ndim = (int)kv->count;
        memcpy(t->shape, shape, sizeof shape[0] * kv->count);
    }
    return EVK_OK;
}

static evk_status evk__build(evk_gguf *g) {
    const char *file = g->path;
    evk__cur c = {g->map, g->map_size, 0};
    const uint8_t *p;
    if (!evk__take(&c, 4, &p) || memcmp(p, "GGUF", 4))
        return evk_fail(EVK_ERROR_FORMAT, "%s: not a GGUF file (the first 4 bytes are not \"GGUF\")", file);
    if (!evk__u32(&c, &g->version)) return evk_fail(EVK_ERROR_FORMAT, "%s: truncated GGUF header (no version)", file);
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return evk_fail(EVK_ERROR_FORMAT, "%s: big-endian GGUF file (version %u byte-swapped): only little-endian files are supported",
                        file, g->version >> 24);
    if (g->version == 1)
        return evk_fail(EVK_ERROR_FORMAT, "%s: GGUF version 1 (32-bit counts, 2023) is not supported: convert it to version 3", file);
    if (g->version != 2 && g->version != 3)
        return evk_fail(EVK_ERROR_FORMAT, "%s: unknown GGUF version %u (versions 2 and 3 are supported)", file, g->version);
    uint64_t n_tensors, n_kv;
    if (!evk__u64(&c, &n_tensors) || !evk__u64(&c, &n_kv))
        return evk_fail(EVK_ERROR_FORMAT, "%s: truncated GGUF header (no tensor and key/value counts)", file);
    if (n_tensors > EVK_GGUF_MAX_TENSORS || n_tensors > (c.size - c.pos) / 25)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor count %llu is more than the %zu-byte file can describe (limit %u)", file,
                        (unsigned long long)n_tensors, g->map_size, EVK_GGUF_MAX_TENSORS);
    if (n_kv > EVK_GGUF_MAX_KV || n_kv > (c.size - c.pos) / 13)
        return evk_fail(EVK_ERROR_FORMAT, "%s: key/value count %llu is more than the %zu-byte file can describe (limit %u)", file,
                        (unsigned long long)n_kv, g->map_size, EVK_GGUF_MAX_KV);

    evk__gguf_str *kstr = NULL, *tstr = NULL;
    size_t kcap = 0, tcap = 0, kvcap = 0, tencap = 0, name_bytes = 0;
    evk_status s = EVK_OK;
    /* key/value pairs */
    for (uint64_t i = 0; i < n_kv && !s; i++) {
        uint64_t klen;
        const uint8_t *kp;
        if (!evk__str(&c, &klen, &kp)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: key %llu of %llu runs past the end of the file", file, (unsigned long long)i,
                         (unsigned long long)n_kv);
            break;
        }
        const char *key = (const char *)kp;
        int kl = klen > 80 ? 80 : (int)klen;
        if (!klen || klen > EVK_GGUF_MAX_KEY || memchr(kp, 0, (size_t)klen)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: key %llu ('%.*s') is empty, longer than %u bytes or holds a NUL byte", file,
                         (unsigned long long)i, kl, key, EVK_GGUF_MAX_KEY);
            break;
        }
        uint32_t type;
        if (!evk__u32(&c, &type)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s': value type runs past the end of the file", file, kl, key);
            break;
        }
        if (type >= EVK_GGUF_VALUE_COUNT) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s': unknown value type %u", file, kl, key, type);
            break;
        }
        if (!evk__grow((void **)&g->kvs, &kvcap, g->kv_count, sizeof *g->kvs) || !evk__grow((void **)&kstr, &kcap, g->kv_count, sizeof *kstr)) {
            s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", file);
            break;
        }
        evk_gguf_kv *kv = &g->kvs[g->kv_count];
        kstr[g->kv_count] = (evk__gguf_str){(uint64_t)(kp - g->map), (uint32_t)klen};
        kv->type = kv->elem = (evk_gguf_value_type)type;
        kv->count = 1;
        if (type == EVK_GGUF_ARRAY) {
            uint32_t et;
            uint64_t n;
            if (!evk__u32(&c, &et) || !evk__u64(&c, &n)) {
                s = evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s': array header runs past the end of the file", file, kl, key);
                break;
            }
            if (et >= EVK_GGUF_VALUE_COUNT) {
                s = evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s': unknown array element type %u", file, kl, key, et);
                break;
            }
            if (et == EVK_GGUF_ARRAY) {
                s = evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s': arrays of arrays are not supported", file, kl, key);
                break;
            }
            uint64_t min = et == EVK_GGUF_STRING ? 8 : evk__vsize(et);
            if (n > (c.size - c.pos) / min) {
                s = evk_fail(EVK_ERROR_FORMAT, "%s: metadata '%.*s': array of %llu %s elements runs past the end of the file", file, kl,
                             key, (unsigned long long)n, evk__vtype_names[et]);
                break;
            }
            kv->elem = (evk_gguf_value_type)et;
            kv->count = n;
            kv->value = c.base + c.pos;
            size_t start = c.pos;
            if (et == EVK_GGUF_STRING || et == EVK_GGUF_BOOL) {
                for (uint64_t k = 0; k < n && !s; k++) s = evk__value(file, key, kl, &c, et, k, true);
            } else {
                evk__take(&c, n * min, NULL); /* fits: checked above */
            }
            kv->size = c.pos - start;
        } else {
            kv->value = c.base + c.pos;
            size_t start = c.pos;
            s = evk__value(file, key, kl, &c, type, 0, false);
            kv->size = c.pos - start;
        }
        if (s) break;
        name_bytes += (size_t)klen + 1;
        g->kv_count++;
    }
    /* tensor infos */
    for (uint64_t i = 0; i < n_tensors && !s; i++) {
        uint64_t nlen;
        const uint8_t *np;
        if (!evk__str(&c, &nlen, &np)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor info %llu of %llu runs past the end of the file", file, (unsigned long long)i,
                         (unsigned long long)n_tensors);
            break;
        }
        const char *name = (const char *)np;
        int nl = nlen > 80 ? 80 : (int)nlen;
        if (!nlen || nlen > EVK_GGUF_MAX_NAME || memchr(np, 0, (size_t)nlen)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor %llu ('%.*s'): name is empty, longer than %u bytes or holds a NUL byte", file,
                         (unsigned long long)i, nl, name, EVK_GGUF_MAX_NAME);
            break;
        }
        uint32_t nd, type;
        if (!evk__u32(&c, &nd)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%.*s': info runs past the end of the file", file, nl, name);
            break;
        }
        if (nd > EVK_GGUF_MAX_DIMS) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%.*s': rank %u above GGUF's %d", file, nl, name, nd, EVK_GGUF_MAX_DIMS);
            break;
        }
        uint64_t ne[EVK_GGUF_MAX_DIMS] = {1, 1, 1, 1}, offset;
        bool ok = true;
        for (uint32_t d = 0; d < nd && ok; d++) ok = evk__u64(&c, &ne[d]);
        if (!ok || !evk__u32(&c, &type) || !evk__u64(&c, &offset)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%.*s': info runs past the end of the file", file, nl, name);
            break;
        }
        uint32_t block, bsize;
        if (!evk_gguf_type_block(type, &block, &bsize)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%.*s': unknown ggml type %u", file, nl, name, type);
            break;
        }
        uint64_t numel = 1;
        for (uint32_t d = 0; d < nd && !s; d++) {
            if (ne[d] > (1ull << 48))
                s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%.*s': dimension %u is %lld (negative or absurdly large)", file, nl, name, d,
                             (long long)ne[d]);
            else if (ne[d] && numel > (1ull << 60) / ne[d])
                s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%.*s': element count overflows", file, nl, name);
            else numel *= ne[d];
        }
        if (s) break;
        if (ne[0] % block) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%.*s': row length %llu is not a multiple of the %s block size %u", file, nl, name,
                         (unsigned long long)ne[0], evk_gguf_type_name(type), block);
            break;
        }
        if (!evk__grow((void **)&g->tensors, &tencap, g->count, sizeof *g->tensors) ||
            !evk__grow((void **)&tstr, &tcap, g->count, sizeof *tstr)) {
            s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", file);
            break;
        }
        evk_st_tensor *t = &g->tensors[g->count];
        memset(t, 0, sizeof *t);
        tstr[g->count] = (evk__gguf_str){(uint64_t)(np - g->map), (uint32_t)nlen};
        t->dtype = evk__plain_dtype(type);
        t->quant = t->dtype == EVK_ST_QUANT ? type : 0;
        t->ndim = (int)nd;
        for (uint32_t d = 0; d < nd; d++) t->shape[d] = (int64_t)ne[nd - 1 - d];
        t->numel = numel;
        t->begin = offset;
        t->end = offset + numel / block * bsize; /* offset is checked against the data size below */
        if (t->end < offset) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%.*s': offset %llu overflows", file, nl, name, (unsigned long long)offset);
            break;
        }
        name_bytes += (size_t)nlen + 1;
        g->count++;
    }
    /* names: one block, then the pointers */
    if (!s) {
        g->names = malloc(name_bytes ? name_bytes : 1);
        if (!g->names) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", file);
        size_t u = 0;
        for (size_t i = 0; !s && i < g->kv_count; i++) {
            memcpy(g->names + u, g->map + kstr[i].off, kstr[i].len);
            g->names[u + kstr[i].len] = 0;
            g->kvs[i].key = g->names + u;
            u += kstr[i].len + 1;
        }
        for (size_t i = 0; !s && i < g->count; i++) {
            memcpy(g->names + u, g->map + tstr[i].off, tstr[i].len);
            g->names[u + tstr[i].len] = 0;
            g->tensors[i].name = g->names + u;
            u += tstr[i].len + 1;
        }
    }
    free(kstr);
    free(tstr);
    if (s) return s;
    if (g->kv_count)
        EVK_TRY(evk__index(file, "key", (const char *const *)&g->kvs[0].key, g->kv_count, sizeof *g->kvs, &g->ktable, &g->ktable_size));
    if (g->count)
        EVK_TRY(evk__index(file, "tensor", (const char *const *)&g->tensors[0].name, g->count, sizeof *g->tensors, &g->ttable,
                           &g->ttable_size));
    EVK_TRY(evk__orig_shapes(g));

    g->alignment = 32;
    const evk_gguf_kv *al = evk_gguf_kv_find(g, "general.alignment");
    if (al) {
        if (al->type != EVK_GGUF_UINT32)
            return evk_fail(EVK_ERROR_FORMAT, "%s: metadata 'general.alignment' is %s, not UINT32", file, evk__vtype_names[al->type]);
        uint32_t a = (uint32_t)evk__le(al->value, 4);
        if (!a || (a & (a - 1)))
            return evk_fail(EVK_ERROR_FORMAT, "%s: metadata 'general.alignment' is %u, not a power of two", file, a);
        g->alignment = a;
    }
    /* data: from the header's end rounded up to the alignment */
    uint64_t a = g->alignment;
    g->data_offset = ((uint64_t)c.pos + a - 1) / a * a;
    if (g->data_offset > g->map_size) {
        if (g->count)
            return evk_fail(EVK_ERROR_FORMAT, "%s: the tensor data would start at byte %llu, past the end of the %zu-byte file (truncated?)",
                            file, (unsigned long long)g->data_offset, g->map_size);
        g->data_offset = g->map_size;
    }
    g->data_size = g->map_size - g->data_offset;
    if (!g->count) {
        if (g->data_size >= a)
            return evk_fail(EVK_ERROR_FORMAT, "%s: the file has %llu bytes past its header but no tensors", file,
                            (unsigned long long)g->data_size);
        return EVK_OK;
    }
    evk_st_tensor **order = malloc(g->count * sizeof *order);
    if (!order) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", file);
    for (size_t i = 0; i < g->count; i++) order[i] = &g->tensors[i];
    for (size_t i = 0; i < g->count && !s; i++) {
        evk_st_tensor *t = &g->tensors[i];
        if (t->begin % a)
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': offset %llu is not a multiple of the alignment %u", file, t->name,
                         (unsigned long long)t->begin, g->alignment);
        else if (t->end > g->data_size)
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': bytes [%llu, %llu) of data run past the %llu bytes the file holds (truncated?)",
                         file, t->name, (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)g->data_size);
        else t->data = g->map + g->data_offset + t->begin;
    }
    if (!s) qsort(order, g->count, sizeof *order, evk__tensor_cmp);
    uint64_t pos = 0;
    for (size_t i = 0; i < g->count && !s; i++) {
        const evk_st_tensor *t = order[i];
        if (t->begin < pos)
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': bytes [%llu, %llu) overlap tensor '%s' (which ends at %llu)", file, t->name,
                         (unsigned long long)t->begin, (unsigned long long)t->end, order[i - 1]->name, (unsigned long long)pos);
        else if (t->begin - pos >= a)
            s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': data starts at %llu, leaving %llu unused bytes after offset %llu", file, t->name,
                         (unsigned long long)t->begin, (unsigned long long)(t->begin - pos), (unsigned long long)pos);
        else pos = t->end;
    }
    free(order);
    if (!s && g->data_size - pos >= a)
        s = evk_fail(EVK_ERROR_FORMAT, "%s: tensor data ends at byte %llu of %llu: the file has %llu bytes past the last tensor", file,
                     (unsigned long long)pos, (unsigned long long)g->data_size, (unsigned long long)(g->data_size - pos));
    return s;
}

evk_status evk_gguf_parse(const void *bytes, size_t size, const char *label, evk_gguf **out) {
    *out = NULL;
    evk_gguf *g = calloc(1, sizeof *g);
    if (!g) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    static const uint8_t empty[1];
    g->path = strdup(label ? label : "<memory>");
    g->map = bytes ? bytes : empty;
    g->map_size = size;
    evk_status s = g->path ? evk__build(g) : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (s) {
        evk_gguf_close(g);
        return s;
    }
    *out = g;
    return EVK_OK;
}

evk_status evk_gguf_open(const char *path, evk_gguf **out) {
    *out = NULL;
    void *map = NULL;
    size_t size = 0;
    EVK_TRY(evk_file_map(path, &map, &size));
    evk_gguf *g = NULL;
    evk_status s = evk_gguf_parse(map, size, path, &g);
    if (s) {
        evk_file_unmap(map, size);
        return s;
    }
    g->mapped = map != NULL;
    *out = g;
    return EVK_OK;
}

const char *evk_gguf_path(const evk_gguf *g) { return g->path; }
uint32_t evk_gguf_version(const evk_gguf *g) { return g->version; }
uint32_t evk_gguf_alignment(const evk_gguf *g) { return g->alignment; }
size_t evk_gguf_count(const evk_gguf *g) { return g->count; }
const evk_st_tensor *evk_gguf_at(const evk_gguf *g, size_t i) { return i < g->count ? &g->tensors[i] : NULL; }
size_t evk_gguf_kv_count(const evk_gguf *g) { return g->kv_count; }
const evk_gguf_kv *evk_gguf_kv_at(const evk_gguf *g, size_t i) { return i < g->kv_count ? &g->kvs[i] : NULL; }

const evk_st_tensor *evk_gguf_find(const evk_gguf *g, const char *name) {
    if (!g->count) return NULL;
    uint32_t h = evk__hash(name) & (g->ttable_size - 1);
    while (g->ttable[h]) {
        const evk_st_tensor *t = &g->tensors[g->ttable[h] - 1];
        if (!strcmp(t->name, name)) return t;
        h = (h + 1) & (g->ttable_size - 1);
    }
    return NULL;
}

const evk_gguf_kv *evk_gguf_kv_find(const evk_gguf *g, const char *key) {
    if (!g->kv_count) return NULL;
    uint32_t h = evk__hash(key) & (g->ktable_size - 1);
    while (g->ktable[h]) {
        const evk_gguf_kv *kv = &g->kvs[g->ktable[h] - 1];
        if (!strcmp(kv->key, key)) return kv;
        h = (h + 1) & (g->ktable_size - 1);
    }
    return NULL;
}

bool evk_gguf_kv_int(const evk_gguf_kv *kv, uint64_t i, int64_t *out) {
    if (!kv || i >= kv->count) return false;
    uint32_t n = evk__vsize(kv->elem);
    if (!n || kv->elem == EVK_GGUF_FLOAT32 || kv->elem == EVK_GGUF_FLOAT64) return false;
    uint64_t u = evk__le(kv->value + i * n, (int)n);
    switch (kv->elem) {
    case EVK_GGUF_INT8: *out = (int8_t)u; break;
    case EVK_GGUF_INT16: *out = (int16_t)u; break;
    case EVK_GGUF_INT32: *out = (int32_t)u; break;
    case EVK_GGUF_INT64: *out = (int64_t)u; break;
    case EVK_GGUF_UINT64:
        if (u > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)u;
        break;
    default: *out = (int64_t)u; break;
    }
    return true;
}

bool evk_gguf_kv_float(const evk_gguf_kv *kv, uint64_t i, double *out) {
    if (!kv || i >= kv->count) return false;
    if (kv->elem == EVK_GGUF_FLOAT32) {
        uint32_t u = (uint32_t)evk__le(kv->value + 4 * i, 4);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return true;
    }
    if (kv->elem == EVK_GGUF_FLOAT64) {
        uint64_t u = evk__le(kv->value + 8 * i, 8);
        memcpy(out, &u, 8);
        return true;
    }
    int64_t v;
    if (evk_gguf_kv_int(kv, i, &v)) {
        *out = (double)v;
        return true;
    }
    if (kv->elem == EVK_GGUF_UINT64 && i < kv->count) {
        *out = (double)evk__le(kv->value + 8 * i, 8);
        return true;
    }
    return false;
}

const char *evk_gguf_kv_next_string(const evk_gguf_kv *kv, uint64_t *pos, size_t *len) {
    /* the walk at open proved every length prefix and string inside `size` */
    if (!kv || kv->elem != EVK_GGUF_STRING || *pos + 8 > kv->size) return NULL;
    uint64_t n = evk__le(kv->value + *pos, 8);
    const char *s = (const char *)kv->value + *pos + 8;
    *pos += 8 + n;
    *len = (size_t)n;
    return s;
}
