/* op_matmul.h — batched matrix products C[b] = alpha·op(A[b])·op(B[b]) + bias.
 *
 * The workhorse of every linear layer, attention projection and 1×1 convolution. A and C are
 * row-major with the matrix in the last two dimensions and every leading dimension flattened
 * into the batch; B (the weights) may have batch 1 and is then shared by every batch element,
 * which is the Linear layer y = x·Wᵀ + b with W [out, in] and transpose_b. A and B may be f32
 * or f16 (storage only: products and sums are f32); C and the bias are f32.
 *
 * B may also be GGUF block-quantised weights (EVK_DTYPE_QUANT: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q4_K, Q5_K, Q6_K), a transposed 2-D Linear weight [N, K] with K a multiple of the block, shared
 * by the batch. The weights then stay quantised in device memory (Q8_0 takes 34 bytes per 32
 * values, Q4_K 144 per 256) and the kernel dequantises each element as it reads it, with the
 * arithmetic of the host dequantisation (formats/gguf_quant.h), so the result is the product with
 * the dequantised matrix.
 *
 * Two kernel families compute it: a shared-memory tiled kernel for GPUs (tile sizes are
 * specialization constants) and a register-tiled kernel for CPU drivers such as lavapipe,
 * which reads through uniform texel buffers because CPU drivers vectorise those loads and not
 * storage-buffer loads. evk_op_matmul picks one from the device unless the caller forces it. */
#ifndef EVK_OP_MATMUL_H
#define EVK_OP_MATMUL_H

#include <stdbool.h>

#include "core/stream.h"
#include "ops/op_variant.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_matmul_params {
    bool transpose_a;           /* A is stored [..., K, M] instead of [..., M, K] */
    bool transpose_b;           /* B is stored [..., N, K] (Linear weights [out, in]) */
    float alpha;                /* scale of the product; 0 is taken as 1 so a zeroed struct is C = A·B */
    evk_kernel_variant variant; /* AUTO unless a test or benchmark wants one family */
} evk_matmul_params;

/* Record C = alpha·op(A)·op(B) (+ bias[N] on every row when bias is not NULL).
 * a: [..., M, K] (or [..., K, M] transposed), ndim ≥ 2, f32/f16.
 * b: [..., K, N] (or [..., N, K] transposed), f32/f16; its leading dims multiply to the batch of
 *    A or to 1 (shared by all batch elements). Or quantised [N, K] with transpose_b.
 * c: f32, [..., M, N] with as many elements as batch·M·N; it must not overlap a, b or bias.
 * params may be NULL (no transposes, alpha 1, automatic variant). */
evk_status evk_op_matmul(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *bias,
                         const evk_tensor *c, const evk_matmul_params *params);

#ifdef __cplusplus
}
#endif
#endif
