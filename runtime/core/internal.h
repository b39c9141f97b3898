/* internal.h — private state shared by the runtime's own files (never installed).
 *
 * Holds the layout of evk_context and the arena, plus EVK__VK_TRY, the one macro through which
 * every VkResult is checked: a failing call returns a status up the stack with a message naming
 * the call, the object and the source line, instead of aborting. */
#ifndef EVK_INTERNAL_H
#define EVK_INTERNAL_H

#include <volk.h>

#include "core/context.h"
#include "core/memory.h"
#include "core/pipeline.h"
#include "core/stream.h"

/* Turn a failing VkResult into an evk_status with a message "what: VK_ERROR_... (file:line)". */
evk_status evk__vk_fail(VkResult result, const char *what, const char *file, int line);
const char *evk__vk_result_name(VkResult result);

#define EVK__VK_TRY(call)                                                          \
    do {                                                                           \
        VkResult evk__r = (call);                                                  \
        if (evk__r != VK_SUCCESS) return evk__vk_fail(evk__r, #call, __FILE__, __LINE__); \
    } while (0)

struct evk__block {
    VkDeviceMemory memory;
    VkBuffer buffer;
    uint64_t size;
    void *mapped;              /* non-NULL where the memory is host-visible and coherent */
    uint32_t free_count, free_cap;
    struct { uint64_t offset, size; } *free_ranges; /* sorted by offset, coalesced */
    uint32_t live;             /* allocations in this block */
    int dedicated;             /* made for one large request; released when it is freed */
    struct evk__block *next;
};

typedef struct evk__arena {
    evk__block *blocks;
    uint32_t memory_type;      /* device-local type used for buffers */
    uint32_t heap_index;
    int host_visible;          /* memory_type is HOST_VISIBLE|HOST_COHERENT */
    uint64_t block_size, alignment, budget;
    uint64_t reserved, in_use, peak;
    uint32_t block_count, allocations;
    /* staging, made on first use where memory is not host-visible */
    VkBuffer staging_buffer;
    VkDeviceMemory staging_memory;
    void *staging_mapped;
    uint64_t staging_size;
    VkCommandPool transfer_pool;
    VkCommandBuffer transfer_cmd;
    VkFence transfer_fence;
} evk__arena;

typedef struct evk__profile {
    evk_profile_row *rows;
    uint32_t count, cap;
} evk__profile;

struct evk_context {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    evk_device_info info;
    VkPhysicalDeviceMemoryProperties memory_properties;
    uint8_t pipeline_cache_uuid[VK_UUID_SIZE];
    evk_context_config config;
    int validation, profiling, print_profile_at_exit;
    /* the EVOKE_* environment, parsed once by evk_context_create */
    uint64_t timeout_ns;       /* EVOKE_TIMEOUT (default 600 s): every wait on the device */
    uint64_t env_memory_limit; /* EVOKE_MEMORY_LIMIT_MB in bytes; 0: unset */
    /* A wait timed out, so the device may still be running (or never finish) work that uses
     * this context's objects: teardown neither waits for it nor destroys what it may use, and
     * leaves those to the end of the process. */
    int stuck;
    uint32_t validation_count;
    evk__arena arena;
    /* pipelines */
    VkPipelineCache pipeline_cache;
    struct evk_pipeline *pipelines;
    evk_pipeline_stats pipeline_stats;
    int pipeline_cache_dirty;
    evk__profile profile;
};

struct evk_pipeline {
    evk_pipeline_desc desc;
    char name[64];
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    struct evk_pipeline *next;
};

/* memory.c */
evk_status evk__arena_init(evk_context *ctx);
void evk__arena_destroy(evk_context *ctx);
/* pipeline.c */
evk_status evk__pipelines_init(evk_context *ctx);
void evk__pipelines_destroy(evk_context *ctx);
/* stream.c */
void evk__profile_add(evk_context *ctx, const char *label, double ms);
void evk__profile_destroy(evk_context *ctx);


#endif
