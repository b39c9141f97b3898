// peak_copy.comp — bandwidth peak: copy a large buffer, 16 bytes per invocation per step.
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
layout(push_constant) uniform Push { uint count; } p;

void main() {
    uint i = evk_flat_index();
    if (i >= p.count) return;
#ifdef TEXEL
    dst[i] = texelFetch(src, int(i));
#else
    dst[i] = src[i];
#endif
}
