/* stream.c — command streams: recording dispatches with hazard-driven barriers, descriptor
 * sets from per-stream pools, texel-buffer views, one submission per stream with a fence, and
 * timestamp profiling into the context's per-kernel table. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define EVK__SETS_PER_POOL 1024
#define EVK__QUERIES_PER_POOL 2048

typedef struct evk__range { evk__block *block; uint64_t start, end; } evk__range;

typedef struct evk__ranges { evk__range *v; uint32_t n, cap; } evk__ranges;

/* Labels are copied: callers may pass names that do not outlive the recording. */
typedef struct evk__timed { char label[64]; uint32_t query; } evk__timed;

struct evk_stream {
    evk_context *ctx;
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    int recording, submitted;
    VkDescriptorPool *desc_pools;
    uint32_t desc_pool_count, desc_pool_cap, desc_pool_current;
    VkBufferView *views;
    uint32_t view_count, view_cap;
    evk__ranges written, read;
    uint32_t dispatches, barriers;
    /* profiling */
    VkQueryPool *query_pools;
    uint32_t query_pool_count, query_pool_cap, queries_used;
    evk__timed *timed;
    uint32_t timed_count, timed_cap;
    double last_gpu_ms;
};

static int evk__grow(void **v, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return 1;
    uint32_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *p = realloc(*v, c * elem);
    if (!p) return 0;
    *v = p;
    *cap = c;
    return 1;
}

evk_status evk_stream_create(evk_context *ctx, evk_stream **out) {
    *out = NULL;
    evk_stream *s = calloc(1, sizeof *s);
    if (!s) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory creating a stream");
    s->ctx = ctx;
    s->last_gpu_ms = -1;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = ctx->queue_family};
    VkResult r = vkCreateCommandPool(ctx->device, &pci, NULL, &s->pool);
    if (r == VK_SUCCESS) {
        VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = s->pool,
                                           .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
        r = vkAllocateCommandBuffers(ctx->device, &cai, &s->cmd);
    }
    if (r == VK_SUCCESS) {
        VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = vkCreateFence(ctx->device, &fci, NULL, &s->fence);
    }
    if (r != VK_SUCCESS) {
        evk_status st = evk__vk_fail(r, "creating a command stream", __FILE__, __LINE__);
        evk_stream_destroy(s);
        return st;
    }
    *out = s;
    return EVK_OK;
}

static void evk__stream_release_views(evk_stream *s) {
    for (uint32_t i = 0; i < s->view_count; i++) vkDestroyBufferView(s->ctx->device, s->views[i], NULL);
    s->view_count = 0;
}

void evk_stream_destroy(evk_stream *s) {
    if (!s) return;
    VkDevice dev = s->ctx->device;
    /* a submission still running is waited for within EVOKE_TIMEOUT; past it (or once any wait
     * timed out) its Vulkan objects are left to the end of the process (context.c) */
    if (s->submitted && (s->ctx->stuck || vkWaitForFences(dev, 1, &s->fence, VK_TRUE, s->ctx->timeout_ns) != VK_SUCCESS))
        s->ctx->stuck = 1;
    if (!s->ctx->stuck) {
        evk__stream_release_views(s);
        for (uint32_t i = 0; i < s->desc_pool_count; i++) vkDestroyDescriptorPool(dev, s->desc_pools[i], NULL);
        for (uint32_t i = 0; i < s->query_pool_count; i++) vkDestroyQueryPool(dev, s->query_pools[i], NULL);
        if (s->fence) vkDestroyFence(dev, s->fence, NULL);
        if (s->pool) vkDestroyCommandPool(dev, s->pool, NULL);
    }
    free(s->desc_pools);
    free(s->views);
    free(s->query_pools);
    free(s->timed);
    free(s->written.v);
    free(s->read.v);
    free(s);
}

evk_context *evk_stream_context(const evk_stream *s) { return s->ctx; }
uint32_t evk_stream_dispatch_count(const evk_stream *s) { return s->dispatches; }
uint32_t evk_stream_barrier_count(const evk_stream *s) { return s->barriers; }
double evk_stream_gpu_ms(const evk_stream *s) { return s->last_gpu_ms; }

