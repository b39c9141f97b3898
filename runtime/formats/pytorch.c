/* pytorch.c — a torch.save checkpoint as a list of named tensors: the zip container, the
 * restricted unpickler's value tree, and the walk from that tree to tensors (see pytorch.h).
 *
 * The walk is the only place that interprets torch's calls: _rebuild_tensor_v2(storage, offset,
 * size, stride, requires_grad, hooks[, metadata]) and its older and Parameter forms. Storage
 * keys resolve to zip entries, and everything a view could reach is checked inside its entry
 * with divisions rather than products, so no hostile size or stride can overflow. The value
 * tree may share containers through the memo (even cyclically), so the walk bounds both its
 * depth and its total number of visits. Names and strides are collected in growing buffers and
 * turned into pointers once the walk is done (the buffers move while they grow). */
#include "formats/pytorch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pickle.h"
#include "formats/zip.h"

/* torch.save before 1.6: a pickled magic number 0x1950a86a20f9469cfc6c as LONG1, then more
 * pickles and raw storages. */
static const uint8_t evk__pt_legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

struct evk_pytorch {
    char *path;
    evk_zip *zip;
    evk_st_tensor *tensors;
    size_t count, cap;
    size_t *name_at;         /* offset of each name in `names` until the walk ends */
    char *names;
    size_t names_len, names_cap;
    size_t *stride_at;       /* offset in `strides`, or SIZE_MAX when contiguous */
    int64_t *strides;
    size_t strides_len, strides_cap;
    uint32_t *table;         /* name hash: tensor index + 1 */
    uint32_t table_size;
    signed char *entry_dtype; /* per zip entry: the dtype its storage was declared with, or -1 */
    char prefix[256];        /* archive folder: "<prefix>/data.pkl" */
    size_t visits;
};

bool evk_pytorch_sniff(const uint8_t *head, size_t n) {
    if (n >= 4 && head[0] == 'P' && head[1] == 'K' && ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6))) return true;
    return n >= sizeof evk__pt_legacy_magic && !memcmp(head, evk__pt_legacy_magic, sizeof evk__pt_legacy_magic);
}

void evk_pytorch_close(evk_pytorch *pt) {
    if (!pt) return;
    evk_zip_close(pt->zip);
    free(pt->tensors);
    free(pt->name_at);
    free(pt->names);
    free(pt->stride_at);
    free(pt->strides);
    free(pt->table);
    free(pt->entry_dtype);
    free(pt->path);
    free(pt);
}

static uint32_t evk__pt_hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static evk_status evk__pt_grow(void **buf, size_t *cap, size_t need, size_t elem, const char *path) {
    if (need <= *cap) return EVK_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *p = realloc(*buf, c * elem);
    if (!p) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    *buf = p;
    *cap = c;
    return EVK_OK;
}

static const evk_pvalue *evk__pt_arg(const evk_pvalue *args, size_t i) { return i < args->count ? args->items[i] : NULL; }

static int evk__pt_dtype(evk_pglobal g) {
    switch (g) {
    case EVK_PG_STORAGE_F64: return EVK_ST_F64;
    case EVK_PG_STORAGE_F32: return EVK_ST_F32;
    case EVK_PG_STORAGE_F16: return EVK_ST_F16;
    case EVK_PG_STORAGE_BF16: return EVK_ST_BF16;
    case EVK_PG_STORAGE_I64: return EVK_ST_I64;
    case EVK_PG_STORAGE_I32: return EVK_ST_I32;
    case EVK_PG_STORAGE_I16: return EVK_ST_I16;
    case EVK_PG_STORAGE_I8: return EVK_ST_I8;
    case EVK_PG_STORAGE_U8: return EVK_ST_U8;
    case EVK_PG_STORAGE_BOOL: return EVK_ST_BOOL;
    default: return -1;
    }
}

