/* weights.h — a model's weight set: the safetensors, GGUF or PyTorch file(s) of one component,
 * looked up by name with the shape the network expects, converted to the storage dtype a kernel
 * wants and uploaded.
 *
 * A weight set opens a single .safetensors file, a PyTorch checkpoint (.ckpt, .pt, .pth, .bin:
 * torch.save's zip format, read by the restricted unpickler of pytorch.h, its state dict found
 * under "state_dict" or "module" when wrapped), a diffusers/transformers component folder
 * (diffusion_pytorch_model.safetensors, model.safetensors, their .fp16 variants, sharded
 * weights listed by a *.index.json, then diffusion_pytorch_model.bin / pytorch_model.bin), or an
 * explicit list of files (of any kind). Networks ask for
 * tensors by their diffusers/transformers names; two adapters let the same network code read
 * other layouts: a key prefix ("text_model.", "model.diffusion_model.") prepended to every name,
 * and a name map (sd_keys.h) that translates diffusers names into the original CompVis /
 * Stability names of single-file checkpoints, including slices of fused tensors (OpenCLIP's
 * in_proj q/k/v) and 1×1-conv ↔ linear reshapes. Every miss or mis-shaped tensor is an error
 * naming the tensor with the expected and the found shape; tensors never asked for can be
 * listed afterwards, which catches a network that silently ignores part of a checkpoint.
 *
 * A file that starts with the GGUF magic is read as GGUF (formats/gguf.h): its tensors carry
 * row-major shapes like safetensors ones, float tensors convert the same way, and quantised ones
 * (Q8_0, Q4_0/1, Q5_0/1, Q4_K, Q5_K, Q6_K) are dequantised on the host when f32/f16 storage is
 * asked for, or handed over as raw blocks (evk_weights_raw) to kernels that read them as stored. */
#ifndef EVK_WEIGHTS_H
#define EVK_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_weights evk_weights;

/* Where a requested name lives in the files. */
typedef struct evk_weight_ref {
    char name[256];     /* tensor name in the file (without the weight set's prefix) */
    int split_parts;    /* 0 or 1: the whole tensor; n > 1: dim 0 holds n equal blocks (fused q/k/v) */
    int split_index;    /* which block, 0 .. split_parts-1 */
    bool squeeze;       /* the file's shape may differ from the expected one by size-1 dims
                           (1x1 conv weights stored where a linear weight is expected, or back) */
} evk_weight_ref;

/* Translates a requested name; returns EVK_ERROR_FORMAT (with a message) for names it has no
 * rule for. `user` is what evk_weights_set_map was given. */
typedef evk_status (*evk_weights_map_fn)(const void *user, const char *name, evk_weight_ref *ref);

/* `ctx` may be NULL when only host reads (evk_weights_read_f32) are wanted. */
evk_status evk_weights_open(evk_context *ctx, const char *path, evk_weights **out);
evk_status evk_weights_open_files(evk_context *ctx, const char *const *paths, int count, evk_weights **out);
void evk_weights_close(evk_weights *ws);
/* The context device tensors are made in (NULL for a host-only weight set). */
evk_context *evk_weights_context(const evk_weights *ws);

/* Prepended to every requested name (and to mapped names). NULL or "" clears it. */
evk_status evk_weights_set_prefix(evk_weights *ws, const char *prefix);
/* Route names through `fn`. `scope` (may be NULL) is the file-name prefix of the tensors this
 * component owns, used to limit the unused-tensor report (e.g. "model.diffusion_model."). */
void evk_weights_set_map(evk_weights *ws, evk_weights_map_fn fn, const void *user, const char *scope);

/* Resolve a requested name to its file tensor (after prefix and map) without marking it used.
 * NULL if absent; *ref (optional) receives the mapping. */
const evk_st_tensor *evk_weights_lookup(const evk_weights *ws, const char *name, evk_weight_ref *ref);
bool evk_weights_has(const evk_weights *ws, const char *name);
/* The shape a requested name would be delivered with (the split applied). */
evk_status evk_weights_shape(const evk_weights *ws, const char *name, int *ndim, int64_t shape[EVK_ST_MAX_DIMS]);

/* Allocate a device tensor of `storage` dtype (F32 or F16) and `shape`, and fill it from the
 * named tensor (converted from F32/F16/BF16/F64, streamed in chunks). A shape entry < 0 matches
 * any size. Marks the tensor used.
 * storage EVK_DTYPE_QUANT asks for the tensor as stored: a quantised GGUF tensor of rank ≥ 2
 * whose rows are those expected stays quantised (an EVK_DTYPE_QUANT tensor of its blocks, for
 * the dequantising matmul); other tensors come as f16 when the file stores F16 (or quantised
 * blocks that cannot stay blocks, dequantised), else as f32. */
evk_status evk_weights_get(evk_weights *ws, const char *name, int ndim, const int64_t *shape, evk_dtype storage,
                           evk_tensor *out);
/* Same checks, into host memory as f32 (numel(shape) floats). */
evk_status evk_weights_read_f32(evk_weights *ws, const char *name, int ndim, const int64_t *shape, float *dst);

/* A tensor's bytes as the file stores them (for a quantised GGUF tensor: its blocks, rows of
 * shape[ndim-1] elements each). */
typedef struct evk_weight_raw {
    evk_st_dtype dtype;          /* EVK_ST_QUANT: blocks of type `quant` (an evk_gguf_type) */
    uint32_t quant;
    int ndim;
    int64_t shape[EVK_ST_MAX_DIMS];  /* as delivered: a fused tensor's part has dim 0 divided */
    const uint8_t *data;         /* inside the mapping: valid while the weight set is open */
    uint64_t size;
} evk_weight_raw;
/* Same checks as evk_weights_get (a quantised tensor must be of a type evoke can dequantise);
 * marks the tensor used. */
evk_status evk_weights_raw(evk_weights *ws, const char *name, int ndim, const int64_t *shape, evk_weight_raw *out);

/* Replace the file tensor `file_name` (its name in the file, any prefix included) by `values`
 * (f32, as many as its shape holds), copied and held by the weight set: later reads and uploads
 * see them instead of the file's bytes (what a merge at load time, e.g. a LoRA, produces). */
evk_status evk_weights_replace_f32(evk_weights *ws, const char *file_name, const float *values);

/* Every tensor in the files. */
size_t evk_weights_count(const evk_weights *ws);
const evk_st_tensor *evk_weights_at(const evk_weights *ws, size_t i);
/* The storage to load a network from ws with: EVK_DTYPE_QUANT when the files hold GGUF-quantised
 * tensors (quantised matrices then stay quantised in device memory, nn.h), else `requested`. */
evk_dtype evk_weights_storage(const evk_weights *ws, evk_dtype requested);
/* What "as stored" keeps a file tensor in when not as GGUF blocks: f32 for F32, F64 and BF16
 * tensors, f16 for the rest (F16, and quantised values dequantised on the host). */
evk_dtype evk_weights_float_dtype(const evk_st_tensor *t);
/* Tensors in scope (prefix or map scope) never fetched: returns how many; writes up to `max`
 * names into `names` (they live as long as the weight set). */
size_t evk_weights_unused(const evk_weights *ws, const char **names, size_t max);
/* Forget which tensors were fetched. */
void evk_weights_reset_used(evk_weights *ws);

#ifdef __cplusplus
}
#endif
#endif
