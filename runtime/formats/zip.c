/* zip.c — the zip container of PyTorch checkpoints: end records, central directory, local
 * headers and zip64 fields, all checked against the file before use (see zip.h for the rules).
 *
 * Every read goes through evk__rd16/32/64 with an explicit bounds check by the caller, and every
 * sum of an offset and a size is compared by subtraction so it cannot wrap. Entries are kept in
 * central-directory order; a second array sorted by name serves lookups and finds duplicates,
 * and a third sorted by local-header offset finds overlaps (each entry's span, local header to
 * end of data, must end before the next begins). */
#include "formats/zip.h"

#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVK__ZIP_EOCD_SIG 0x06054b50u
#define EVK__ZIP64_EOCD_SIG 0x06064b50u
#define EVK__ZIP64_LOC_SIG 0x07064b50u
#define EVK__ZIP_CDIR_SIG 0x02014b50u
#define EVK__ZIP_LOCAL_SIG 0x04034b50u

typedef struct evk__zip_span {
    uint64_t begin, end; /* local header .. end of data */
    size_t index;
} evk__zip_span;

struct evk_zip {
    char *path;
    const uint8_t *map;
    size_t map_size;
    int mapped;
    evk_zip_entry *entries;
    size_t count;
    char *names;
    size_t *by_name; /* entry indices sorted by name */
};

static uint16_t evk__rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t evk__rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t evk__rd64(const uint8_t *p) { return (uint64_t)evk__rd32(p) | (uint64_t)evk__rd32(p + 4) << 32; }

/* [off, off + len) inside [0, limit) */
static int evk__zip_inside(uint64_t off, uint64_t len, uint64_t limit) { return off <= limit && len <= limit - off; }

void evk_zip_close(evk_zip *z) {
    if (!z) return;
    if (z->mapped && z->map) evk_file_unmap((void *)z->map, z->map_size);
    free(z->by_name);
    free(z->names);
    free(z->entries);
    free(z->path);
    free(z);
}

