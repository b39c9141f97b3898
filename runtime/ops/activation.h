/* activation.h — the activation functions, one enum for the kernels (op_elementwise.h) and the
 * configs that name them (formats/config.h). The first four have kernels; mish and relu are read
 * from configs so that a model can say which one it lacks; NONE is a config's "no activation". */
#ifndef EVK_ACTIVATION_H
#define EVK_ACTIVATION_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evk_activation {
    EVK_ACT_SILU = 0,       /* x·sigmoid(x) ("silu", "swish") */
    EVK_ACT_GELU = 1,       /* 0.5·x·(1 + erf(x/√2)) (torch's default, approximate='none') */
    EVK_ACT_GELU_TANH = 2,  /* 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (approximate='tanh') */
    EVK_ACT_QUICK_GELU = 3, /* x·sigmoid(1.702·x) (CLIP's quick_gelu) */
    EVK_ACT_MISH,           /* no kernel */
    EVK_ACT_RELU,           /* no kernel */
    EVK_ACT_NONE,           /* JSON null where an activation is optional */
    EVK_ACT_COUNT
} evk_activation;

/* The activations evk_op_activation / evk_op_gated run. */
#define EVK_ACT_HAS_KERNEL(a) ((unsigned)(a) <= (unsigned)EVK_ACT_QUICK_GELU)

/* "silu", "gelu", "gelu_tanh", "quick_gelu", "mish", "relu", "none". */
const char *evk_activation_name(evk_activation act);

#ifdef __cplusplus
}
#endif
#endif
