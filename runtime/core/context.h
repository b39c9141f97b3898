/* context.h — the Vulkan instance, the chosen device, its queue and what it can do.
 *
 * An evk_context owns one logical device with one compute queue, the memory arena, the
 * pipeline cache and the profiler. Vulkan is loaded at run time through volk, so a machine
 * without a driver gets EVK_ERROR_NO_DEVICE and a message, not a link failure. A zeroed
 * evk_context_config picks the device automatically (EVOKE_DEVICE, else discrete >
 * integrated > virtual > CPU), turns validation on when EVOKE_VALIDATION=1 and profiling when
 * EVOKE_PROFILE=1, and keeps its pipeline cache under $XDG_CACHE_HOME/evoke. */
#ifndef EVK_CONTEXT_H
#define EVK_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_context evk_context;

typedef enum evk_device_type {
    EVK_DEVICE_TYPE_OTHER = 0,
    EVK_DEVICE_TYPE_INTEGRATED,
    EVK_DEVICE_TYPE_DISCRETE,
    EVK_DEVICE_TYPE_VIRTUAL,
    EVK_DEVICE_TYPE_CPU,
} evk_device_type;

/* Optional capabilities, detected at start; kernels choose variants from them. */
typedef struct evk_device_features {
    bool storage_16bit;        /* 16-bit values in storage buffers */
    bool float16;              /* float16 arithmetic in shaders */
    bool int8;                 /* int8 arithmetic in shaders */
    bool storage_8bit;
    bool subgroup_basic, subgroup_arithmetic, subgroup_shuffle, subgroup_ballot;
    bool subgroup_size_control;
    bool cooperative_matrix;   /* VK_KHR_cooperative_matrix */
    bool memory_budget;        /* VK_EXT_memory_budget */
    bool timestamps;           /* compute queue timestamps usable */
    bool push_descriptor;
} evk_device_features;

#define EVK_MAX_HEAPS 16

typedef struct evk_device_info {
    uint32_t index;
    char name[256];
    evk_device_type type;
    uint32_t vendor_id, device_id;
    char driver_name[256], driver_info[256];
    uint32_t driver_version, api_version;
    uint32_t heap_count;
    struct { uint64_t size; bool device_local; } heaps[EVK_MAX_HEAPS];
    uint32_t subgroup_size, min_subgroup_size, max_subgroup_size;
    uint32_t max_workgroup_size[3], max_workgroup_invocations, max_workgroup_count[3];
    uint32_t max_shared_memory;
    uint64_t max_storage_buffer_range, max_allocation_size;
    uint32_t max_push_constants;
    uint32_t min_storage_buffer_offset_alignment, min_texel_buffer_offset_alignment;
    uint32_t max_texel_buffer_elements;
    float timestamp_period_ns;
    evk_device_features features;
} evk_device_info;

typedef struct evk_context_config {
    bool pick_device;          /* use device_index instead of the automatic choice */
    uint32_t device_index;
    bool validation;           /* force the Khronos validation layer on */
    bool profile;              /* force timestamp profiling on */
    bool no_pipeline_cache;    /* neither read nor write the on-disk pipeline cache */
    const char *cache_dir;     /* NULL: $XDG_CACHE_HOME/evoke or ~/.cache/evoke */
    uint64_t memory_limit;     /* 0: the heap budget; else also cap evoke's device memory at this */
    bool force_staging;        /* never map device memory; transfer through staging (tests) */
    uint64_t binding_limit;    /* 0: the device's; else no binding (storage range, texel buffer)
                                  may exceed this many bytes: tests reach the paths that split
                                  work over several dispatches with small tensors */
    /* Called for every validation message (after it is counted); NULL prints to stderr. */
    void (*on_validation_message)(void *user, const char *message);
    void *user;
} evk_context_config;

/* List every Vulkan device (creates and drops a temporary instance). Free with free(). */
evk_status evk_devices_list(evk_device_info **out, uint32_t *count);

evk_status evk_context_create(const evk_context_config *config, evk_context **out);
void evk_context_destroy(evk_context *ctx);

const evk_device_info *evk_context_device(const evk_context *ctx);
bool evk_context_is_cpu(const evk_context *ctx);
/* Number of validation-layer messages seen so far (tests fail on any). */
uint32_t evk_context_validation_count(const evk_context *ctx);
bool evk_context_profiling(const evk_context *ctx);

/* Human-readable device type ("discrete", "integrated", "virtual", "cpu", "other"). */
const char *evk_device_type_name(evk_device_type type);
/* Vendor name from PCI id ("NVIDIA", "AMD", "Intel", "Apple", "Mesa", ...). */
const char *evk_vendor_name(uint32_t vendor_id);

#ifdef __cplusplus
}
#endif
#endif