evk_status evk_stream_begin(evk_stream *s) {
    if (s->submitted) EVK_TRY(evk_stream_wait(s, 0));
    VkDevice dev = s->ctx->device;
    EVK__VK_TRY(vkResetCommandPool(dev, s->pool, 0));
    for (uint32_t i = 0; i < s->desc_pool_count; i++) EVK__VK_TRY(vkResetDescriptorPool(dev, s->desc_pools[i], 0));
    s->desc_pool_current = 0;
    evk__stream_release_views(s);
    s->written.n = s->read.n = 0;
    s->dispatches = s->barriers = 0;
    s->queries_used = 0;
    s->timed_count = 0;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    EVK__VK_TRY(vkBeginCommandBuffer(s->cmd, &bi));
    s->recording = 1;
    return EVK_OK;
}

static void evk__emit_barrier(evk_stream *s) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(s->cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
    s->barriers++;
    s->written.n = s->read.n = 0;
}

static int evk__overlaps(const evk__ranges *l, const evk__range *r) {
    for (uint32_t i = 0; i < l->n; i++)
        if (l->v[i].block == r->block && l->v[i].start < r->end && r->start < l->v[i].end) return 1;
    return 0;
}

static evk_status evk__push_range(evk__ranges *l, evk__range r) {
    if (!evk__grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory recording a stream");
    l->v[l->n++] = r;
    return EVK_OK;
}

/* Barrier if this access conflicts with an earlier one since the last barrier, then note it. */
static evk_status evk__track(evk_stream *s, const evk__range *ranges, const evk_access *access, uint32_t n) {
    int hazard = 0;
    for (uint32_t i = 0; i < n && !hazard; i++)
        hazard = evk__overlaps(&s->written, &ranges[i]) || ((access[i] & EVK_ACCESS_WRITE) && evk__overlaps(&s->read, &ranges[i]));
    if (hazard) evk__emit_barrier(s);
    for (uint32_t i = 0; i < n; i++) {
        if (access[i] & EVK_ACCESS_WRITE) EVK_TRY(evk__push_range(&s->written, ranges[i]));
        if (access[i] & EVK_ACCESS_READ) EVK_TRY(evk__push_range(&s->read, ranges[i]));
    }
    return EVK_OK;
}

evk_status evk_stream_barrier(evk_stream *s) {
    if (!s->recording) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_barrier: stream is not recording (call evk_stream_begin)");
    evk__emit_barrier(s);
    return EVK_OK;
}

static evk_status evk__alloc_set(evk_stream *s, VkDescriptorSetLayout layout, VkDescriptorSet *set) {
    VkDevice dev = s->ctx->device;
    for (;;) {
        if (s->desc_pool_current < s->desc_pool_count) {
            VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                              .descriptorPool = s->desc_pools[s->desc_pool_current],
                                              .descriptorSetCount = 1, .pSetLayouts = &layout};
            VkResult r = vkAllocateDescriptorSets(dev, &ai, set);
            if (r == VK_SUCCESS) return EVK_OK;
            if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
                return evk__vk_fail(r, "vkAllocateDescriptorSets", __FILE__, __LINE__);
            s->desc_pool_current++;
            continue;
        }
        if (!evk__grow((void **)&s->desc_pools, &s->desc_pool_cap, s->desc_pool_count + 1, sizeof *s->desc_pools))
            return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        VkDescriptorPoolSize sizes[2] = {
            {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, EVK__SETS_PER_POOL * 6},
            {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, EVK__SETS_PER_POOL * 3},
        };
        VkDescriptorPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                         .maxSets = EVK__SETS_PER_POOL, .poolSizeCount = 2, .pPoolSizes = sizes};
        EVK__VK_TRY(vkCreateDescriptorPool(dev, &ci, NULL, &s->desc_pools[s->desc_pool_count]));
        s->desc_pool_current = s->desc_pool_count++;
    }
}

static evk_status evk__query_slot(evk_stream *s, uint32_t *first) {
    uint32_t pool = s->queries_used / EVK__QUERIES_PER_POOL;
    if (pool >= s->query_pool_count) {
        if (!evk__grow((void **)&s->query_pools, &s->query_pool_cap, pool + 1, sizeof *s->query_pools))
            return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = EVK__QUERIES_PER_POOL};
        EVK__VK_TRY(vkCreateQueryPool(s->ctx->device, &qi, NULL, &s->query_pools[pool]));
        s->query_pool_count++;
    }
    if (s->queries_used % EVK__QUERIES_PER_POOL == 0)
        vkCmdResetQueryPool(s->cmd, s->query_pools[pool], 0, EVK__QUERIES_PER_POOL);
    *first = s->queries_used;
    s->queries_used += 2;
    return EVK_OK;
}

