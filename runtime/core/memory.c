/* memory.c — the arena: large VkDeviceMemory blocks, each bound to one VkBuffer, handed out in
 * aligned pieces from a sorted, coalescing free list; plus synchronous host transfers (memcpy
 * on host-visible memory, chunked staging copies elsewhere). */
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "core/internal.h"

#define EVK__MIB (1024.0 * 1024.0)
static const uint64_t EVK__DEFAULT_BLOCK = 256ull << 20;
static const uint64_t EVK__STAGING_SIZE = 64ull << 20;

static uint64_t evk__align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int evk__find_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits,
                          VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

static VkBufferUsageFlags evk__usage(void) {
    return VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
           VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
}

/* The host's physical memory in bytes, 0 where the system does not say. */
static uint64_t evk__host_memory(void) {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) return (uint64_t)pages * (uint64_t)page;
#endif
    return 0;
}

/* Budget of the heap: the driver's (VK_EXT_memory_budget) or 80 % of its size, less other
 * processes' use, and at most the config's memory_limit. A CPU driver's heap is host memory
 * behind a nominal size (lavapipe in Mesa 22.3 says 2 GiB whatever the machine has, which would
 * stop a full-size SD 1.5 at load): there the budget is at least 80 % of the host's memory. */
static uint64_t evk__heap_budget(evk_context *ctx, uint32_t heap) {
    uint64_t size = ctx->memory_properties.memoryHeaps[heap].size;
    if (ctx->info.type == EVK_DEVICE_TYPE_CPU) {
        uint64_t host = evk__host_memory();
        if (host > size) size = host;
    }
    uint64_t budget = size / 10 * 8;
    if (ctx->info.features.memory_budget) {
        VkPhysicalDeviceMemoryBudgetPropertiesEXT b = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
        VkPhysicalDeviceMemoryProperties2 p = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2, .pNext = &b};
        vkGetPhysicalDeviceMemoryProperties2(ctx->physical, &p);
        if (b.heapBudget[heap] && ctx->info.type != EVK_DEVICE_TYPE_CPU) {
            /* the driver's budget counts our own blocks as used: add them back */
            uint64_t ours = ctx->arena.reserved;
            uint64_t used_by_others = b.heapUsage[heap] > ours ? b.heapUsage[heap] - ours : 0;
            budget = b.heapBudget[heap] > used_by_others ? b.heapBudget[heap] - used_by_others : 0;
        }
    }
    if (ctx->config.memory_limit && ctx->config.memory_limit < budget) budget = ctx->config.memory_limit;
    uint64_t env = ctx->env_memory_limit;
    /* on a CPU device the variable may also raise the budget (past the host's 80 %) */
    if (env && (env < budget || ctx->info.type == EVK_DEVICE_TYPE_CPU)) budget = env;
    return budget;
}

