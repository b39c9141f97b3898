/* pipeline.c — compute pipelines from embedded SPIR-V: created once per (shader, bindings,
 * push size, specialization constants) and kept for the context's life, through a
 * VkPipelineCache that is loaded from and saved to the user's cache directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "core/internal.h"

static double evk__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* mkdir -p */
static int evk__mkdirs(const char *path) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void evk__cache_path(evk_context *ctx, char *out, size_t n) {
    char dir[400];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (ctx->config.cache_dir) snprintf(dir, sizeof dir, "%s", ctx->config.cache_dir);
    else if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/evoke", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/evoke", home);
    else { out[0] = 0; return; }
    char uuid[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++) snprintf(uuid + 2 * i, 3, "%02x", ctx->pipeline_cache_uuid[i]);
    snprintf(out, n, "%s/pipelines-%04x-%04x-%s.bin", dir, ctx->info.vendor_id, ctx->info.device_id, uuid);
}

/* A saved cache is only offered to the driver if its header names this exact device. */
static int evk__cache_header_ok(evk_context *ctx, const uint8_t *data, size_t size) {
    if (size < 16 + VK_UUID_SIZE) return 0;
    uint32_t hdr[4];
    memcpy(hdr, data, sizeof hdr);
    return hdr[0] >= 16 + VK_UUID_SIZE && hdr[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
           hdr[2] == ctx->info.vendor_id && hdr[3] == ctx->info.device_id &&
           memcmp(data + 16, ctx->pipeline_cache_uuid, VK_UUID_SIZE) == 0;
}

evk_status evk__pipelines_init(evk_context *ctx) {
    evk_pipeline_stats *st = &ctx->pipeline_stats;
    void *data = NULL;
    size_t size = 0;
    if (!ctx->config.no_pipeline_cache) {
        evk__cache_path(ctx, st->cache_path, sizeof st->cache_path);
        /* a missing, unreadable or foreign cache is not an error: start empty */
        uint8_t *bytes = NULL;
        size_t n = 0;
        if (st->cache_path[0] && access(st->cache_path, R_OK) == 0 && evk_file_read(st->cache_path, (size_t)1 << 30, &bytes, &n) == EVK_OK) {
            data = bytes;
            if (n > 0 && evk__cache_header_ok(ctx, data, n)) size = n;
        }
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = size, .pInitialData = size ? data : NULL};
    VkResult r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    if (r != VK_SUCCESS && size) { /* a stale or damaged cache is not an error: start empty */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        size = 0;
        r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    }
    free(data);
    if (r != VK_SUCCESS) return evk__vk_fail(r, "vkCreatePipelineCache", __FILE__, __LINE__);
    st->cache_loaded = size > 0;
    st->cache_bytes_loaded = size;
    return EVK_OK;
}

evk_status evk_pipeline_cache_save(evk_context *ctx) {
    const char *path = ctx->pipeline_stats.cache_path;
    if (ctx->config.no_pipeline_cache || !path[0] || !ctx->pipeline_cache_dirty) return EVK_OK;
    size_t size = 0;
    EVK__VK_TRY(vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, NULL));
    void *data = malloc(size ? size : 1);
    if (!data) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory saving the pipeline cache");
    VkResult r = vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, data);
    if (r != VK_SUCCESS) { free(data); return evk__vk_fail(r, "vkGetPipelineCacheData", __FILE__, __LINE__); }
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    evk_status s = EVK_OK;
    if (evk__mkdirs(dir) != 0) s = evk_fail(EVK_ERROR_IO, "cannot create the pipeline cache folder %s: %s", dir, strerror(errno));
    else s = evk_file_write_atomic(path, data, size);
    if (!s) ctx->pipeline_cache_dirty = 0;
    free(data);
    return s;
}

void evk__pipelines_destroy(evk_context *ctx) {
    if (!ctx->stuck && evk_pipeline_cache_save(ctx) != EVK_OK)
        fprintf(stderr, "evoke: warning: %s\n", evk_error_message());
    for (evk_pipeline *p = ctx->pipelines, *next; p; p = next) {
        next = p->next;
        if (!ctx->stuck) { /* else the device may still run them (context.c) */
            vkDestroyPipeline(ctx->device, p->pipeline, NULL);
            vkDestroyPipelineLayout(ctx->device, p->layout, NULL);
            vkDestroyDescriptorSetLayout(ctx->device, p->set_layout, NULL);
        }
        free(p);
    }
    ctx->pipelines = NULL;
    if (ctx->pipeline_cache && !ctx->stuck) vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
}

