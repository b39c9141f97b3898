/* tensor.h — typed, shaped views of device buffers, and host transfers with conversion.
 *
 * An evk_tensor is a dense row-major array (dtype + up to 6 dims) living in an evk_buffer.
 * Kernels take tensors; images are NCHW, videos (B·F)CHW with frames innermost of the batch,
 * attention operands [B, L, H, D]. Host transfers go through f32 so callers never handle f16
 * or bf16 bits themselves.
 *
 * One storage kind is not an array of scalars: EVK_DTYPE_QUANT holds GGUF block-quantised
 * weights exactly as the file stores them (ggml's block layouts; `quant` names the block type).
 * Its shape is the logical element shape, rows of shape[ndim-1] elements (a multiple of the
 * block), and its bytes are numel/block · block bytes. Only the dequantising matmul reads it
 * (ops/op_matmul.h); every other kernel rejects it by dtype, and host transfers refuse it. */
#ifndef EVK_TENSOR_H
#define EVK_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/memory.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVK_MAX_DIMS 6

typedef enum evk_dtype {
    EVK_DTYPE_F32 = 0,
    EVK_DTYPE_F16,
    EVK_DTYPE_BF16,
    EVK_DTYPE_I32,
    EVK_DTYPE_U32,
    EVK_DTYPE_QUANT, /* GGUF blocks of type `quant` (see above) */
    EVK_DTYPE_COUNT
} evk_dtype;

typedef struct evk_tensor {
    evk_buffer buf;
    evk_dtype dtype;
    int ndim;
    int64_t shape[EVK_MAX_DIMS];
    uint32_t quant; /* EVK_DTYPE_QUANT: the ggml block type (Q8_0 = 8, Q4_K = 12, ...); else 0 */
} evk_tensor;

/* Bytes per element; 0 for EVK_DTYPE_QUANT (use evk_tensor_bytes). */
size_t evk_dtype_size(evk_dtype dtype);
const char *evk_dtype_name(evk_dtype dtype);
int64_t evk_tensor_numel(const evk_tensor *t);
uint64_t evk_tensor_bytes(const evk_tensor *t);
/* "2x4x64x64" into buf; returns buf. */
const char *evk_tensor_shape_str(const evk_tensor *t, char *buf, size_t n);

evk_status evk_tensor_alloc(evk_context *ctx, evk_dtype dtype, int ndim, const int64_t *shape, evk_tensor *out);
/* A tensor of GGUF blocks of ggml type `quant` (one evk_quant_block knows), the last dimension a
 * multiple of its block; contents undefined (fill with evk_buffer_upload). */
evk_status evk_tensor_alloc_quant(evk_context *ctx, uint32_t quant, int ndim, const int64_t *shape, evk_tensor *out);
/* Elements and bytes per block of the block-quantised ggml types the kernels read (Q4_0 = 2,
 * Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14); false for others. */
bool evk_quant_block(uint32_t quant, uint32_t *elems, uint32_t *bytes);
/* "Q4_K", ...; "?" for a type evk_quant_block does not know. */
const char *evk_quant_name(uint32_t quant);
void evk_tensor_free(evk_context *ctx, evk_tensor *t);
/* Same storage, new shape with the same element count. */
evk_status evk_tensor_reshape(const evk_tensor *t, int ndim, const int64_t *shape, evk_tensor *out);

/* numel(t) floats from/to the host, converted to/from t's float dtype. */
evk_status evk_tensor_upload_f32(evk_context *ctx, const evk_tensor *t, const float *src);
evk_status evk_tensor_download_f32(evk_context *ctx, const evk_tensor *t, float *dst);

/* Scalar conversions (round to nearest even). */
uint16_t evk_f32_to_f16(float x);
float evk_f16_to_f32(uint16_t h);
uint16_t evk_f32_to_bf16(float x);
float evk_bf16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