static VkFormat evk__texel_format(evk_binding_kind k, uint32_t *bytes) {
    switch (k) {
    case EVK_BINDING_TEXEL_R32F: *bytes = 4; return VK_FORMAT_R32_SFLOAT;
    case EVK_BINDING_TEXEL_RGBA32F: *bytes = 16; return VK_FORMAT_R32G32B32A32_SFLOAT;
    case EVK_BINDING_TEXEL_R16F: *bytes = 2; return VK_FORMAT_R16_SFLOAT;
    case EVK_BINDING_TEXEL_RGBA16F: *bytes = 8; return VK_FORMAT_R16G16B16A16_SFLOAT;
    default: *bytes = 1; return VK_FORMAT_UNDEFINED;
    }
}

/* Where a binding's view starts in its memory block, and how far the binding reaches. */
static evk_status evk__binding_range(const evk_pipeline *p, uint32_t i, const evk_binding *b, uint64_t *start, uint64_t *range) {
    *start = *range = 0; /* set on every path: callers read them only after success, but need not prove that */
    if (!b->buffer.block) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dispatch of '%s': binding %u has no buffer", p->name, i);
    *range = b->range ? b->range : (b->offset < b->buffer.size ? b->buffer.size - b->offset : 0);
    if (b->offset > b->buffer.size || *range == 0 || *range > b->buffer.size - b->offset)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dispatch of '%s': binding %u range [%llu, +%llu) outside its buffer of %llu bytes",
                        p->name, i, (unsigned long long)b->offset, (unsigned long long)*range, (unsigned long long)b->buffer.size);
    *start = b->buffer.offset + b->offset;
    return EVK_OK;
}

/* Vulkan binds storage and texel buffers only at offsets that are multiples of the device's
 * alignment (16 bytes on lavapipe, up to 256 elsewhere), but a row view of a tensor may start at
 * any row: the scores of the second individual of a population chunk sit 4 bytes in. Such a
 * binding is bounced: its bytes are copied into an aligned scratch range, the kernel runs on
 * that, and the range is copied back if the kernel may write it. Kernels need no offset
 * parameter, and only misaligned views (small per-individual vectors in practice) pay the two
 * copies. The scratch range is freed once recorded; the stream orders its reuse like any other. */
static evk_status evk__bounce_misaligned(evk_stream *s, const evk_pipeline *p, const evk_dispatch *d, evk_binding *local,
                                         evk_buffer *scratch) {
    const evk_device_info *info = &s->ctx->info;
    for (uint32_t i = 0; i < d->binding_count; i++) {
        const evk_binding *b = &d->bindings[i];
        uint64_t start, range;
        EVK_TRY(evk__binding_range(p, i, b, &start, &range));
        local[i] = *b;
        uint64_t align = p->desc.kinds[i] == EVK_BINDING_STORAGE ? info->min_storage_buffer_offset_alignment
                                                                 : info->min_texel_buffer_offset_alignment;
        if (!align || start % align == 0) continue;
        EVK_TRY(evk_buffer_alloc(s->ctx, range, &scratch[i]));
        /* copied in even for write-only bindings: a kernel that leaves some elements alone must
         * not have the copy back overwrite them with scratch garbage */
        EVK_TRY(evk_stream_copy(s, &b->buffer, b->offset, &scratch[i], 0, range));
        local[i] = (evk_binding){.buffer = scratch[i], .offset = 0, .range = range, .access = b->access};
    }
    return EVK_OK;
}

static evk_status evk__dispatch_bound(evk_stream *s, const evk_dispatch *d);

