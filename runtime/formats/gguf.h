/* gguf.h — reading GGUF files (the format of llama.cpp, stable-diffusion.cpp and ComfyUI-GGUF),
 * validated and memory-mapped, with tensors described like safetensors ones so weight sets read
 * both.
 *
 * A GGUF file is: "GGUF", a version (2 or 3; little-endian only), the tensor count and the
 * key/value count (u64), the key/value pairs (a string key, a value type, the value: integers,
 * floats, bools, strings, or arrays of any of them), the tensor infos (name, rank ≤ 4, dimensions
 * innermost first, ggml type, offset), padding to `general.alignment` (default 32), then the data.
 * Everything is checked before any byte of data is trusted: the magic and version, every length
 * and count against the bytes that remain (so a hostile header cannot make the reader allocate
 * more than the file holds, and counts are capped besides), value types, bools, duplicate keys and
 * names, the alignment (a u32 power of two), each tensor's type, rank, dimensions, row length a
 * multiple of its block, byte size, offset aligned and inside the file, no two tensors
 * overlapping and no unexplained bytes between or after them (only padding shorter than the
 * alignment). Any failure is EVK_ERROR_FORMAT with a message naming the file, the key or tensor,
 * and what is wrong.
 *
 * Tensors come out as evk_st_tensor with the shape in row-major order (GGUF's ne[] reversed, so a
 * Linear weight is [out, in] as in PyTorch and safetensors); F32/F16/BF16/F64/I8-I64 tensors carry
 * the matching safetensors dtype, block-quantised ones EVK_ST_QUANT with their ggml type in
 * `quant` and their raw blocks at `data`. A tensor with a ComfyUI-GGUF `comfy.gguf.orig_shape.<name>`
 * key (an array of integers, outermost first: how that converter stores tensors of more than four
 * dimensions, and kernels it reshaped to rows of 256 for K-quants) takes that shape, checked
 * against its element count (rank up to EVK_ST_MAX_DIMS). Metadata values are kept by reference
 * into the mapping. */
#ifndef EVK_GGUF_H
#define EVK_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "formats/gguf_quant.h"
#include "formats/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on counts and lengths, far above any real file, so a header cannot ask for absurd work. */
#define EVK_GGUF_MAX_TENSORS (1u << 20)
#define EVK_GGUF_MAX_KV (1u << 20)
#define EVK_GGUF_MAX_KEY 65535u
#define EVK_GGUF_MAX_NAME 255u
#define EVK_GGUF_MAX_DIMS 4

/* Metadata value types (GGUF's numbering). */
typedef enum evk_gguf_value_type {
    EVK_GGUF_UINT8 = 0,
    EVK_GGUF_INT8 = 1,
    EVK_GGUF_UINT16 = 2,
    EVK_GGUF_INT16 = 3,
    EVK_GGUF_UINT32 = 4,
    EVK_GGUF_INT32 = 5,
    EVK_GGUF_FLOAT32 = 6,
    EVK_GGUF_BOOL = 7,
    EVK_GGUF_STRING = 8,
    EVK_GGUF_ARRAY = 9,
    EVK_GGUF_UINT64 = 10,
    EVK_GGUF_INT64 = 11,
    EVK_GGUF_FLOAT64 = 12,
    EVK_GGUF_VALUE_COUNT
} evk_gguf_value_type;

typedef struct evk_gguf_kv {
    const char *key;
    evk_gguf_value_type type;
    evk_gguf_value_type elem;  /* arrays: the element type; otherwise equal to type */
    uint64_t count;            /* arrays: the element count; otherwise 1 */
    const uint8_t *value;      /* the value's bytes in the file (for arrays: the first element) */
    uint64_t size;             /* bytes of value */
} evk_gguf_kv;

typedef struct evk_gguf evk_gguf;

/* Map and validate a file. */
evk_status evk_gguf_open(const char *path, evk_gguf **out);
/* Validate a file image already in memory (kept by reference: `bytes` must outlive the result).
 * `label` names it in messages. */
evk_status evk_gguf_parse(const void *bytes, size_t size, const char *label, evk_gguf **out);
void evk_gguf_close(evk_gguf *g);

const char *evk_gguf_path(const evk_gguf *g);
uint32_t evk_gguf_version(const evk_gguf *g);
uint32_t evk_gguf_alignment(const evk_gguf *g);

size_t evk_gguf_count(const evk_gguf *g);
/* Tensors in the order of the file's tensor infos. */
const evk_st_tensor *evk_gguf_at(const evk_gguf *g, size_t i);
/* NULL when absent. */
const evk_st_tensor *evk_gguf_find(const evk_gguf *g, const char *name);

size_t evk_gguf_kv_count(const evk_gguf *g);
const evk_gguf_kv *evk_gguf_kv_at(const evk_gguf *g, size_t i);
/* NULL when absent. */
const evk_gguf_kv *evk_gguf_kv_find(const evk_gguf *g, const char *key);

/* Element i of a value or array (i = 0 for a scalar) as an integer (integer and bool types; a
 * UINT64 above INT64_MAX fails) or as a double (any number or bool). False when the element is
 * absent or of another type. */
bool evk_gguf_kv_int(const evk_gguf_kv *kv, uint64_t i, int64_t *out);
bool evk_gguf_kv_float(const evk_gguf_kv *kv, uint64_t i, double *out);
/* Strings of a string value or array, in order: start with *pos = 0; each call returns the next
 * string (not NUL-terminated) and its length, or NULL after the last one or for a value that
 * holds no strings. */
const char *evk_gguf_kv_next_string(const evk_gguf_kv *kv, uint64_t *pos, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
