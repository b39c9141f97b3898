/* gguf_quant.h — the tensor types a GGUF file can hold (ggml's numbering, block sizes and byte
 * sizes of every type ggml defines), and host dequantisation of the ones evoke reads: F32, F16,
 * BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants Q4_K, Q5_K, Q6_K.
 *
 * A quantised tensor is a sequence of blocks, each covering `block` consecutive elements of a
 * row in `bytes` bytes (scales first, then packed integers; the layouts are ggml's
 * block_q4_0 ... block_q6_K). The reader needs the sizes of every type, supported or not, to
 * validate a file; only the supported ones can be turned into floats. Dequantisation here is the
 * host reference (and the path weight sets take when a network asks for f32/f16 storage); the
 * arithmetic follows ggml's dequantize_row_* in float32, operation for operation, so the values
 * are those gguf-py and ggml produce. */
#ifndef EVK_GGUF_QUANT_H
#define EVK_GGUF_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ggml_type values as stored in GGUF tensor infos (gaps are types ggml removed). */
typedef enum evk_gguf_type {
    EVK_GGUF_F32 = 0,
    EVK_GGUF_F16 = 1,
    EVK_GGUF_Q4_0 = 2,
    EVK_GGUF_Q4_1 = 3,
    EVK_GGUF_Q5_0 = 6,
    EVK_GGUF_Q5_1 = 7,
    EVK_GGUF_Q8_0 = 8,
    EVK_GGUF_Q8_1 = 9,
    EVK_GGUF_Q2_K = 10,
    EVK_GGUF_Q3_K = 11,
    EVK_GGUF_Q4_K = 12,
    EVK_GGUF_Q5_K = 13,
    EVK_GGUF_Q6_K = 14,
    EVK_GGUF_Q8_K = 15,
    EVK_GGUF_IQ2_XXS = 16,
    EVK_GGUF_IQ2_XS = 17,
    EVK_GGUF_IQ3_XXS = 18,
    EVK_GGUF_IQ1_S = 19,
    EVK_GGUF_IQ4_NL = 20,
    EVK_GGUF_IQ3_S = 21,
    EVK_GGUF_IQ2_S = 22,
    EVK_GGUF_IQ4_XS = 23,
    EVK_GGUF_I8 = 24,
    EVK_GGUF_I16 = 25,
    EVK_GGUF_I32 = 26,
    EVK_GGUF_I64 = 27,
    EVK_GGUF_F64 = 28,
    EVK_GGUF_IQ1_M = 29,
    EVK_GGUF_BF16 = 30,
    EVK_GGUF_TQ1_0 = 34,
    EVK_GGUF_TQ2_0 = 35,
    EVK_GGUF_MXFP4 = 39,
    EVK_GGUF_TYPE_END = 40
} evk_gguf_type;

/* "Q4_K", ...; NULL for a value that is not a ggml type. */
const char *evk_gguf_type_name(uint32_t type);
/* Elements per block and bytes per block; false for a value that is not a ggml type. */
bool evk_gguf_type_block(uint32_t type, uint32_t *elems, uint32_t *bytes);
/* Whether evk_gguf_dequant handles the type. */
bool evk_gguf_type_can_dequant(uint32_t type);

/* Elements [first, first+count) of a tensor of `type` whose data (whole blocks from element 0)
 * starts at `data`, as `to` (F32 or F16) into dst. The range need not fall on block boundaries.
 * The caller guarantees the data holds the blocks the range touches. */
evk_status evk_gguf_dequant(uint32_t type, const uint8_t *data, uint64_t first, uint64_t count, evk_dtype to, void *dst);

#ifdef __cplusplus
}
#endif
#endif