evk_status evk_stream_dispatch(evk_stream *s, const evk_dispatch *d) {
    if (!s->recording) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_dispatch: stream is not recording (call evk_stream_begin)");
    const evk_pipeline *p = d->pipeline;
    if (!p) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_dispatch: no pipeline");
    if (d->binding_count != p->desc.binding_count || d->push_size != p->desc.push_size)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dispatch of '%s': %u bindings and %u push bytes given, pipeline has %u and %u",
                        p->name, d->binding_count, d->push_size, p->desc.binding_count, p->desc.push_size);
    evk_binding local[EVK_MAX_BINDINGS];
    evk_buffer scratch[EVK_MAX_BINDINGS];
    memset(scratch, 0, sizeof scratch);
    evk_status st = evk__bounce_misaligned(s, p, d, local, scratch);
    evk_dispatch bound = *d;
    bound.bindings = local;
    if (!st) st = evk__dispatch_bound(s, &bound);
    for (uint32_t i = 0; !st && i < d->binding_count; i++) {
        const evk_binding *b = &d->bindings[i];
        bool writes = p->desc.kinds[i] == EVK_BINDING_STORAGE && (!b->access || (b->access & EVK_ACCESS_WRITE));
        if (scratch[i].block && writes) st = evk_stream_copy(s, &scratch[i], 0, &b->buffer, b->offset, local[i].range);
    }
    for (uint32_t i = 0; i < d->binding_count; i++) evk_buffer_free(s->ctx, &scratch[i]);
    return st;
}

/* The dispatch itself, once every binding is aligned. */
static evk_status evk__dispatch_bound(evk_stream *s, const evk_dispatch *d) {
    evk_context *ctx = s->ctx;
    const evk_pipeline *p = d->pipeline;
    uint32_t g[3];
    for (int i = 0; i < 3; i++) {
        g[i] = d->groups[i] ? d->groups[i] : 1;
        if (g[i] > ctx->info.max_workgroup_count[i])
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dispatch of '%s': %u workgroups along %c exceed the device limit %u",
                            p->name, g[i], "xyz"[i], ctx->info.max_workgroup_count[i]);
    }
    VkDescriptorBufferInfo infos[EVK_MAX_BINDINGS];
    VkBufferView views[EVK_MAX_BINDINGS];
    VkWriteDescriptorSet writes[EVK_MAX_BINDINGS];
    evk__range ranges[EVK_MAX_BINDINGS];
    evk_access access[EVK_MAX_BINDINGS];
    VkDescriptorSet set;
    EVK_TRY(evk__alloc_set(s, p->set_layout, &set));
    for (uint32_t i = 0; i < d->binding_count; i++) {
        const evk_binding *b = &d->bindings[i];
        uint64_t start, range;
        EVK_TRY(evk__binding_range(p, i, b, &start, &range));
        writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = i,
                                           .descriptorCount = 1};
        if (p->desc.kinds[i] == EVK_BINDING_STORAGE) {
            if (range > ctx->info.max_storage_buffer_range)
                return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dispatch of '%s': binding %u spans %llu bytes, beyond the device's maxStorageBufferRange %llu (split the work)",
                                p->name, i, (unsigned long long)range, (unsigned long long)ctx->info.max_storage_buffer_range);
            if (start % ctx->info.min_storage_buffer_offset_alignment) /* bounced above; kept as the device's rule */
                return evk_fail(EVK_ERROR_INTERNAL, "dispatch of '%s': binding %u at byte %llu of its memory block not aligned to %u bytes",
                                p->name, i, (unsigned long long)start, ctx->info.min_storage_buffer_offset_alignment);
            infos[i] = (VkDescriptorBufferInfo){.buffer = b->buffer.block->buffer, .offset = start, .range = range};
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            writes[i].pBufferInfo = &infos[i];
        } else {
            uint32_t texel;
            VkFormat fmt = evk__texel_format(p->desc.kinds[i], &texel);
            uint64_t elems = range / texel;
            if (elems == 0 || elems > ctx->info.max_texel_buffer_elements || start % ctx->info.min_texel_buffer_offset_alignment)
                return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "dispatch of '%s': texel binding %u has %llu texels at offset %llu (device max %u, alignment %u)",
                                p->name, i, (unsigned long long)elems, (unsigned long long)start,
                                ctx->info.max_texel_buffer_elements, ctx->info.min_texel_buffer_offset_alignment);
            if (!evk__grow((void **)&s->views, &s->view_cap, s->view_count + 1, sizeof *s->views))
                return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            VkBufferViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, .buffer = b->buffer.block->buffer,
                                         .format = fmt, .offset = start, .range = elems * texel};
            EVK__VK_TRY(vkCreateBufferView(ctx->device, &vi, NULL, &views[i]));
            s->views[s->view_count++] = views[i];
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
            writes[i].pTexelBufferView = &views[i];
        }
        ranges[i] = (evk__range){b->buffer.block, start, start + range};
        access[i] = b->access ? b->access : EVK_ACCESS_READ_WRITE;
        if (p->desc.kinds[i] != EVK_BINDING_STORAGE) access[i] = EVK_ACCESS_READ;
    }
    vkUpdateDescriptorSets(ctx->device, d->binding_count, writes, 0, NULL);
    EVK_TRY(evk__track(s, ranges, access, d->binding_count));

    uint32_t q = 0;
    int timed = ctx->profiling;
    if (timed) {
        EVK_TRY(evk__query_slot(s, &q));
        if (!evk__grow((void **)&s->timed, &s->timed_cap, s->timed_count + 1, sizeof *s->timed))
            return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        evk__timed *t = &s->timed[s->timed_count++];
        snprintf(t->label, sizeof t->label, "%s", d->label ? d->label : p->name);
        t->query = q;
        vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, s->query_pools[q / EVK__QUERIES_PER_POOL], q % EVK__QUERIES_PER_POOL);
    }
    vkCmdBindPipeline(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    vkCmdBindDescriptorSets(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    if (d->push_size) vkCmdPushConstants(s->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, d->push_size, d->push);
    vkCmdDispatch(s->cmd, g[0], g[1], g[2]);
    if (timed)
        vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->query_pools[(q + 1) / EVK__QUERIES_PER_POOL],
                            (q + 1) % EVK__QUERIES_PER_POOL);
    s->dispatches++;
    return EVK_OK;
}

