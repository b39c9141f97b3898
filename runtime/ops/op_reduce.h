/* op_reduce.h — row views, reductions and selection over f32 tensors on the GPU.
 *
 * A search keeps its population as one [N, ...] tensor and works on row ranges of it (chunks),
 * so this module first offers row views whose byte offset may be anything: the kernels here and
 * in op_random / sampler / model_gmm / reward bind the aligned range around a view and take the
 * remaining element offset as a push constant. Then the reductions a search needs without
 * reading populations back: per-row sum / mean / L2 norm, cosine similarity of rows, argmax,
 * and top-k (exact, ties to the lower index, NaN ranked last); gathering rows is op_layout's.
 * Every op RECORDS into a stream; nothing here waits on the host. */
#ifndef EVK_OP_REDUCE_H
#define EVK_OP_REDUCE_H

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Elements per row (numel / shape[0]). */
int64_t evk_tensor_row_numel(const evk_tensor *t);
/* View of rows [row0, row0 + rows) of t (same storage, first dimension = rows). */
evk_status evk_tensor_rows(const evk_tensor *t, int64_t row0, int64_t rows, evk_tensor *out);

typedef enum evk_reduce_op {
    EVK_REDUCE_SUM = 0,
    EVK_REDUCE_MEAN,
    EVK_REDUCE_L2,   /* sqrt(sum of squares) */
    EVK_REDUCE_MAX,  /* NaN ignored; -inf for a row of NaN */
} evk_reduce_op;

/* Record: out[r] = op over the elements of row r of x (x: f32 [R, ...], out: f32 with R elements). */
evk_status evk_op_reduce_rows(evk_stream *s, const evk_tensor *x, evk_reduce_op op, const evk_tensor *out);
/* Record: out[r] = <a_r, b_r> / (|a_r| |b_r|); b has R rows or one row shared by all. A zero row gives 0. */
evk_status evk_op_cosine_rows(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *out);
/* Record: index[0] = position of the largest element of x (first on ties, NaN ignored), value[0] = it.
 * index: u32 or i32 with at least 1 element; value: f32 with at least 1 element. */
evk_status evk_op_argmax(evk_stream *s, const evk_tensor *x, const evk_tensor *index, const evk_tensor *value);
/* Record: the k largest elements of x in descending order (ties: lower index first; NaN last):
 * indices[j] (u32) and values[j] (f32) for j < k. x has at most EVK_TOPK_MAX elements. */
#define EVK_TOPK_MAX (1u << 20)
evk_status evk_op_topk(evk_stream *s, const evk_tensor *x, uint32_t k, const evk_tensor *indices, const evk_tensor *values);

#ifdef __cplusplus
}
#endif
#endif
