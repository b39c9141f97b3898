/* stubs.c — the four device-memory entry points the format code reaches (through tensor.c),
 * replaced for the fuzzers so they run without Vulkan: allocation fails cleanly, which exercises
 * the error paths of evk_weights_get. */
#include "core/memory.h"
#include "core/status.h"

evk_status evk_buffer_alloc(evk_context *ctx, uint64_t size, evk_buffer *out) {
    (void)ctx;
    out->block = NULL;
    out->offset = out->size = 0;
    return evk_fail(EVK_ERROR_OUT_OF_DEVICE_MEMORY, "fuzz build: no device (%llu bytes)", (unsigned long long)size);
}
void evk_buffer_free(evk_context *ctx, evk_buffer *buf) {
    (void)ctx;
    if (buf) buf->block = NULL, buf->size = 0;
}
evk_status evk_buffer_upload(evk_context *ctx, const evk_buffer *buf, uint64_t offset, const void *src, uint64_t size) {
    (void)ctx, (void)buf, (void)offset, (void)src, (void)size;
    return evk_fail(EVK_ERROR_INTERNAL, "fuzz build: no device");
}
evk_status evk_buffer_download(evk_context *ctx, const evk_buffer *buf, uint64_t offset, void *dst, uint64_t size) {
    (void)ctx, (void)buf, (void)offset, (void)dst, (void)size;
    return evk_fail(EVK_ERROR_INTERNAL, "fuzz build: no device");
}