static int evk__desc_equal(const evk_pipeline_desc *a, const evk_pipeline_desc *b) {
    if (strcmp(a->shader, b->shader) || a->binding_count != b->binding_count || a->push_size != b->push_size ||
        a->spec_count != b->spec_count)
        return 0;
    for (uint32_t i = 0; i < a->binding_count; i++)
        if (a->kinds[i] != b->kinds[i]) return 0;
    for (uint32_t i = 0; i < a->spec_count; i++)
        if (a->spec[i] != b->spec[i]) return 0;
    return 1;
}

static evk_status evk__pipeline_build(evk_context *ctx, evk_pipeline *p, const evk_spirv *spv) {
    VkDescriptorSetLayoutBinding b[EVK_MAX_BINDINGS];
    for (uint32_t i = 0; i < p->desc.binding_count; i++) {
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = p->desc.kinds[i] == EVK_BINDING_STORAGE ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                                                                      : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    }
    VkDescriptorSetLayoutCreateInfo dl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = p->desc.binding_count, .pBindings = b};
    EVK__VK_TRY(vkCreateDescriptorSetLayout(ctx->device, &dl, NULL, &p->set_layout));
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = p->desc.push_size};
    VkPipelineLayoutCreateInfo pl = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                     .pSetLayouts = &p->set_layout, .pushConstantRangeCount = p->desc.push_size ? 1 : 0,
                                     .pPushConstantRanges = &pr};
    EVK__VK_TRY(vkCreatePipelineLayout(ctx->device, &pl, NULL, &p->layout));
    VkShaderModuleCreateInfo sm = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = spv->size,
                                   .pCode = spv->code};
    VkShaderModule module;
    EVK__VK_TRY(vkCreateShaderModule(ctx->device, &sm, NULL, &module));
    VkSpecializationMapEntry entries[EVK_MAX_SPEC];
    for (uint32_t i = 0; i < p->desc.spec_count; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = p->desc.spec_count, .pMapEntries = entries,
                               .dataSize = 4 * p->desc.spec_count, .pData = p->desc.spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main",
                  .pSpecializationInfo = p->desc.spec_count ? &si : NULL},
        .layout = p->layout,
    };
    double t0 = evk__now_ms();
    VkResult r = vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &ci, NULL, &p->pipeline);
    ctx->pipeline_stats.create_ms += evk__now_ms() - t0;
    vkDestroyShaderModule(ctx->device, module, NULL);
    if (r != VK_SUCCESS) return evk__vk_fail(r, "vkCreateComputePipelines", __FILE__, __LINE__);
    return EVK_OK;
}

evk_status evk_pipeline_get(evk_context *ctx, const evk_pipeline_desc *desc, evk_pipeline **out) {
    *out = NULL;
    if (!desc || !desc->shader) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_pipeline_get: no shader name");
    for (evk_pipeline *p = ctx->pipelines; p; p = p->next)
        if (evk__desc_equal(&p->desc, desc)) { *out = p; return EVK_OK; }
    const evk_spirv *spv = evk_spirv_find(desc->shader);
    if (!spv) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "no embedded shader named '%s'", desc->shader);
    if (desc->binding_count > EVK_MAX_BINDINGS || desc->spec_count > EVK_MAX_SPEC || desc->push_size % 4 ||
        desc->push_size > ctx->info.max_push_constants)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                        "pipeline '%s': %u bindings (max %d), %u spec constants (max %d), %u push bytes (device max %u, multiple of 4)",
                        desc->shader, desc->binding_count, EVK_MAX_BINDINGS, desc->spec_count, EVK_MAX_SPEC,
                        desc->push_size, ctx->info.max_push_constants);
    evk_pipeline *p = calloc(1, sizeof *p);
    if (!p) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    p->desc = *desc;
    snprintf(p->name, sizeof p->name, "%s", desc->shader);
    p->desc.shader = p->name;
    evk_status s = evk__pipeline_build(ctx, p, spv);
    if (s) {
        if (p->pipeline) vkDestroyPipeline(ctx->device, p->pipeline, NULL);
        if (p->layout) vkDestroyPipelineLayout(ctx->device, p->layout, NULL);
        if (p->set_layout) vkDestroyDescriptorSetLayout(ctx->device, p->set_layout, NULL);
        free(p);
        return evk_fail_context(s, "creating pipeline '%s'", desc->shader);
    }
    p->next = ctx->pipelines;
    ctx->pipelines = p;
    ctx->pipeline_stats.pipelines++;
    ctx->pipeline_cache_dirty = 1;
    *out = p;
    return EVK_OK;
}

const char *evk_pipeline_name(const evk_pipeline *p) { return p->name; }

void evk_pipeline_get_stats(const evk_context *ctx, evk_pipeline_stats *out) { *out = ctx->pipeline_stats; }