/* qsort has no context argument: sort pointers to entries instead of indices, then convert */
static int evk__zip_name_cmp(const void *a, const void *b) {
    const evk_zip_entry *x = *(const evk_zip_entry *const *)a, *y = *(const evk_zip_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int evk__zip_span_cmp(const void *a, const void *b) {
    const evk__zip_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Locate the end-of-central-directory record: the last signature from which the record and its
 * comment reach exactly the end of the file. */
static evk_status evk__zip_find_eocd(const evk_zip *z, uint64_t *pos) {
    const uint8_t *m = z->map;
    uint64_t n = z->map_size;
    if (n < 22) return evk_fail(EVK_ERROR_FORMAT, "%s: %llu bytes is too short for a zip archive", z->path, (unsigned long long)n);
    uint64_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (uint64_t i = n - 22 + 1; i-- > lo;) {
        if (evk__rd32(m + i) == EVK__ZIP_EOCD_SIG && i + 22 + evk__rd16(m + i + 20) == n) {
            *pos = i;
            return EVK_OK;
        }
    }
    return evk_fail(EVK_ERROR_FORMAT, "%s: no zip end-of-central-directory record (not a zip archive, or truncated)", z->path);
}

/* Central directory position, size and entry count, from the end record or its zip64 form. */
static evk_status evk__zip_directory(const evk_zip *z, uint64_t eocd, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count,
                                     uint64_t *cd_limit) {
    const uint8_t *m = z->map, *e = m + eocd;
    if (evk__rd16(e + 4) != 0 || evk__rd16(e + 6) != 0)
        return evk_fail(EVK_ERROR_FORMAT, "%s: multi-disk zip archives are not supported", z->path);
    uint64_t n_disk = evk__rd16(e + 8), n = evk__rd16(e + 10);
    *cd_size = evk__rd32(e + 12);
    *cd_off = evk__rd32(e + 16);
    *cd_limit = eocd;
    if (n_disk != n) return evk_fail(EVK_ERROR_FORMAT, "%s: end record counts %llu entries on this disk but %llu in all", z->path,
                                     (unsigned long long)n_disk, (unsigned long long)n);
    *count = n;
    int wants64 = n == 0xffff || *cd_size == 0xffffffffu || *cd_off == 0xffffffffu;
    int has_locator = eocd >= 20 && evk__rd32(m + eocd - 20) == EVK__ZIP64_LOC_SIG;
    if (!has_locator) {
        if (wants64) return evk_fail(EVK_ERROR_FORMAT, "%s: end record defers to a zip64 record that is missing", z->path);
        return EVK_OK;
    }
    const uint8_t *loc = m + eocd - 20;
    if (evk__rd32(loc + 4) != 0 || evk__rd32(loc + 16) > 1)
        return evk_fail(EVK_ERROR_FORMAT, "%s: multi-disk zip64 archives are not supported", z->path);
    uint64_t r = evk__rd64(loc + 8);
    if (!evk__zip_inside(r, 56, eocd - 20))
        return evk_fail(EVK_ERROR_FORMAT, "%s: zip64 end record offset %llu lies outside the file", z->path, (unsigned long long)r);
    const uint8_t *z64 = m + r;
    if (evk__rd32(z64) != EVK__ZIP64_EOCD_SIG)
        return evk_fail(EVK_ERROR_FORMAT, "%s: no zip64 end record at offset %llu", z->path, (unsigned long long)r);
    uint64_t rec = evk__rd64(z64 + 4);
    if (rec < 44 || !evk__zip_inside(r + 12, rec, eocd - 20))
        return evk_fail(EVK_ERROR_FORMAT, "%s: zip64 end record size %llu is invalid", z->path, (unsigned long long)rec);
    if (evk__rd32(z64 + 16) != 0 || evk__rd32(z64 + 20) != 0)
        return evk_fail(EVK_ERROR_FORMAT, "%s: multi-disk zip64 archives are not supported", z->path);
    uint64_t n64_disk = evk__rd64(z64 + 24), n64 = evk__rd64(z64 + 32);
    if (n64_disk != n64) return evk_fail(EVK_ERROR_FORMAT, "%s: zip64 end record counts %llu entries on this disk but %llu in all",
                                         z->path, (unsigned long long)n64_disk, (unsigned long long)n64);
    *count = n64;
    *cd_size = evk__rd64(z64 + 40);
    *cd_off = evk__rd64(z64 + 48);
    *cd_limit = r;
    return EVK_OK;
}

/* The zip64 extended-information field of a central entry supplies, in this order, the values
 * whose 32-bit fields are all ones. */
static evk_status evk__zip_extra64(const evk_zip *z, const char *name, const uint8_t *x, uint64_t xlen, uint64_t *usize,
                                   uint64_t *csize, uint64_t *off) {
    int need_u = *usize == 0xffffffffu, need_c = *csize == 0xffffffffu, need_o = *off == 0xffffffffu;
    uint64_t p = 0;
    while (xlen - p >= 4) {
        uint16_t id = evk__rd16(x + p), len = evk__rd16(x + p + 2);
        if (len > xlen - p - 4) return evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s': extra field runs past its end", z->path, name);
        if (id == 1) {
            const uint8_t *f = x + p + 4;
            uint64_t k = 0;
            uint64_t *want[3] = {need_u ? usize : NULL, need_c ? csize : NULL, need_o ? off : NULL};
            for (int i = 0; i < 3; i++) {
                if (!want[i]) continue;
                if (len - k < 8) return evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s': zip64 extra field is too short", z->path, name);
                *want[i] = evk__rd64(f + k);
                k += 8;
            }
            return EVK_OK;
        }
        p += 4 + (uint64_t)len;
    }
    if (need_u || need_c || need_o)
        return evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s': sizes defer to a zip64 extra field that is missing", z->path, name);
    return EVK_OK;
}

static evk_status evk__zip_build(evk_zip *z) {
    const uint8_t *m = z->map;
    uint64_t eocd = 0, cd_off = 0, cd_size = 0, n = 0, cd_limit = 0;
    EVK_TRY(evk__zip_find_eocd(z, &eocd));
    EVK_TRY(evk__zip_directory(z, eocd, &cd_off, &cd_size, &n, &cd_limit));
    if (!evk__zip_inside(cd_off, cd_size, cd_limit))
        return evk_fail(EVK_ERROR_FORMAT, "%s: central directory [%llu, +%llu) lies outside the file (truncated?)", z->path,
                        (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (n > cd_size / 46)
        return evk_fail(EVK_ERROR_FORMAT, "%s: %llu entries cannot fit a %llu-byte central directory", z->path, (unsigned long long)n,
                        (unsigned long long)cd_size);
    /* a first pass over the record headers sizes the allocations by what the directory holds,
     * not by what the end record claims */
    uint64_t name_bytes = 0;
    for (uint64_t i = 0, q = cd_off; i < n; i++) {
        if (cd_off + cd_size - q < 46 || evk__rd32(m + q) != EVK__ZIP_CDIR_SIG)
            return evk_fail(EVK_ERROR_FORMAT, "%s: central directory entry %llu at offset %llu is damaged (the end record counts %llu)",
                            z->path, (unsigned long long)i, (unsigned long long)q, (unsigned long long)n);
        uint64_t len = 46 + (uint64_t)evk__rd16(m + q + 28) + evk__rd16(m + q + 30) + evk__rd16(m + q + 32);
        if (len > cd_off + cd_size - q)
            return evk_fail(EVK_ERROR_FORMAT, "%s: central directory entry %llu runs past the directory", z->path, (unsigned long long)i);
        name_bytes += evk__rd16(m + q + 28) + 1u;
        q += len;
    }
    z->entries = calloc(n ? n : 1, sizeof *z->entries);
    z->names = malloc(name_bytes + 1);
    z->by_name = calloc(n ? n : 1, sizeof *z->by_name);
    evk__zip_span *spans = calloc(n ? n : 1, sizeof *spans);
    const evk_zip_entry **sorted = calloc(n ? n : 1, sizeof *sorted);
    evk_status s = EVK_OK;
    if (!z->entries || !z->names || !z->by_name || !spans || !sorted)
        s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for %llu zip entries", z->path, (unsigned long long)n);
    uint64_t p = cd_off, cd_end = cd_off + cd_size, used = 0;
    for (uint64_t i = 0; !s && i < n; i++) {
        if (cd_end - p < 46 || evk__rd32(m + p) != EVK__ZIP_CDIR_SIG) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: central directory entry %llu at offset %llu is damaged", z->path, (unsigned long long)i,
                         (unsigned long long)p);
            break;
        }
        const uint8_t *c = m + p;
        uint16_t flags = evk__rd16(c + 8), method = evk__rd16(c + 10);
        uint64_t crc = evk__rd32(c + 16), csize = evk__rd32(c + 20), usize = evk__rd32(c + 24);
        uint64_t nlen = evk__rd16(c + 28), xlen = evk__rd16(c + 30), klen = evk__rd16(c + 32);
        uint64_t disk = evk__rd16(c + 34), off = evk__rd32(c + 42);
        if (46 + nlen + xlen + klen > cd_end - p) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: central directory entry %llu runs past the directory", z->path, (unsigned long long)i);
            break;
        }
        char *name = z->names + used;
        memcpy(name, c + 46, nlen);
        name[nlen] = 0;
        used += nlen + 1;
        if (!nlen || memchr(c + 46, 0, nlen)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: central directory entry %llu has an empty name or a NUL in its name", z->path,
                         (unsigned long long)i);
            break;
        }
        s = evk__zip_extra64(z, name, c + 46 + nlen, xlen, &usize, &csize, &off);
        if (s) break;
        if (disk != 0 && disk != 0xffff) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s' is on disk %llu (multi-disk archives are not supported)", z->path, name,
                         (unsigned long long)disk);
            break;
        }
        if (flags & 0x41) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s' is encrypted", z->path, name);
            break;
        }
        if (method != 0) {
            s = method == 8 ? evk_fail(EVK_ERROR_FORMAT,
                                       "%s: entry '%s' is deflated; evoke reads only uncompressed entries, as torch.save writes them "
                                       "(load and re-save the checkpoint with torch.save)", z->path, name)
                            : evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s' uses compression method %u; only stored entries are read",
                                       z->path, name, (unsigned)method);
            break;
        }
        if (csize != usize) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s' is stored but its sizes differ (%llu compressed, %llu uncompressed)", z->path,
                         name, (unsigned long long)csize, (unsigned long long)usize);
            break;
        }
        /* local header: before the central directory, naming the same entry */
        if (!evk__zip_inside(off, 30, cd_off) || evk__rd32(m + off) != EVK__ZIP_LOCAL_SIG) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s': no local header at offset %llu", z->path, name, (unsigned long long)off);
            break;
        }
        const uint8_t *l = m + off;
        uint64_t lnlen = evk__rd16(l + 26), lxlen = evk__rd16(l + 28);
        uint64_t data = off + 30 + lnlen + lxlen;
        if (data > cd_off || lnlen != nlen || memcmp(l + 30, name, nlen) || evk__rd16(l + 8) != method) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s': local header at offset %llu does not match the central directory", z->path,
                         name, (unsigned long long)off);
            break;
        }
        uint64_t lcrc = evk__rd32(l + 14), lcsize = evk__rd32(l + 18), lusize = evk__rd32(l + 22);
        if (!(evk__rd16(l + 6) & 8) && lcsize != 0xffffffffu && (lcsize != csize || lusize != usize || lcrc != crc)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s': local header sizes (%llu) differ from the central directory's (%llu)", z->path,
                         name, (unsigned long long)lcsize, (unsigned long long)csize);
            break;
        }
        if (!evk__zip_inside(data, csize, cd_off)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s': %llu bytes at offset %llu run past the data region (%llu bytes; truncated?)",
                         z->path, name, (unsigned long long)csize, (unsigned long long)data, (unsigned long long)cd_off);
            break;
        }
        z->entries[i] = (evk_zip_entry){.name = name, .data = m + data, .size = usize, .offset = data, .crc32 = (uint32_t)crc};
        spans[i] = (evk__zip_span){.begin = off, .end = data + csize, .index = (size_t)i};
        p += 46 + nlen + xlen + klen;
        z->count = (size_t)i + 1;
    }
    if (!s) {
        qsort(spans, n, sizeof *spans, evk__zip_span_cmp);
        for (uint64_t i = 1; i < n && !s; i++)
            if (spans[i].begin < spans[i - 1].end)
                s = evk_fail(EVK_ERROR_FORMAT, "%s: entries '%s' and '%s' overlap (bytes %llu..%llu and %llu..%llu)", z->path,
                             z->entries[spans[i - 1].index].name, z->entries[spans[i].index].name,
                             (unsigned long long)spans[i - 1].begin, (unsigned long long)spans[i - 1].end,
                             (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end);
    }
    if (!s) {
        for (uint64_t i = 0; i < n; i++) sorted[i] = &z->entries[i];
        qsort(sorted, n, sizeof *sorted, evk__zip_name_cmp);
        for (uint64_t i = 0; i < n; i++) z->by_name[i] = (size_t)(sorted[i] - z->entries);
        for (uint64_t i = 1; i < n && !s; i++)
            if (!strcmp(sorted[i]->name, sorted[i - 1]->name))
                s = evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s' appears twice", z->path, sorted[i]->name);
    }
    free(spans);
    free(sorted);
    return s;
}

