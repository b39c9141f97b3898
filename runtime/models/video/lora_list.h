/* lora_list.h — T2V-Turbo v1's LoRA lists (`unet_lora.pt`): a bare, unnamed list
 * [up_0, down_0, up_1, down_1, ...] (tensor names "0", "1", ...) holding one LoRA pair for every
 * nn.Linear, nn.Conv2d and nn.Conv3d of a UNet, in PyTorch's named_modules() order, merged into the
 * base weights at load as T2V-Turbo's collapse_lora does (W += up·down, flattened, scale 1).
 *
 * The list carries no names, so the order is everything: a family describes its UNet's module
 * order as the attribute names of its modules in the order their __init__ registers them
 * (`evk_lora_layout`; one list serves all classes of a UNet as long as names that share a parent
 * keep their relative order). Those layers are exactly the base's `.weight` tensors of rank 2, 4
 * and 5 below the prefix. A layer name outside the layout, a count or a shape that does not fit
 * is EVK_ERROR_FORMAT naming both files. Host code only. */
#ifndef EVK_LORA_LIST_H
#define EVK_LORA_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "formats/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_lora_layout {
    const char *name;          /* e.g. "lvdm's UNetModel", for messages */
    const char *const *order;  /* module attribute names in registration order */
    size_t count;
    /* the w-embedding projection T2V-Turbo's student adds (module path): its base weight is in no
     * teacher checkpoint, upstream leaves it random in this path, so the base must hold it */
    const char *student_layer;
    const char *merged;        /* what to give as --diffusion-model instead, for the message */
} evk_lora_layout;

/* Whether every tensor of `ws` is named by its index ("0", "1", ...), as a LoRA list is. */
bool evk_lora_list_is(const evk_weights *ws);
/* The same for the file at `path` (opened and closed here). */
evk_status evk_lora_list_file_is(const char *path, bool *is);

/* Open the list at list_path and merge it into `base` (evk_lora_list_merge; under
 * "model.diffusion_model." when the base's names carry it): EVK_ERROR_FORMAT when the file is no
 * list, EVK_ERROR_INVALID_ARGUMENT when the base lacks layout->student_layer. */
evk_status evk_lora_list_apply(evk_weights *base, const char *base_path, const char *list_path, const evk_lora_layout *layout);

/* Merge `list` (read from list_path) into the UNet tensors of `base` whose file names start with
 * `prefix` (base_path names the base in messages). Replaced tensors are held by `base`
 * (evk_weights_replace_f32); its used-tensor marks are reset afterwards. */
evk_status evk_lora_list_merge(evk_weights *base, const char *prefix, evk_weights *list, const evk_lora_layout *layout,
                               const char *list_path, const char *base_path);

#ifdef __cplusplus
}
#endif
#endif
