/* op_variant.h — which kernel family runs an op: the choice matmul and the convolutions offer
 * (tests and benchmarks force one; everything else leaves AUTO). */
#ifndef EVK_OP_VARIANT_H
#define EVK_OP_VARIANT_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evk_kernel_variant {
    EVK_KERNEL_AUTO = 0, /* CPU kernels on CPU devices, GPU kernels elsewhere */
    EVK_KERNEL_GPU,      /* shared-memory tiles, storage buffers */
    EVK_KERNEL_CPU,      /* register tiles, texel-buffer loads */
} evk_kernel_variant;

#ifdef __cplusplus
}
#endif
#endif