evk_status evk_zip_parse(const void *bytes, size_t size, const char *label, evk_zip **out) {
    *out = NULL;
    evk_zip *z = calloc(1, sizeof *z);
    if (!z) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    static const uint8_t empty[1];
    z->path = strdup(label ? label : "<memory>");
    z->map = bytes ? bytes : empty;
    z->map_size = bytes ? size : 0;
    evk_status s = z->path ? evk__zip_build(z) : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (s) {
        evk_zip_close(z);
        return s;
    }
    *out = z;
    return EVK_OK;
}

evk_status evk_zip_open(const char *path, evk_zip **out) {
    *out = NULL;
    void *map = NULL;
    size_t size = 0;
    EVK_TRY(evk_file_map(path, &map, &size));
    evk_status s = evk_zip_parse(map, size, path, out);
    if (s) {
        evk_file_unmap(map, size);
        return s;
    }
    (*out)->mapped = map != NULL;
    return EVK_OK;
}

const char *evk_zip_path(const evk_zip *z) { return z->path; }
size_t evk_zip_count(const evk_zip *z) { return z->count; }
const evk_zip_entry *evk_zip_at(const evk_zip *z, size_t i) { return i < z->count ? &z->entries[i] : NULL; }

const evk_zip_entry *evk_zip_find(const evk_zip *z, const char *name) {
    size_t lo = 0, hi = z->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const evk_zip_entry *e = &z->entries[z->by_name[mid]];
        int c = strcmp(e->name, name);
        if (!c) return e;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

evk_status evk_zip_check_crc(const evk_zip *z, const evk_zip_entry *e) {
    /* bit by bit: only small entries (the pickle) are checked, and no table means no shared state */
    uint32_t c = 0xffffffffu;
    for (uint64_t i = 0; i < e->size; i++) {
        c ^= e->data[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    c ^= 0xffffffffu;
    if (c != e->crc32)
        return evk_fail(EVK_ERROR_FORMAT, "%s: entry '%s' is damaged (CRC-32 %08x, recorded %08x)", z->path, e->name, c, e->crc32);
    return EVK_OK;
}