evk_status evk__arena_init(evk_context *ctx) {
    evk__arena *a = &ctx->arena;
    /* Learn which memory types a storage buffer may use from a probe buffer. */
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 4096, .usage = evk__usage()};
    VkBuffer probe;
    EVK__VK_TRY(vkCreateBuffer(ctx->device, &bci, NULL, &probe));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, probe, &req);
    vkDestroyBuffer(ctx->device, probe, NULL);
    const VkPhysicalDeviceMemoryProperties *mp = &ctx->memory_properties;
    VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = evk__find_type(mp, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | hv);
    a->host_visible = t >= 0;
    /* On a discrete GPU a small host-visible device-local window (BAR) exists; only use the
     * host-visible device-local type when its heap is the big one. */
    if (t >= 0) {
        int dl = evk__find_type(mp, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
        if (dl >= 0 && mp->memoryHeaps[mp->memoryTypes[t].heapIndex].size <
                           mp->memoryHeaps[mp->memoryTypes[dl].heapIndex].size) {
            t = dl;
            a->host_visible = 0;
        }
    }
    if (t < 0) t = evk__find_type(mp, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (t < 0) t = evk__find_type(mp, req.memoryTypeBits, hv), a->host_visible = t >= 0;
    if (t < 0) t = evk__find_type(mp, req.memoryTypeBits, 0);
    if (t < 0) return evk_fail(EVK_ERROR_UNSUPPORTED, "no memory type can hold a storage buffer");
    if (ctx->config.force_staging) a->host_visible = 0;
    a->memory_type = (uint32_t)t;
    a->heap_index = mp->memoryTypes[t].heapIndex;
    a->alignment = req.alignment;
    if (ctx->info.min_storage_buffer_offset_alignment > a->alignment) a->alignment = ctx->info.min_storage_buffer_offset_alignment;
    if (ctx->info.min_texel_buffer_offset_alignment > a->alignment) a->alignment = ctx->info.min_texel_buffer_offset_alignment;
    if (a->alignment < 16) a->alignment = 16;
    a->block_size = EVK__DEFAULT_BLOCK;
    if (ctx->info.max_allocation_size && a->block_size > ctx->info.max_allocation_size)
        a->block_size = ctx->info.max_allocation_size;
    a->budget = evk__heap_budget(ctx, a->heap_index);
    return EVK_OK;
}

static void evk__block_release(evk_context *ctx, evk__block *b) {
    if (!ctx->stuck) { /* else the device may still use the block (context.c) */
        if (b->mapped) vkUnmapMemory(ctx->device, b->memory);
        if (b->buffer) vkDestroyBuffer(ctx->device, b->buffer, NULL);
        if (b->memory) vkFreeMemory(ctx->device, b->memory, NULL);
    }
    free(b->free_ranges);
    free(b);
}

void evk__arena_destroy(evk_context *ctx) {
    evk__arena *a = &ctx->arena;
    for (evk__block *b = a->blocks, *next; b; b = next) {
        next = b->next;
        evk__block_release(ctx, b);
    }
    a->blocks = NULL;
    if (ctx->stuck) return;
    if (a->staging_mapped) vkUnmapMemory(ctx->device, a->staging_memory);
    if (a->staging_buffer) vkDestroyBuffer(ctx->device, a->staging_buffer, NULL);
    if (a->staging_memory) vkFreeMemory(ctx->device, a->staging_memory, NULL);
    if (a->transfer_fence) vkDestroyFence(ctx->device, a->transfer_fence, NULL);
    if (a->transfer_pool) vkDestroyCommandPool(ctx->device, a->transfer_pool, NULL);
}

static evk_status evk__oom(evk_context *ctx, uint64_t request, const char *why) {
    evk__arena *a = &ctx->arena;
    return evk_fail(EVK_ERROR_OUT_OF_DEVICE_MEMORY,
                    "out of device memory: a request of %.1f MiB does not fit heap %u (%.1f MiB, %s): "
                    "%.1f MiB in use by evoke, budget %.1f MiB (%s)",
                    request / EVK__MIB, a->heap_index,
                    ctx->memory_properties.memoryHeaps[a->heap_index].size / EVK__MIB,
                    (ctx->memory_properties.memoryHeaps[a->heap_index].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
                        ? "device-local" : "host",
                    a->reserved / EVK__MIB, a->budget / EVK__MIB, why);
}

/* A new block for a request of `request` bytes: a standard block where the budget allows,
 * shrunk towards the request near the budget's end, or a dedicated one for large requests. */
static evk_status evk__block_create(evk_context *ctx, uint64_t request, evk__block **out) {
    evk__arena *a = &ctx->arena;
    a->budget = evk__heap_budget(ctx, a->heap_index);
    int dedicated = request > a->block_size / 2;
    uint64_t size = dedicated ? request : a->block_size;
    uint64_t left = a->budget > a->reserved ? a->budget - a->reserved : 0;
    if (size > left && request <= left) size = evk__align_up(left / 2 > request ? left / 2 : request, a->alignment);
    if (request > left) return evk__oom(ctx, request, "budget exceeded");
    evk__block *b = calloc(1, sizeof *b);
    if (!b) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    b->size = size;
    b->dedicated = dedicated;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size, .usage = evk__usage()};
    VkResult r = vkCreateBuffer(ctx->device, &bci, NULL, &b->buffer);
    if (r != VK_SUCCESS) {
        evk__block_release(ctx, b);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) return evk__oom(ctx, request, "vkCreateBuffer refused");
        return evk__vk_fail(r, "vkCreateBuffer", __FILE__, __LINE__);
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, b->buffer, &req);
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = a->memory_type};
    r = vkAllocateMemory(ctx->device, &mai, NULL, &b->memory);
    if (r != VK_SUCCESS) {
        b->memory = VK_NULL_HANDLE;
        evk__block_release(ctx, b);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) return evk__oom(ctx, request, "vkAllocateMemory refused");
        return evk__vk_fail(r, "vkAllocateMemory", __FILE__, __LINE__);
    }
    r = vkBindBufferMemory(ctx->device, b->buffer, b->memory, 0);
    if (r == VK_SUCCESS && a->host_visible) r = vkMapMemory(ctx->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
    if (r != VK_SUCCESS) {
        evk__block_release(ctx, b);
        return evk__vk_fail(r, a->host_visible ? "vkBindBufferMemory/vkMapMemory" : "vkBindBufferMemory", __FILE__, __LINE__);
    }
    b->free_cap = 8;
    b->free_ranges = malloc(b->free_cap * sizeof *b->free_ranges);
    if (!b->free_ranges) { evk__block_release(ctx, b); return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"); }
    b->free_ranges[0].offset = 0;
    b->free_ranges[0].size = size;
    b->free_count = 1;
    b->next = a->blocks;
    a->blocks = b;
    a->reserved += size;
    a->block_count++;
    *out = b;
    return EVK_OK;
}

/* First fit inside one block; returns 1 and the offset on success. */
static int evk__block_take(evk__block *b, uint64_t size, uint64_t align, uint64_t *offset) {
    for (uint32_t i = 0; i < b->free_count; i++) {
        uint64_t start = evk__align_up(b->free_ranges[i].offset, align);
        uint64_t end = b->free_ranges[i].offset + b->free_ranges[i].size;
        if (start + size > end) continue;
        /* split: [range.offset, start) stays free, [start+size, end) stays free */
        uint64_t head = start - b->free_ranges[i].offset, tail = end - (start + size);
        if (head && tail) {
            if (b->free_count == b->free_cap) {
                void *p = realloc(b->free_ranges, 2 * b->free_cap * sizeof *b->free_ranges);
                if (!p) return 0;
                b->free_ranges = p;
                b->free_cap *= 2;
            }
            memmove(&b->free_ranges[i + 2], &b->free_ranges[i + 1], (b->free_count - i - 1) * sizeof *b->free_ranges);
            b->free_count++;
            b->free_ranges[i].size = head;
            b->free_ranges[i + 1].offset = start + size;
            b->free_ranges[i + 1].size = tail;
        } else if (head) {
            b->free_ranges[i].size = head;
        } else if (tail) {
            b->free_ranges[i].offset = start + size;
            b->free_ranges[i].size = tail;
        } else {
            memmove(&b->free_ranges[i], &b->free_ranges[i + 1], (b->free_count - i - 1) * sizeof *b->free_ranges);
            b->free_count--;
        }
        *offset = start;
        return 1;
    }
    return 0;
}

static int evk__block_give(evk__block *b, uint64_t offset, uint64_t size) {
    uint32_t i = 0;
    while (i < b->free_count && b->free_ranges[i].offset < offset) i++;
    int merge_prev = i > 0 && b->free_ranges[i - 1].offset + b->free_ranges[i - 1].size == offset;
    int merge_next = i < b->free_count && offset + size == b->free_ranges[i].offset;
    if (merge_prev && merge_next) {
        b->free_ranges[i - 1].size += size + b->free_ranges[i].size;
        memmove(&b->free_ranges[i], &b->free_ranges[i + 1], (b->free_count - i - 1) * sizeof *b->free_ranges);
        b->free_count--;
    } else if (merge_prev) {
        b->free_ranges[i - 1].size += size;
    } else if (merge_next) {
        b->free_ranges[i].offset = offset;
        b->free_ranges[i].size += size;
    } else {
        if (b->free_count == b->free_cap) {
            void *p = realloc(b->free_ranges, 2 * b->free_cap * sizeof *b->free_ranges);
            if (!p) return 0;
            b->free_ranges = p;
            b->free_cap *= 2;
        }
        memmove(&b->free_ranges[i + 1], &b->free_ranges[i], (b->free_count - i) * sizeof *b->free_ranges);
        b->free_ranges[i].offset = offset;
        b->free_ranges[i].size = size;
        b->free_count++;
    }
    return 1;
}

evk_status evk_buffer_alloc(evk_context *ctx, uint64_t size, evk_buffer *out) {
    memset(out, 0, sizeof *out);
    if (size == 0) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_buffer_alloc: size 0");
    evk__arena *a = &ctx->arena;
    uint64_t padded = evk__align_up(size, a->alignment);
    if (ctx->info.max_allocation_size && padded > ctx->info.max_allocation_size)
        return evk__oom(ctx, size, "larger than the device's maxMemoryAllocationSize");
    evk__block *b = NULL;
    uint64_t offset = 0;
    for (evk__block *it = a->blocks; it; it = it->next)
        if (evk__block_take(it, padded, a->alignment, &offset)) { b = it; break; }
    if (!b) {
        EVK_TRY(evk__block_create(ctx, padded, &b));
        if (!evk__block_take(b, padded, a->alignment, &offset))
            return evk_fail(EVK_ERROR_INTERNAL, "arena: a new block of %llu bytes cannot hold %llu bytes",
                            (unsigned long long)b->size, (unsigned long long)padded);
    }
    b->live++;
    a->allocations++;
    a->in_use += padded;
    if (a->in_use > a->peak) a->peak = a->in_use;
    out->block = b;
    out->offset = offset;
    out->size = size;
    return EVK_OK;
}

void evk_buffer_free(evk_context *ctx, evk_buffer *buf) {
    if (!ctx || !buf || !buf->block) return;
    evk__arena *a = &ctx->arena;
    evk__block *b = buf->block;
    uint64_t padded = evk__align_up(buf->size, a->alignment);
    evk__block_give(b, buf->offset, padded);
    b->live--;
    a->allocations--;
    a->in_use -= padded;
    memset(buf, 0, sizeof *buf);
    /* Blocks are not returned to the driver here: a stream still being recorded may reference
     * the memory (reusing freed ranges inside one stream is safe, the hazard tracking orders
     * it), so only evk_memory_trim(), called when the device is idle, releases empty blocks. */
}

void evk_memory_trim(evk_context *ctx) {
    evk__arena *a = &ctx->arena;
    if (ctx->stuck) return; /* the device may never go idle (context.c) */
    int waited = 0;
    for (evk__block **pp = &a->blocks; *pp;) {
        evk__block *b = *pp;
        if (b->live == 0 && (b->dedicated || a->block_count > 1)) {
            if (!waited) vkDeviceWaitIdle(ctx->device), waited = 1;
            *pp = b->next;
            a->reserved -= b->size;
            a->block_count--;
            evk__block_release(ctx, b);
        } else {
            pp = &b->next;
        }
    }
}

void evk_memory_get_stats(const evk_context *ctx, evk_memory_stats *out) {
    const evk__arena *a = &ctx->arena;
    out->in_use = a->in_use;
    out->peak = a->peak;
    out->reserved = a->reserved;
    out->budget = a->budget;
    out->blocks = a->block_count;
    out->allocations = a->allocations;
    out->heap_index = a->heap_index;
}

void evk_memory_reset_peak(evk_context *ctx) { ctx->arena.peak = ctx->arena.in_use; }

/* ---- transfers ----------------------------------------------------------------------------- */

static evk_status evk__check_range(const evk_buffer *buf, uint64_t offset, uint64_t size, const char *what) {
    if (!buf || !buf->block) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: empty buffer", what);
    if (offset > buf->size || size > buf->size - offset)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: range [%llu, %llu) outside a buffer of %llu bytes", what,
                        (unsigned long long)offset, (unsigned long long)(offset + size),
                        (unsigned long long)buf->size);
    return EVK_OK;
}