evk_status evk_stream_copy(evk_stream *s, const evk_buffer *src, uint64_t src_offset, const evk_buffer *dst,
                           uint64_t dst_offset, uint64_t size) {
    if (!s->recording) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_copy: stream is not recording (call evk_stream_begin)");
    if (!src->block || !dst->block || src_offset > src->size || size > src->size - src_offset || dst_offset > dst->size ||
        size > dst->size - dst_offset || size == 0)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_copy: %llu bytes from offset %llu of %llu to offset %llu of %llu do not fit",
                        (unsigned long long)size, (unsigned long long)src_offset, (unsigned long long)src->size,
                        (unsigned long long)dst_offset, (unsigned long long)dst->size);
    evk__range r[2] = {{src->block, src->offset + src_offset, src->offset + src_offset + size},
                       {dst->block, dst->offset + dst_offset, dst->offset + dst_offset + size}};
    evk_access a[2] = {EVK_ACCESS_READ, EVK_ACCESS_WRITE};
    EVK_TRY(evk__track(s, r, a, 2));
    VkBufferCopy region = {.srcOffset = r[0].start, .dstOffset = r[1].start, .size = size};
    vkCmdCopyBuffer(s->cmd, src->block->buffer, dst->block->buffer, 1, &region);
    return EVK_OK;
}