/* A tuple (or list) of non-negative ints below 2^48, at most EVK_ST_MAX_DIMS of them. */
static int evk__pt_dims(const evk_pvalue *v, int64_t *out, int *n) {
    if (!v || (v->kind != EVK_PK_TUPLE && v->kind != EVK_PK_LIST) || v->count > EVK_ST_MAX_DIMS) return 0;
    for (size_t i = 0; i < v->count; i++) {
        const evk_pvalue *x = v->items[i];
        if (x->kind != EVK_PK_INT || x->i < 0 || x->i > (1ll << 48)) return 0;
        out[i] = x->i;
    }
    *n = (int)v->count;
    return 1;
}

/* _rebuild_tensor_v2 / _rebuild_tensor (and the Parameter wrappers around them) -> a tensor. */
static evk_status evk__pt_tensor(evk_pytorch *pt, const evk_pvalue *call, const char *name, evk_st_tensor *t, int64_t *strides,
                                 bool *contiguous) {
    const char *file = pt->path;
    const evk_pvalue *args = call->args;
    for (int hop = 0; call->global == EVK_PG_REBUILD_PARAMETER || call->global == EVK_PG_REBUILD_PARAMETER_WS; hop++) {
        const evk_pvalue *inner = evk__pt_arg(args, 0);
        if (hop || !inner || inner->kind != EVK_PK_CALL)
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': %s (pickle byte %llu) does not wrap a tensor", file, name,
                            evk_pglobal_name(call->global), (unsigned long long)call->pos);
        call = inner;
        args = call->args;
    }
    size_t want = call->global == EVK_PG_REBUILD_TENSOR ? 4 : 6;
    if (args->count != want && !(call->global == EVK_PG_REBUILD_TENSOR_V2 && args->count == 7))
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': %s (pickle byte %llu) has %zu arguments, not %zu", file, name,
                        evk_pglobal_name(call->global), (unsigned long long)call->pos, args->count, want);
    /* storage: persistent id ('storage', torch.XStorage, key, location, numel) */
    const evk_pvalue *sv = args->items[0], *pid = sv->kind == EVK_PK_PERSID ? sv->args : NULL;
    const evk_pvalue *tag = pid && pid->kind == EVK_PK_TUPLE && pid->count == 5 ? pid->items[0] : NULL;
    if (!tag || tag->kind != EVK_PK_STR || strcmp(tag->s, "storage") || pid->items[1]->kind != EVK_PK_GLOBAL ||
        pid->items[2]->kind != EVK_PK_STR || pid->items[3]->kind != EVK_PK_STR || pid->items[4]->kind != EVK_PK_INT)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': its storage (pickle byte %llu) is not a persistent id "
                        "('storage', type, key, location, size)", file, name, (unsigned long long)sv->pos);
    int dtype = evk__pt_dtype(pid->items[1]->global);
    if (dtype < 0)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': %s is not a storage type", file, name, evk_pglobal_name(pid->items[1]->global));
    const evk_pvalue *key = pid->items[2];
    int64_t snumel = pid->items[4]->i;
    size_t es = evk_st_dtype_size((evk_st_dtype)dtype);
    if (snumel < 0 || (uint64_t)snumel > (1ull << 62) / es)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': storage size %lld is invalid", file, name, (long long)snumel);
    char ename[512];
    if (key->len != strlen(key->s) || key->len > 200)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': storage key is not a short string", file, name);
    snprintf(ename, sizeof ename, "%s/data/%s", pt->prefix, key->s);
    const evk_zip_entry *e = evk_zip_find(pt->zip, ename);
    if (!e) return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': storage '%s' has no entry '%s'", file, name, key->s, ename);
    if (e->size != (uint64_t)snumel * es)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': storage '%s' declares %lld %s elements (%llu bytes) but its entry holds %llu bytes",
                        file, name, key->s, (long long)snumel, evk_st_dtype_name((evk_st_dtype)dtype),
                        (unsigned long long)snumel * es, (unsigned long long)e->size);
    size_t ei = (size_t)(e - evk_zip_at(pt->zip, 0));
    if (pt->entry_dtype[ei] >= 0 && pt->entry_dtype[ei] != dtype)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': storage '%s' is declared as %s here and as %s before", file, name, key->s,
                        evk_st_dtype_name((evk_st_dtype)dtype), evk_st_dtype_name((evk_st_dtype)pt->entry_dtype[ei]));
    pt->entry_dtype[ei] = (signed char)dtype;
    /* offset, size, stride */
    const evk_pvalue *ov = args->items[1];
    int nd = 0, ns = 0;
    int64_t shape[EVK_ST_MAX_DIMS];
    if (ov->kind != EVK_PK_INT || ov->i < 0)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': storage offset is not a non-negative integer", file, name);
    if (!evk__pt_dims(args->items[2], shape, &nd))
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': size is not a tuple of at most %d non-negative integers", file, name,
                        EVK_ST_MAX_DIMS);
    if (!evk__pt_dims(args->items[3], strides, &ns) || ns != nd)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': stride is not a tuple of %d non-negative integers", file, name, nd);
    uint64_t off = (uint64_t)ov->i, numel = 1, n = (uint64_t)snumel;
    for (int d = 0; d < nd; d++) {
        uint64_t x = (uint64_t)shape[d];
        if (x && numel > (1ull << 60) / x) return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': element count overflows", file, name);
        numel *= x;
    }
    /* the last element a view reaches: offset + sum (size - 1) * stride, inside the storage */
    uint64_t reach = off;
    if (numel ? off >= n : off > n)
        return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': storage offset %llu is outside storage '%s' of %llu elements", file, name,
                        (unsigned long long)off, key->s, (unsigned long long)n);
    for (int d = 0; d < nd && numel; d++) {
        uint64_t x = (uint64_t)shape[d], st = (uint64_t)strides[d];
        if (x < 2 || !st) continue;
        if (x - 1 > (n - 1 - reach) / st)
            return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s': size %lld with stride %lld reaches past the %llu elements of storage '%s'",
                            file, name, (long long)x, (long long)st, (unsigned long long)n, key->s);
        reach += (x - 1) * st;
    }
    *contiguous = true;
    uint64_t expect = 1;
    for (int d = nd - 1; d >= 0 && numel; d--) {
        if (shape[d] != 1 && (uint64_t)strides[d] != expect) *contiguous = false;
        expect *= (uint64_t)shape[d];
    }
    memset(t, 0, sizeof *t);
    t->dtype = (evk_st_dtype)dtype;
    t->ndim = nd;
    memcpy(t->shape, shape, (size_t)nd * sizeof *shape);
    t->numel = numel;
    t->data = e->data + off * es;
    t->begin = e->offset + off * es;
    t->end = t->begin + (numel ? (*contiguous ? numel : reach - off + 1) * es : 0);
    return EVK_OK;
}

