/* pytorch.h — PyTorch checkpoints (torch.save's zip format: .ckpt, .pt, .pth, .bin) as a
 * weight source beside safetensors: the tensors of a state dict, by name, as evk_st_tensor.
 *
 * Opening one validates the zip container (zip.h), runs the restricted unpickler (pickle.h) over
 * `<archive>/data.pkl` and resolves every tensor against its storage entry
 * `<archive>/data/<key>`: dtype from the storage type, shape, strides and storage offset checked
 * so every element lies inside the entry, the entry's size equal to what the pickle declares, one
 * dtype per storage. Tensor data is read in place from the mapping (no copy). Tensors are named
 * by their path through nested dicts, lists and tuples joined with "." ("unet.conv_in.weight",
 * "0.1" for an unnamed list of pairs); a checkpoint whose top-level dict holds a "state_dict" or
 * a "module" dict is read from that dict only (Lightning and DataParallel wrappers, with their
 * optimizer states, epoch counters and the like beside it). Values that are not tensors (ints,
 * floats, strings, None) are skipped. Views sharing a storage are kept as views; a
 * non-contiguous one carries its strides (evk_st_tensor.strides) and is read through
 * evk_st_convert. Legacy (pre-1.6, non-zip) checkpoints are refused with a message saying how
 * to re-save them. Every failure is EVK_ERROR_FORMAT naming the file, the tensor or the pickle
 * byte, and the problem. */
#ifndef EVK_PYTORCH_H
#define EVK_PYTORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "formats/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Depth of nested containers walked for tensors, and the longest tensor name built. */
#define EVK_PT_MAX_NESTING 32
#define EVK_PT_MAX_NAME 1024

typedef struct evk_pytorch evk_pytorch;

/* Map and read a checkpoint. */
evk_status evk_pytorch_open(const char *path, evk_pytorch **out);
/* Read an image already in memory (kept by reference: `bytes` must outlive the result). */
evk_status evk_pytorch_parse(const void *bytes, size_t size, const char *label, evk_pytorch **out);
void evk_pytorch_close(evk_pytorch *pt);

/* Whether the first bytes of a file (at least 16, or all of a shorter file) look like a PyTorch
 * checkpoint: a zip archive or a legacy torch pickle. */
bool evk_pytorch_sniff(const uint8_t *head, size_t n);

const char *evk_pytorch_path(const evk_pytorch *pt);
size_t evk_pytorch_count(const evk_pytorch *pt);
/* Tensors in the order the pickle holds them. begin/end are the byte span the tensor's
 * elements cover, counted from the start of the file. */
const evk_st_tensor *evk_pytorch_at(const evk_pytorch *pt, size_t i);
/* NULL when absent. */
const evk_st_tensor *evk_pytorch_find(const evk_pytorch *pt, const char *name);

#ifdef __cplusplus
}
#endif
#endif
