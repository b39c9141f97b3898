/* pipeline.h — compute pipelines built from the SPIR-V embedded at build time.
 *
 * Every shaders/NAME.comp is compiled by glslc into the binary (variants declared in the shader
 * with `// variant: SUFFIX -DDEFINE ...` lines become NAME_SUFFIX). A pipeline is identified by
 * its shader name, binding kinds, push-constant size and specialization constants; it is created
 * once per context and kept. Creation goes through a VkPipelineCache that is saved to the user's
 * cache directory when the context is destroyed, so the next start skips compilation. */
#ifndef EVK_PIPELINE_H
#define EVK_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/context.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVK_MAX_BINDINGS 12
#define EVK_MAX_SPEC 16

typedef struct evk_pipeline evk_pipeline;

/* How a binding is seen by the shader. Texel kinds are read-only uniform texel buffers
 * (samplerBuffer / texelFetch), which CPU drivers vectorise much better than SSBO loads. */
typedef enum evk_binding_kind {
    EVK_BINDING_STORAGE = 0,
    EVK_BINDING_TEXEL_R32F,
    EVK_BINDING_TEXEL_RGBA32F,
    EVK_BINDING_TEXEL_R16F,
    EVK_BINDING_TEXEL_RGBA16F,
} evk_binding_kind;

typedef struct evk_pipeline_desc {
    const char *shader;                       /* embedded SPIR-V name, e.g. "fill" */
    uint32_t binding_count;                   /* bindings 0..n-1 in set 0 */
    evk_binding_kind kinds[EVK_MAX_BINDINGS]; /* zero: all storage buffers */
    uint32_t push_size;                       /* bytes of push constants (multiple of 4) */
    uint32_t spec_count;                      /* specialization constants with ids 0..n-1 */
    uint32_t spec[EVK_MAX_SPEC];              /* 32-bit each; floats bit-cast */
} evk_pipeline_desc;

/* The embedded SPIR-V of one shader variant (generated at build time). */
typedef struct evk_spirv {
    const char *name;
    const uint32_t *code;
    size_t size; /* bytes */
} evk_spirv;

const evk_spirv *evk_spirv_find(const char *name);
/* All embedded shaders, for listings and tests. */
const evk_spirv *evk_spirv_all(size_t *count);

/* Get (create once, then reuse) the pipeline for this description. */
evk_status evk_pipeline_get(evk_context *ctx, const evk_pipeline_desc *desc, evk_pipeline **out);
const char *evk_pipeline_name(const evk_pipeline *pipeline);

typedef struct evk_pipeline_stats {
    uint32_t pipelines;        /* created in this context */
    double create_ms;          /* total time spent creating them */
    uint64_t cache_bytes_loaded;
    int cache_loaded;          /* 1 if a saved cache was found and accepted */
    char cache_path[512];
} evk_pipeline_stats;

void evk_pipeline_get_stats(const evk_context *ctx, evk_pipeline_stats *out);
/* Write the pipeline cache now (also done by evk_context_destroy). */
evk_status evk_pipeline_cache_save(evk_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