static evk_status evk__pt_add(evk_pytorch *pt, const evk_pvalue *call, const char *name, size_t len) {
    evk_st_tensor t;
    int64_t strides[EVK_ST_MAX_DIMS];
    bool contiguous = true;
    if (!len) return evk_fail(EVK_ERROR_FORMAT, "%s: the checkpoint holds a bare tensor, not a dict of named tensors", pt->path);
    EVK_TRY(evk__pt_tensor(pt, call, name, &t, strides, &contiguous));
    size_t old_cap = pt->cap;
    EVK_TRY(evk__pt_grow((void **)&pt->tensors, &pt->cap, pt->count + 1, sizeof *pt->tensors, pt->path));
    if (pt->cap != old_cap) { /* name_at and stride_at grow with tensors */
        size_t *na = realloc(pt->name_at, pt->cap * sizeof *na);
        if (na) pt->name_at = na;
        size_t *sa = na ? realloc(pt->stride_at, pt->cap * sizeof *sa) : NULL;
        if (sa) pt->stride_at = sa;
        if (!na || !sa) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", pt->path);
    }
    EVK_TRY(evk__pt_grow((void **)&pt->names, &pt->names_cap, pt->names_len + len + 1, 1, pt->path));
    memcpy(pt->names + pt->names_len, name, len + 1);
    pt->name_at[pt->count] = pt->names_len;
    pt->names_len += len + 1;
    pt->stride_at[pt->count] = SIZE_MAX;
    if (!contiguous) {
        EVK_TRY(evk__pt_grow((void **)&pt->strides, &pt->strides_cap, pt->strides_len + (size_t)t.ndim, sizeof *pt->strides, pt->path));
        memcpy(pt->strides + pt->strides_len, strides, (size_t)t.ndim * sizeof *strides);
        pt->stride_at[pt->count] = pt->strides_len;
        pt->strides_len += (size_t)t.ndim;
    }
    pt->tensors[pt->count++] = t;
    return EVK_OK;
}

