/* fuzz_gguf.c — libFuzzer harness for the GGUF validator: any byte string is parsed; when it is
 * accepted, every tensor is looked up by name and every byte of its data read, tensors of a
 * type evoke dequantises (and not too large) are converted to f32 and f16 whole and from a range
 * that starts inside a block, and every metadata value is read element by element, so a validator
 * that lets a bad length, count or range through shows up as an out-of-bounds read under
 * AddressSanitizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    evk_gguf *g;
    if (evk_gguf_parse(data, size, "fuzz.gguf", &g) != EVK_OK) return 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < evk_gguf_count(g); i++) {
        const evk_st_tensor *t = evk_gguf_at(g, i);
        if (evk_gguf_find(g, t->name) != t) abort(); /* every name finds itself */
        for (uint64_t k = 0; k < t->end - t->begin; k++) sink ^= t->data[k];
        bool floats = t->dtype == EVK_ST_QUANT ? evk_gguf_type_can_dequant(t->quant) : evk_st_dtype_is_float(t->dtype);
        if (floats && t->numel && t->numel <= 65536) {
            float *f = malloc(t->numel * 4);
            uint16_t *h = malloc(t->numel * 2);
            if (f && h) {
                if (evk_st_convert(t, 0, t->numel, EVK_DTYPE_F32, f) != EVK_OK) abort();
                if (evk_st_convert(t, 0, t->numel, EVK_DTYPE_F16, h) != EVK_OK) abort();
                if (t->numel > 40 && evk_st_convert(t, 3, t->numel - 40, EVK_DTYPE_F32, f) != EVK_OK) abort();
            }
            free(f);
            free(h);
        }
    }
    for (size_t i = 0; i < evk_gguf_kv_count(g); i++) {
        const evk_gguf_kv *kv = evk_gguf_kv_at(g, i);
        if (evk_gguf_kv_find(g, kv->key) != kv) abort();
        int64_t v;
        double d;
        for (uint64_t k = 0; k < kv->count && k < 4096; k++) {
            if (evk_gguf_kv_int(kv, k, &v)) sink ^= (uint8_t)v;
            if (evk_gguf_kv_float(kv, k, &d)) sink ^= (uint8_t)(d != d);
        }
        uint64_t pos = 0;
        size_t len;
        for (const char *s; (s = evk_gguf_kv_next_string(kv, &pos, &len));)
            for (size_t k = 0; k < len; k++) sink ^= (uint8_t)s[k];
    }
    (void)sink;
    evk_gguf_close(g);
    return 0;
}
