/* fuzz_safetensors.c — libFuzzer harness for the safetensors validator: any byte string is
 * parsed; when it is accepted, every tensor is looked up by name and its data (float ones
 * converted to f32 and f16) is read, so a validator that lets a bad range through shows up as
 * an out-of-bounds read under AddressSanitizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    evk_safetensors *st;
    if (evk_safetensors_parse(data, size, "fuzz.safetensors", &st) != EVK_OK) return 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < evk_safetensors_count(st); i++) {
        const evk_st_tensor *t = evk_safetensors_at(st, i);
        if (evk_safetensors_find(st, t->name) != t) abort(); /* every name finds itself */
        uint64_t bytes = t->end - t->begin;
        if (t->numel * evk_st_dtype_size(t->dtype) != bytes) abort();
        for (uint64_t k = 0; k < bytes; k++) sink ^= t->data[k];
        if (evk_st_dtype_is_float(t->dtype) && t->numel && t->numel <= 4096) {
            float *f = malloc(t->numel * 4);
            uint16_t *h = malloc(t->numel * 2);
            if (f && h) {
                evk_st_convert(t, 0, t->numel, EVK_DTYPE_F32, f);
                evk_st_convert(t, 0, t->numel, EVK_DTYPE_F16, h);
            }
            free(f);
            free(h);
        }
    }
    (void)evk_safetensors_metadata(st, "format");
    (void)sink;
    evk_safetensors_close(st);
    return 0;
}
