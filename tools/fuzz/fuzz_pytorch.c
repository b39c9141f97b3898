/* fuzz_pytorch.c — libFuzzer harness for the PyTorch checkpoint reader (zip container, restricted
 * unpickler, state-dict walk). An input starting with "PK" is a whole checkpoint; any other input
 * is taken as the pickle alone and wrapped here in a torch-style zip beside four small storages
 * (keys "0" to "3", 64 bytes each), because the CRC-32 check on data.pkl would otherwise stop
 * nearly every mutated pickle before the unpickler saw it. When a checkpoint is accepted, every
 * tensor is looked up by name and every element read (float ones converted to f32 and f16), so
 * a view that escapes its storage shows up as an out-of-bounds read under AddressSanitizer.
 * Seeds (tools/fuzz/corpus/pytorch/): the fixtures' checkpoints, their data.pkl alone, and
 * storages64.pkl, views of every dtype over the four wrapped storages (written with the
 * Storage/Tensor pickling classes of tools/ref/fixtures_pytorch.py) so that wrapped pickles
 * start out accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pytorch.h"

static void put16(uint8_t **p, unsigned v) { (*p)[0] = (uint8_t)v, (*p)[1] = (uint8_t)(v >> 8), *p += 2; }
static void put32(uint8_t **p, uint32_t v) { put16(p, v & 0xffff), put16(p, v >> 16); }

static uint32_t crc32(const uint8_t *d, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= d[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* A stored zip of `n` entries, laid out as torch writes it (no data descriptors, no padding). */
static uint8_t *wrap(const char *const *names, const uint8_t *const *datas, const size_t *sizes, int n, size_t *out_size) {
    size_t total = 22;
    for (int i = 0; i < n; i++) total += 30 + 46 + 2 * strlen(names[i]) + sizes[i];
    uint8_t *buf = malloc(total), *p = buf;
    if (!buf) return NULL;
    uint32_t offs[8], crcs[8];
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        offs[i] = (uint32_t)(p - buf);
        crcs[i] = crc32(datas[i], sizes[i]);
        put32(&p, 0x04034b50), put16(&p, 20), put16(&p, 0), put16(&p, 0), put16(&p, 0), put16(&p, 0);
        put32(&p, crcs[i]), put32(&p, (uint32_t)sizes[i]), put32(&p, (uint32_t)sizes[i]), put16(&p, (unsigned)nl), put16(&p, 0);
        memcpy(p, names[i], nl), p += nl;
        if (sizes[i]) memcpy(p, datas[i], sizes[i]);
        p += sizes[i];
    }
    uint8_t *cd = p;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        put32(&p, 0x02014b50), put16(&p, 20), put16(&p, 20), put16(&p, 0), put16(&p, 0), put16(&p, 0), put16(&p, 0);
        put32(&p, crcs[i]), put32(&p, (uint32_t)sizes[i]), put32(&p, (uint32_t)sizes[i]), put16(&p, (unsigned)nl);
        put16(&p, 0), put16(&p, 0), put16(&p, 0), put16(&p, 0), put32(&p, 0), put32(&p, offs[i]);
        memcpy(p, names[i], nl), p += nl;
    }
    uint32_t cd_size = (uint32_t)(p - cd), cd_off = (uint32_t)(cd - buf);
    put32(&p, 0x06054b50), put16(&p, 0), put16(&p, 0), put16(&p, (unsigned)n), put16(&p, (unsigned)n);
    put32(&p, cd_size), put32(&p, cd_off), put16(&p, 0);
    *out_size = (size_t)(p - buf);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *own = NULL;
    const uint8_t *file = data;
    size_t file_size = size;
    if (!(size >= 2 && data[0] == 'P' && data[1] == 'K')) {
        static uint8_t storage[64];
        for (int i = 0; i < 64; i++) storage[i] = (uint8_t)(i * 37 + 11);
        const char *names[] = {"archive/data.pkl", "archive/data/0", "archive/data/1", "archive/data/2", "archive/data/3"};
        const uint8_t *datas[] = {data, storage, storage, storage, storage};
        size_t sizes[] = {size, 64, 64, 64, 64};
        own = wrap(names, datas, sizes, 5, &file_size);
        if (!own) return 0;
        file = own;
    }
    evk_pytorch *pt;
    if (evk_pytorch_parse(file, file_size, "fuzz.pt", &pt) == EVK_OK) {
        for (size_t i = 0; i < evk_pytorch_count(pt); i++) {
            const evk_st_tensor *t = evk_pytorch_at(pt, i);
            if (evk_pytorch_find(pt, t->name) != t) abort(); /* every name finds itself */
            if (t->end < t->begin || t->end > file_size) abort();
            volatile uint8_t sink = 0;
            if (!t->strides)
                for (uint64_t k = 0; k < t->numel * evk_st_dtype_size(t->dtype); k++) sink ^= t->data[k];
            (void)sink;
            if (evk_st_dtype_is_float(t->dtype) && t->numel && t->numel <= 4096) {
                float *f = malloc(t->numel * 4);
                uint16_t *h = malloc(t->numel * 2);
                if (f && h && (evk_st_convert(t, 0, t->numel, EVK_DTYPE_F32, f) || evk_st_convert(t, 0, t->numel, EVK_DTYPE_F16, h)))
                    abort(); /* an accepted tensor always converts */
                free(f);
                free(h);
            }
        }
        evk_pytorch_close(pt);
    }
    free(own);
    return 0;
}
