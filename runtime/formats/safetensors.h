/* safetensors.h — reading .safetensors files, validated, memory-mapped, and uploaded with dtype
 * conversion.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of JSON naming every
 * tensor (dtype, shape, byte range relative to the end of the header) plus an optional
 * "__metadata__" object of strings, then the packed data. Files come from anywhere, so opening one
 * checks everything before any byte of data is trusted: the header bounds (inside the file and
 * below 100 MB), the JSON, the dtype whitelist, shape × element size == range length, every range
 * inside the data region, no two ranges overlapping, no gaps, the data ending exactly at the end of
 * the file, no duplicate names. Any failure is EVK_ERROR_FORMAT with a message naming the file, the
 * tensor and what is wrong. The file is mapped read-only, so opening a multi-gigabyte checkpoint
 * costs only its header; tensors are converted (F32/F16/BF16/F64 -> f32 or f16) while they are
 * streamed to the device in bounded chunks, so host memory never holds a whole model. */
#ifndef EVK_SAFETENSORS_H
#define EVK_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/memory.h"
#include "core/status.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest header accepted (the reference implementation's limit). */
#define EVK_ST_MAX_HEADER (100u * 1000u * 1000u)
/* Largest tensor rank accepted in a file. */
#define EVK_ST_MAX_DIMS 8

/* Every dtype the format defines; anything else in a header is rejected. */
typedef enum evk_st_dtype {
    EVK_ST_BOOL = 0,
    EVK_ST_U8,
    EVK_ST_I8,
    EVK_ST_F8_E4M3,
    EVK_ST_F8_E5M2,
    EVK_ST_I16,
    EVK_ST_U16,
    EVK_ST_F16,
    EVK_ST_BF16,
    EVK_ST_I32,
    EVK_ST_U32,
    EVK_ST_F32,
    EVK_ST_I64,
    EVK_ST_U64,
    EVK_ST_F64,
    EVK_ST_DTYPE_COUNT,
    /* Not a safetensors dtype: block-quantised data from a GGUF file, whose layout is the
     * tensor's `quant` (an evk_gguf_type, formats/gguf_quant.h). */
    EVK_ST_QUANT = 64
} evk_st_dtype;

typedef struct evk_st_tensor {
    const char *name;
    evk_st_dtype dtype;
    int ndim;                        /* 0 for a scalar */
    int64_t shape[EVK_ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;             /* byte range relative to the data region */
    const uint8_t *data;             /* begin of the bytes inside the mapping */
    uint32_t quant;                  /* EVK_ST_QUANT: the GGUF block type; else 0 */
    /* NULL: the elements are packed row-major from `data` (always so in safetensors and GGUF
     * files). Otherwise the element strides of a view saved in a PyTorch checkpoint (a transposed
     * tensor, an expanded one): read such a tensor through evk_st_convert, never `data` alone. */
    const int64_t *strides;
} evk_st_tensor;

typedef struct evk_safetensors evk_safetensors;

/* Map and validate a file. */
evk_status evk_safetensors_open(const char *path, evk_safetensors **out);
/* Validate a file image already in memory (kept by reference: `bytes` must outlive the result).
 * `label` names it in messages. Used by the fuzzer and for embedded data. */
evk_status evk_safetensors_parse(const void *bytes, size_t size, const char *label, evk_safetensors **out);
void evk_safetensors_close(evk_safetensors *st);

const char *evk_safetensors_path(const evk_safetensors *st);
size_t evk_safetensors_count(const evk_safetensors *st);
/* Tensors in file order of their data (ascending offsets). */
const evk_st_tensor *evk_safetensors_at(const evk_safetensors *st, size_t i);
/* NULL when absent. */
const evk_st_tensor *evk_safetensors_find(const evk_safetensors *st, const char *name);
/* "__metadata__" value for key, or NULL. */
const char *evk_safetensors_metadata(const evk_safetensors *st, const char *key);
/* Bytes of data (file size minus the header). */
uint64_t evk_safetensors_data_size(const evk_safetensors *st);

const char *evk_st_dtype_name(evk_st_dtype d);   /* "F32", ... */
size_t evk_st_dtype_size(evk_st_dtype d);
/* Whether the dtype converts to float storage (F16, BF16, F32, F64; EVK_ST_QUANT tensors convert
 * when their block type can be dequantised, see evk_st_convert). */
int evk_st_dtype_is_float(evk_st_dtype d);

/* Convert elements [first, first+count) (row-major order of the shape, whatever the strides) of a
 * float tensor to `to` (F32 or F16) into dst; an EVK_ST_QUANT tensor is dequantised (any element
 * range, not only whole blocks). */
evk_status evk_st_convert(const evk_st_tensor *t, uint64_t first, uint64_t count, evk_dtype to, void *dst);

/* Copy elements [first, first+count) of a float tensor, converted to `to`, into `buf` at byte
 * `offset`, through host chunks of at most `chunk_bytes` (0: 4 MiB). `row_stride`-free: the
 * elements are contiguous in the file. */
evk_status evk_st_upload(evk_context *ctx, const evk_st_tensor *t, uint64_t first, uint64_t count, evk_dtype to,
                         const evk_buffer *buf, uint64_t offset, uint64_t chunk_bytes);

/* Largest host chunk evk_st_upload used since start (bytes): how much host memory streaming took. */
uint64_t evk_st_upload_peak_chunk(void);

#ifdef __cplusplus
}
#endif
#endif