static evk_status evk__staging_init(evk_context *ctx) {
    evk__arena *a = &ctx->arena;
    if (a->staging_buffer) return EVK_OK;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = EVK__STAGING_SIZE,
                              .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT};
    EVK__VK_TRY(vkCreateBuffer(ctx->device, &bci, NULL, &a->staging_buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, a->staging_buffer, &req);
    VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = evk__find_type(&ctx->memory_properties, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (t < 0) t = evk__find_type(&ctx->memory_properties, req.memoryTypeBits, hv);
    if (t < 0) return evk_fail(EVK_ERROR_UNSUPPORTED, "no host-visible coherent memory for staging");
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)t};
    EVK__VK_TRY(vkAllocateMemory(ctx->device, &mai, NULL, &a->staging_memory));
    EVK__VK_TRY(vkBindBufferMemory(ctx->device, a->staging_buffer, a->staging_memory, 0));
    EVK__VK_TRY(vkMapMemory(ctx->device, a->staging_memory, 0, VK_WHOLE_SIZE, 0, &a->staging_mapped));
    a->staging_size = EVK__STAGING_SIZE;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = ctx->queue_family};
    EVK__VK_TRY(vkCreateCommandPool(ctx->device, &pci, NULL, &a->transfer_pool));
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = a->transfer_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    EVK__VK_TRY(vkAllocateCommandBuffers(ctx->device, &cai, &a->transfer_cmd));
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    EVK__VK_TRY(vkCreateFence(ctx->device, &fci, NULL, &a->transfer_fence));
    return EVK_OK;
}

