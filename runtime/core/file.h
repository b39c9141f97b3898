/* file.h — the file reader and the atomic writer every loader and writer uses: configs, model and
 * reward JSON, weight indexes, PNG / .npy, reports and the pipeline cache. Messages name the
 * user's path (never a temporary name) and the reason. */
#ifndef EVK_FILE_H
#define EVK_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write `data` to `path` atomically (temporary file in the same directory, then rename).
 * On failure nothing is left at `path` (an older file there is untouched) and the status is
 * EVK_ERROR_IO with a message naming the path and the reason. */
evk_status evk_file_write_atomic(const char *path, const void *data, size_t size);

/* Remove the temporary files of writes in progress. Async-signal-safe: a program's SIGINT /
 * SIGTERM handler calls it so that an interrupted write leaves nothing behind. */
void evk_file_remove_temporaries(void);

/* Read a whole file into a malloc'd buffer (free() it). EVK_ERROR_IO naming the path on failure;
 * files over `max_size` bytes are refused with EVK_ERROR_FORMAT. */
evk_status evk_file_read(const char *path, size_t max_size, uint8_t **data, size_t *size);

/* evk_file_read for text: a NUL-terminated string, refusing files that contain a NUL byte
 * (EVK_ERROR_FORMAT); free() it. */
evk_status evk_file_read_text(const char *path, size_t max_size, char **out);

/* Map a whole regular file read-only (a file of 0 bytes gives *map = NULL, *size = 0); release it
 * with evk_file_unmap. The readers of large weight files (safetensors, GGUF, zip) parse in place. */
evk_status evk_file_map(const char *path, void **map, size_t *size);
void evk_file_unmap(void *map, size_t size);
/* Drop the pages of [p, p + n) inside a mapping from evk_file_map out of the process's resident
 * memory (rounded out to whole pages): a later read faults them in again from the file. Weight
 * uploads call it once a chunk is on the device, so a model is not held twice (mapped file and
 * device copy; on a CPU device both are host memory). */
void evk_file_release(const void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
