/* memory.h — device buffers sub-allocated from a few large blocks, and host transfers.
 *
 * evk_buffer is a small value: a range inside one of the arena's VkBuffers. The arena asks the
 * driver for large blocks (bounded by maxMemoryAllocationSize and the heap budget) and hands
 * out aligned pieces; a request that cannot fit returns EVK_ERROR_OUT_OF_DEVICE_MEMORY with a
 * message naming the request size and the heap. Upload and download are synchronous; on
 * devices whose device-local memory is host-visible (integrated GPUs, lavapipe) they are a
 * plain memcpy, elsewhere they go through a staging buffer in chunks. */
#ifndef EVK_MEMORY_H
#define EVK_MEMORY_H

#include <stdint.h>

#include "core/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk__block evk__block;

typedef struct evk_buffer {
    evk__block *block; /* NULL: no buffer */
    uint64_t offset;   /* bytes from the start of the block's VkBuffer */
    uint64_t size;     /* bytes usable by the caller */
} evk_buffer;

typedef struct evk_memory_stats {
    uint64_t in_use;        /* bytes handed out now */
    uint64_t peak;          /* most bytes handed out at once */
    uint64_t reserved;      /* bytes held from the driver (blocks) */
    uint64_t budget;        /* bytes evoke may hold on its heap */
    uint32_t blocks;
    uint32_t allocations;   /* live evk_buffers */
    uint32_t heap_index;
} evk_memory_stats;

/* Allocate `size` bytes (> 0) of device-local storage. Contents are undefined. */
evk_status evk_buffer_alloc(evk_context *ctx, uint64_t size, evk_buffer *out);
/* Release a buffer (NULL or empty is fine); it is reset to empty. Its range may be handed out
 * again at once, even while a stream that used it is still being recorded: streams order such
 * reuse with barriers, so a network can free temporaries as soon as it records their last use. */
void evk_buffer_free(evk_context *ctx, evk_buffer *buf);
/* Give empty blocks back to the driver (waits for the device to be idle). */
void evk_memory_trim(evk_context *ctx);

/* Copy host memory into [offset, offset+size) of the buffer; waits for completion. */
evk_status evk_buffer_upload(evk_context *ctx, const evk_buffer *buf, uint64_t offset,
                             const void *src, uint64_t size);
/* Copy [offset, offset+size) of the buffer to host memory; waits for completion. */
evk_status evk_buffer_download(evk_context *ctx, const evk_buffer *buf, uint64_t offset,
                               void *dst, uint64_t size);

void evk_memory_get_stats(const evk_context *ctx, evk_memory_stats *out);
/* Reset the peak to the current use (to measure one phase). */
void evk_memory_reset_peak(evk_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