/* Append ".key" (or "key" at the top) to the name in `name` of length `len`. */
static evk_status evk__pt_join(const evk_pytorch *pt, char *name, size_t len, const evk_pvalue *key, size_t *out) {
    char num[24];
    const char *k;
    size_t kl;
    if (key->kind == EVK_PK_STR) {
        if (key->len != strlen(key->s))
            return evk_fail(EVK_ERROR_FORMAT, "%s: a key under '%.200s' holds a NUL byte (pickle byte %llu)", pt->path, name,
                            (unsigned long long)key->pos);
        k = key->s;
        kl = key->len;
    } else if (key->kind == EVK_PK_INT) {
        kl = (size_t)snprintf(num, sizeof num, "%lld", (long long)key->i);
        k = num;
    } else {
        return evk_fail(EVK_ERROR_FORMAT, "%s: a key under '%.200s' is neither a string nor an integer (pickle byte %llu)", pt->path,
                        len ? name : "<top>", (unsigned long long)key->pos);
    }
    size_t add = (len ? 1 : 0) + kl;
    if (len + add > EVK_PT_MAX_NAME)
        return evk_fail(EVK_ERROR_FORMAT, "%s: a tensor name under '%.200s' is longer than %d bytes", pt->path, name, EVK_PT_MAX_NAME);
    if (len) name[len] = '.';
    memcpy(name + len + (len ? 1 : 0), k, kl);
    name[len + add] = 0;
    *out = len + add;
    return EVK_OK;
}

static evk_status evk__pt_walk(evk_pytorch *pt, const evk_pvalue *v, char *name, size_t len, int depth) {
    if (++pt->visits > EVK_PICKLE_MAX_VALUES)
        return evk_fail(EVK_ERROR_FORMAT, "%s: the pickle's containers are shared or cyclic beyond %u visits", pt->path, EVK_PICKLE_MAX_VALUES);
    switch (v->kind) {
    case EVK_PK_CALL: return evk__pt_add(pt, v, name, len);
    case EVK_PK_DICT:
    case EVK_PK_LIST:
    case EVK_PK_TUPLE:
        break;
    default: return EVK_OK; /* numbers, strings, None, storages on their own: not tensors */
    }
    if (depth >= EVK_PT_MAX_NESTING)
        return evk_fail(EVK_ERROR_FORMAT, "%s: containers nested deeper than %d levels at '%.200s' (pickle byte %llu)", pt->path,
                        EVK_PT_MAX_NESTING, len ? name : "<top>", (unsigned long long)v->pos);
    bool dict = v->kind == EVK_PK_DICT;
    for (size_t i = 0; i < v->count; i++) {
        evk_pvalue index = {.kind = EVK_PK_INT, .i = (int64_t)i, .pos = v->pos};
        const evk_pvalue *key = dict ? v->items[2 * i] : &index, *val = dict ? v->items[2 * i + 1] : v->items[i];
        size_t nl = 0;
        EVK_TRY(evk__pt_join(pt, name, len, key, &nl));
        EVK_TRY(evk__pt_walk(pt, val, name, nl, depth + 1));
        name[len] = 0;
    }
    return EVK_OK;
}