evk_status evk_stream_copy_strided(evk_stream *s, const evk_buffer *src, uint64_t src_offset, uint64_t src_stride,
                                   const evk_buffer *dst, uint64_t dst_offset, uint64_t dst_stride, uint64_t size,
                                   uint64_t count) {
    if (!s->recording)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_copy_strided: stream is not recording (call evk_stream_begin)");
    if (count == 0 || count > UINT32_MAX || size == 0 || !src->block || !dst->block)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_copy_strided: %llu copies of %llu bytes", (unsigned long long)count,
                        (unsigned long long)size);
    /* the spans [offset, offset + (count − 1)·stride + size) must lie inside both buffers */
    const uint64_t last_src = (count - 1) * src_stride, last_dst = (count - 1) * dst_stride;
    if (src_stride && last_src / src_stride != count - 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_copy_strided: source span overflows");
    if (dst_stride && last_dst / dst_stride != count - 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_copy_strided: destination span overflows");
    if (src_offset > src->size || last_src > src->size - src_offset || size > src->size - src_offset - last_src ||
        dst_offset > dst->size || last_dst > dst->size - dst_offset || size > dst->size - dst_offset - last_dst)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "evk_stream_copy_strided: %llu copies of %llu bytes (strides %llu, %llu) from offset %llu of %llu to offset %llu of %llu do not fit",
                        (unsigned long long)count, (unsigned long long)size, (unsigned long long)src_stride,
                        (unsigned long long)dst_stride, (unsigned long long)src_offset, (unsigned long long)src->size,
                        (unsigned long long)dst_offset, (unsigned long long)dst->size);
    if (count == 1) return evk_stream_copy(s, src, src_offset, dst, dst_offset, size);
    if (src->block == dst->block) {
        /* regions of one command must not overlap: compare the spans (conservative) */
        uint64_t a0 = src->offset + src_offset, a1 = a0 + last_src + size, b0 = dst->offset + dst_offset, b1 = b0 + last_dst + size;
        if (a0 < b1 && b0 < a1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_copy_strided: source and destination overlap");
    }
    VkBufferCopy *regions = malloc((size_t)count * sizeof *regions);
    if (!regions) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "evk_stream_copy_strided: %llu regions", (unsigned long long)count);
    /* hazards are tracked on the spans, which hold every region */
    evk__range r[2] = {{src->block, src->offset + src_offset, src->offset + src_offset + last_src + size},
                       {dst->block, dst->offset + dst_offset, dst->offset + dst_offset + last_dst + size}};
    evk_access a[2] = {EVK_ACCESS_READ, EVK_ACCESS_WRITE};
    evk_status st = evk__track(s, r, a, 2);
    if (st) {
        free(regions);
        return st;
    }
    for (uint64_t i = 0; i < count; i++)
        regions[i] = (VkBufferCopy){.srcOffset = r[0].start + i * src_stride, .dstOffset = r[1].start + i * dst_stride, .size = size};
    vkCmdCopyBuffer(s->cmd, src->block->buffer, dst->block->buffer, (uint32_t)count, regions);
    free(regions);
    return EVK_OK;
}

evk_status evk_stream_update(evk_stream *s, const evk_buffer *dst, uint64_t dst_offset, const void *data, uint64_t size) {
    if (!s->recording) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_update: stream is not recording (call evk_stream_begin)");
    if (!dst->block || size == 0 || size % 4 || (dst->offset + dst_offset) % 4 || dst_offset > dst->size || size > dst->size - dst_offset)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_update: %llu bytes at offset %llu of a %llu-byte buffer (sizes and offsets must be multiples of 4)",
                        (unsigned long long)size, (unsigned long long)dst_offset, (unsigned long long)dst->size);
    evk__range r = {dst->block, dst->offset + dst_offset, dst->offset + dst_offset + size};
    evk_access a = EVK_ACCESS_WRITE;
    EVK_TRY(evk__track(s, &r, &a, 1));
    for (uint64_t done = 0; done < size;) {
        uint64_t n = size - done < 65536 ? size - done : 65536;
        vkCmdUpdateBuffer(s->cmd, dst->block->buffer, r.start + done, n, (const char *)data + done);
        done += n;
    }
    return EVK_OK;
}

evk_status evk_stream_submit(evk_stream *s) {
    if (!s->recording) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_stream_submit: stream is not recording");
    /* make every result visible to the host and to the next stream */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    s->recording = 0;
    EVK__VK_TRY(vkEndCommandBuffer(s->cmd));
    EVK__VK_TRY(vkResetFences(s->ctx->device, 1, &s->fence));
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &s->cmd};
    EVK__VK_TRY(vkQueueSubmit(s->ctx->queue, 1, &si, s->fence));
    s->submitted = 1;
    return EVK_OK;
}

