/* op_layout.h — kernels that move data without arithmetic: batched transpose, row gather and the
 * unpatchify of patch-token transformers. */
#ifndef EVK_OP_LAYOUT_H
#define EVK_OP_LAYOUT_H

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[b, c, r] = x[b, r, c] for x viewed as [batch, rows, cols] (f32). y must hold as many
 * elements as x; its shape is the caller's (e.g. NCHW -> N(HW)C: rows = C, cols = H*W). */
evk_status evk_op_transpose(evk_stream *s, const evk_tensor *x, int64_t batch, int64_t rows, int64_t cols,
                            evk_tensor *y);

/* y[i, :] = table[index[i], :] for table [R, W] f32, index [N] i32, y [N, W] f32.
 * Indices are not read back: callers that take indices from input check them on the host. */
evk_status evk_op_gather_rows(evk_stream *s, const evk_tensor *table, const evk_tensor *index, evk_tensor *y);

/* Patch tokens back to images: x [B, h·w, p·p·C] (token (i, j) holds its p×p×C patch, channels
 * fastest) -> y [B, C, h·p, w·p], as diffusers' SD3 transformer ("nhwpqc->nchpwq"). */
evk_status evk_op_unpatchify(evk_stream *s, const evk_tensor *x, int64_t h, int64_t w, int64_t patch, evk_tensor *y);

#ifdef __cplusplus
}
#endif
#endif