/* The dict under "state_dict" or "module", when the top level wraps one. */
static const evk_pvalue *evk__pt_unwrap(const evk_pvalue *v) {
    for (int hop = 0; hop < EVK_PT_MAX_NESTING && v->kind == EVK_PK_DICT; hop++) {
        const evk_pvalue *inner = NULL;
        for (size_t i = 0; i < v->count && !inner; i++) {
            const evk_pvalue *k = v->items[2 * i], *x = v->items[2 * i + 1];
            if (k->kind == EVK_PK_STR && (!strcmp(k->s, "state_dict") || !strcmp(k->s, "module")) && x->kind == EVK_PK_DICT) inner = x;
        }
        if (!inner) break;
        v = inner;
    }
    return v;
}

/* The archive folder: the one "<prefix>/data.pkl" entry. */
static evk_status evk__pt_find_pickle(evk_pytorch *pt, const evk_zip_entry **out) {
    *out = NULL;
    int torchscript = 0;
    for (size_t i = 0; i < evk_zip_count(pt->zip); i++) {
        const char *n = evk_zip_at(pt->zip, i)->name, *slash = strchr(n, '/');
        if (slash && (!strcmp(slash, "/constants.pkl") || !strncmp(slash, "/code/", 6))) torchscript = 1;
        if (!slash || strcmp(slash, "/data.pkl")) continue;
        if (*out) return evk_fail(EVK_ERROR_FORMAT, "%s: two pickles ('%s' and '%s'): not a torch.save checkpoint", pt->path, (*out)->name, n);
        if ((size_t)(slash - n) >= sizeof pt->prefix) return evk_fail(EVK_ERROR_FORMAT, "%s: archive folder name is too long", pt->path);
        memcpy(pt->prefix, n, (size_t)(slash - n));
        pt->prefix[slash - n] = 0;
        *out = evk_zip_at(pt->zip, i);
    }
    if (!*out) {
        if (torchscript)
            return evk_fail(EVK_ERROR_FORMAT, "%s: a TorchScript archive (torch.jit.save), not a torch.save checkpoint of a state dict",
                            pt->path);
        return evk_fail(EVK_ERROR_FORMAT, "%s: a zip archive without <folder>/data.pkl: not a torch.save checkpoint", pt->path);
    }
    return EVK_OK;
}

static evk_status evk__pt_build(evk_pytorch *pt) {
    const evk_zip_entry *pk;
    EVK_TRY(evk__pt_find_pickle(pt, &pk));
    char bo[300];
    snprintf(bo, sizeof bo, "%s/byteorder", pt->prefix);
    const evk_zip_entry *order = evk_zip_find(pt->zip, bo);
    if (order && !(order->size == 6 && !memcmp(order->data, "little", 6)))
        return evk_fail(EVK_ERROR_FORMAT, "%s: saved with byte order '%.*s'; only little-endian checkpoints are read", pt->path,
                        (int)(order->size < 16 ? order->size : 16), (const char *)order->data);
    EVK_TRY(evk_zip_check_crc(pt->zip, pk));
    pt->entry_dtype = malloc(evk_zip_count(pt->zip) + 1);
    if (!pt->entry_dtype) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", pt->path);
    memset(pt->entry_dtype, -1, evk_zip_count(pt->zip) + 1);
    char label[600];
    snprintf(label, sizeof label, "%s:%s", pt->path, pk->name);
    evk_pickle *p;
    EVK_TRY(evk_pickle_load(pk->data, (size_t)pk->size, label, &p));
    char *name = malloc(EVK_PT_MAX_NAME + 1);
    evk_status s = name ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", pt->path);
    if (!s) {
        name[0] = 0;
        const evk_pvalue *root = evk__pt_unwrap(evk_pickle_root(p));
        s = evk__pt_walk(pt, root, name, 0, 0);
    }
    free(name);
    evk_pickle_free(p);
    if (s) return s;
    /* pointers into the final buffers, and the name table (duplicates refused) */
    pt->table_size = 16;
    while (pt->table_size < pt->count * 2) pt->table_size *= 2;
    pt->table = calloc(pt->table_size, sizeof *pt->table);
    if (!pt->table) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", pt->path);
    for (size_t i = 0; i < pt->count; i++) {
        evk_st_tensor *t = &pt->tensors[i];
        t->name = pt->names + pt->name_at[i];
        t->strides = pt->stride_at[i] == SIZE_MAX ? NULL : pt->strides + pt->stride_at[i];
        uint32_t h = evk__pt_hash(t->name) & (pt->table_size - 1);
        while (pt->table[h]) {
            if (!strcmp(pt->tensors[pt->table[h] - 1].name, t->name))
                return evk_fail(EVK_ERROR_FORMAT, "%s: tensor '%s' appears twice", pt->path, t->name);
            h = (h + 1) & (pt->table_size - 1);
        }
        pt->table[h] = (uint32_t)i + 1;
    }
    return EVK_OK;
}