evk_status evk_stream_wait(evk_stream *s, uint64_t timeout_ns) {
    if (!s->submitted) return EVK_OK;
    if (!timeout_ns) timeout_ns = s->ctx->timeout_ns;
    VkResult r = vkWaitForFences(s->ctx->device, 1, &s->fence, VK_TRUE, timeout_ns);
    if (r == VK_TIMEOUT) s->ctx->stuck = 1;
    if (r == VK_TIMEOUT)
        return evk_fail(EVK_ERROR_TIMEOUT, "a stream of %u dispatches did not finish within %.0f s (EVOKE_TIMEOUT sets the limit)",
                        s->dispatches, timeout_ns / 1e9);
    s->submitted = 0;
    if (r != VK_SUCCESS) return evk__vk_fail(r, "vkWaitForFences (waiting for a stream)", __FILE__, __LINE__);
    s->last_gpu_ms = -1;
    if (s->timed_count) {
        uint64_t *ts = malloc(s->queries_used * sizeof *ts);
        if (!ts) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory reading timestamps");
        for (uint32_t pool = 0; pool * EVK__QUERIES_PER_POOL < s->queries_used; pool++) {
            uint32_t n = s->queries_used - pool * EVK__QUERIES_PER_POOL;
            if (n > EVK__QUERIES_PER_POOL) n = EVK__QUERIES_PER_POOL;
            r = vkGetQueryPoolResults(s->ctx->device, s->query_pools[pool], 0, n, n * sizeof *ts, ts + pool * EVK__QUERIES_PER_POOL,
                                      sizeof *ts, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
            if (r != VK_SUCCESS) { free(ts); return evk__vk_fail(r, "vkGetQueryPoolResults", __FILE__, __LINE__); }
        }
        double period = s->ctx->info.timestamp_period_ns;
        uint64_t first = ts[s->timed[0].query], last = first;
        for (uint32_t i = 0; i < s->timed_count; i++) {
            uint64_t a = ts[s->timed[i].query], b = ts[s->timed[i].query + 1];
            evk__profile_add(s->ctx, s->timed[i].label, b > a ? (b - a) * period / 1e6 : 0.0);
            if (b > last) last = b;
            if (a < first) first = a;
        }
        s->last_gpu_ms = (last - first) * period / 1e6;
        free(ts);
    }
    return EVK_OK;
}

evk_status evk_stream_run(evk_stream *s) {
    EVK_TRY(evk_stream_submit(s));
    return evk_stream_wait(s, 0);
}

/* ---- profile table --------------------------------------------------------------------------- */

void evk__profile_add(evk_context *ctx, const char *label, double ms) {
    evk__profile *pr = &ctx->profile;
    for (uint32_t i = 0; i < pr->count; i++)
        if (strncmp(pr->rows[i].label, label, sizeof pr->rows[i].label - 1) == 0) {
            pr->rows[i].calls++;
            pr->rows[i].total_ms += ms;
            return;
        }
    if (!evk__grow((void **)&pr->rows, &pr->cap, pr->count + 1, sizeof *pr->rows)) return;
    evk_profile_row *row = &pr->rows[pr->count++];
    memset(row, 0, sizeof *row);
    snprintf(row->label, sizeof row->label, "%s", label);
    row->calls = 1;
    row->total_ms = ms;
}

static int evk__row_cmp(const void *a, const void *b) {
    double x = ((const evk_profile_row *)a)->total_ms, y = ((const evk_profile_row *)b)->total_ms;
    return (x < y) - (x > y);
}

const evk_profile_row *evk_profile_rows(evk_context *ctx, uint32_t *count) {
    qsort(ctx->profile.rows, ctx->profile.count, sizeof *ctx->profile.rows, evk__row_cmp);
    *count = ctx->profile.count;
    return ctx->profile.rows;
}

void evk_profile_reset(evk_context *ctx) { ctx->profile.count = 0; }

void evk__profile_destroy(evk_context *ctx) {
    free(ctx->profile.rows);
    ctx->profile.rows = NULL;
    ctx->profile.count = ctx->profile.cap = 0;
}

void evk_profile_print(evk_context *ctx, FILE *out) {
    uint32_t n;
    const evk_profile_row *rows = evk_profile_rows(ctx, &n);
    double total = 0;
    for (uint32_t i = 0; i < n; i++) total += rows[i].total_ms;
    fprintf(out, "evoke profile (GPU timestamps, %s)\n", ctx->info.name);
    fprintf(out, "%-32s %10s %12s %12s %7s\n", "kernel", "calls", "total ms", "mean us", "share");
    for (uint32_t i = 0; i < n; i++)
        fprintf(out, "%-32s %10llu %12.3f %12.2f %6.1f%%\n", rows[i].label, (unsigned long long)rows[i].calls,
                rows[i].total_ms, rows[i].calls ? 1e3 * rows[i].total_ms / rows[i].calls : 0.0,
                total > 0 ? 100.0 * rows[i].total_ms / total : 0.0);
    fprintf(out, "%-32s %10s %12.3f\n", "total", "", total);
}
