// peak_copy.comp — bandwidth peak: copy a large buffer, ITEMS 16-byte texels per invocation
// (neighbouring invocations touch neighbouring texels at every step) so that per-invocation
// overhead, large on CPU drivers, does not hide the memory system.
// Two variants: reads from a storage buffer (what GPUs are fastest at) and reads through a
// uniform texel buffer (what CPU drivers vectorise); the faster one is the device's figure.
// Specialization: 0 workgroup size.
// variant: storage
// variant: texel -DTEXEL
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
#ifdef TEXEL
layout(binding = 0) uniform samplerBuffer src;
#else
layout(std430, binding = 0) readonly buffer Src { vec4 src[]; };
#endif
layout(std430, binding = 1) writeonly buffer Dst { vec4 dst[]; };
layout(push_constant) uniform Push {
    uint count;   // texels, a multiple of ITEMS
} p;

#define ITEMS 16

void main() {
    uint i = evk_flat_index();
    uint stride = p.count / ITEMS;
    if (i >= stride) return;
    for (uint t = 0; t < ITEMS; t++) {
        uint e = i + t * stride;
#ifdef TEXEL
        dst[e] = texelFetch(src, int(e));
#else
        dst[e] = src[e];
#endif
    }
}