static evk_status evk__pt_finish(evk_pytorch *pt, evk_zip *zip, evk_pytorch **out) {
    pt->zip = zip;
    evk_status s = evk__pt_build(pt);
    if (s) {
        evk_pytorch_close(pt);
        return s;
    }
    *out = pt;
    return EVK_OK;
}

/* Zip errors on a legacy file would say "not a zip archive": say what it is instead. */
static evk_status evk__pt_legacy(const char *path, const uint8_t *bytes, size_t size) {
    if (size >= 1 && bytes[0] == 0x80)
        return evk_fail(EVK_ERROR_FORMAT, "%s: legacy PyTorch format (a bare pickle, not a zip archive); re-save it with "
                        "torch.save(..., _use_new_zipfile_serialization=True)", path);
    return EVK_OK;
}

evk_status evk_pytorch_parse(const void *bytes, size_t size, const char *label, evk_pytorch **out) {
    *out = NULL;
    evk_pytorch *pt = calloc(1, sizeof *pt);
    if (!pt) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    pt->path = strdup(label ? label : "<memory>");
    if (!pt->path) {
        free(pt);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    evk_status s = evk__pt_legacy(pt->path, bytes, size);
    evk_zip *zip = NULL;
    if (!s) s = evk_zip_parse(bytes, size, pt->path, &zip);
    if (s) {
        evk_pytorch_close(pt);
        return s;
    }
    return evk__pt_finish(pt, zip, out);
}

evk_status evk_pytorch_open(const char *path, evk_pytorch **out) {
    *out = NULL;
    evk_pytorch *pt = calloc(1, sizeof *pt);
    if (!pt) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    pt->path = strdup(path);
    if (!pt->path) {
        free(pt);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    /* the first byte tells a legacy pickle from a zip before the zip reader looks */
    FILE *f = fopen(path, "rb");
    if (!f) {
        evk_pytorch_close(pt);
        return evk_fail(EVK_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    uint8_t head[1];
    size_t got = fread(head, 1, 1, f);
    fclose(f);
    evk_status s = evk__pt_legacy(path, head, got);
    evk_zip *zip = NULL;
    if (!s) s = evk_zip_open(path, &zip);
    if (s) {
        evk_pytorch_close(pt);
        return s;
    }
    return evk__pt_finish(pt, zip, out);
}

const char *evk_pytorch_path(const evk_pytorch *pt) { return pt->path; }
size_t evk_pytorch_count(const evk_pytorch *pt) { return pt->count; }
const evk_st_tensor *evk_pytorch_at(const evk_pytorch *pt, size_t i) { return i < pt->count ? &pt->tensors[i] : NULL; }

const evk_st_tensor *evk_pytorch_find(const evk_pytorch *pt, const char *name) {
    if (!pt->count) return NULL;
    uint32_t h = evk__pt_hash(name) & (pt->table_size - 1);
    while (pt->table[h]) {
        const evk_st_tensor *t = &pt->tensors[pt->table[h] - 1];
        if (!strcmp(t->name, name)) return t;
        h = (h + 1) & (pt->table_size - 1);
    }
    return NULL;
}
