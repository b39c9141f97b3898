/* op_dequant.h — expanding GGUF block-quantised weights to f32 on the device (shaders/linear/
 * dequant.comp), from the blocks exactly as the file stores them (evk_weights_raw hands them
 * over). The values equal the host dequantisation (formats/gguf_quant.h) bit for bit; the
 * dequantising matmul reads the same layouts. */
#ifndef EVK_OP_DEQUANT_H
#define EVK_OP_DEQUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether evk_op_dequant has a kernel for a ggml type id (GGUF's numbering, evk_gguf_type in
 * formats/gguf_quant.h): Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q4_K = 12, Q5_K = 13,
 * Q6_K = 14. */
bool evk_op_dequant_supports(uint32_t type);

/* out (f32, any shape; its element count a multiple of the type's block) = the dequantised
 * blocks that start at byte 0 of `blocks` (numel/block · block bytes, the buffer at least that
 * size rounded up to 4). Large tensors are split into dispatches within the device's binding
 * limits. */
evk_status evk_op_dequant(evk_stream *s, uint32_t type, const evk_buffer *blocks, const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