static evk_status evk__staging_copy(evk_context *ctx, const evk_buffer *buf, uint64_t offset, uint64_t size, int upload) {
    evk__arena *a = &ctx->arena;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    EVK__VK_TRY(vkBeginCommandBuffer(a->transfer_cmd, &bi));
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(a->transfer_cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkBufferCopy region = {.size = size};
    if (upload) {
        region.dstOffset = buf->offset + offset;
        vkCmdCopyBuffer(a->transfer_cmd, a->staging_buffer, buf->block->buffer, 1, &region);
    } else {
        region.srcOffset = buf->offset + offset;
        vkCmdCopyBuffer(a->transfer_cmd, buf->block->buffer, a->staging_buffer, 1, &region);
    }
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vkCmdPipelineBarrier(a->transfer_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    EVK__VK_TRY(vkEndCommandBuffer(a->transfer_cmd));
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &a->transfer_cmd};
    EVK__VK_TRY(vkResetFences(ctx->device, 1, &a->transfer_fence));
    EVK__VK_TRY(vkQueueSubmit(ctx->queue, 1, &si, a->transfer_fence));
    VkResult r = vkWaitForFences(ctx->device, 1, &a->transfer_fence, VK_TRUE, ctx->timeout_ns);
    if (r == VK_TIMEOUT) {
        ctx->stuck = 1;
        return evk_fail(EVK_ERROR_TIMEOUT, "a transfer of %llu bytes did not finish within %.0f s (EVOKE_TIMEOUT sets the limit)",
                        (unsigned long long)size, ctx->timeout_ns / 1e9);
    }
    if (r != VK_SUCCESS) return evk__vk_fail(r, "vkWaitForFences (waiting for a transfer)", __FILE__, __LINE__);
    return EVK_OK;
}

static evk_status evk__transfer(evk_context *ctx, const evk_buffer *buf, uint64_t offset, void *host, uint64_t size, int upload) {
    EVK_TRY(evk__check_range(buf, offset, size, upload ? "evk_buffer_upload" : "evk_buffer_download"));
    if (size == 0) return EVK_OK;
    if (buf->block->mapped) {
        /* Host-visible coherent memory: streams end with a host-read barrier and are waited
         * on before their results are read, so a memcpy is enough. */
        char *p = (char *)buf->block->mapped + buf->offset + offset;
        if (upload) memcpy(p, host, size);
        else memcpy(host, p, size);
        return EVK_OK;
    }
    EVK_TRY(evk__staging_init(ctx));
    evk__arena *a = &ctx->arena;
    for (uint64_t done = 0; done < size;) {
        uint64_t n = size - done < a->staging_size ? size - done : a->staging_size;
        if (upload) {
            memcpy(a->staging_mapped, (const char *)host + done, n);
            EVK_TRY(evk__staging_copy(ctx, buf, offset + done, n, 1));
        } else {
            EVK_TRY(evk__staging_copy(ctx, buf, offset + done, n, 0));
            memcpy((char *)host + done, a->staging_mapped, n);
        }
        done += n;
    }
    return EVK_OK;
}

evk_status evk_buffer_upload(evk_context *ctx, const evk_buffer *buf, uint64_t offset, const void *src, uint64_t size) {
    return evk__transfer(ctx, buf, offset, (void *)src, size, 1);
}

evk_status evk_buffer_download(evk_context *ctx, const evk_buffer *buf, uint64_t offset, void *dst, uint64_t size) {
    return evk__transfer(ctx, buf, offset, dst, size, 0);
}
