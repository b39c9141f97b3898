/* op_fill.h — fill a buffer range with a 32-bit pattern or a float ramp (first kernel). */
#ifndef EVK_OP_FILL_H
#define EVK_OP_FILL_H

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Record: words [offset_words, offset_words + count) of buf = bits. */
evk_status evk_op_fill_bits(evk_stream *s, const evk_buffer *buf, uint64_t offset_words, uint64_t count, uint32_t bits);
/* Record: word i of the range = start + i * step (as floats). */
evk_status evk_op_fill_ramp(evk_stream *s, const evk_buffer *buf, uint64_t offset_words, uint64_t count, float start, float step);

#ifdef __cplusplus
}
#endif
#endif
