// elementwise.comp — binary ops out = a ∘ b with numpy-style broadcasting of b to a's shape
// (e.g. [N,C,H,W] + [N,C,1,1] to inject a time embedding). The host collapses the shapes to at
// most 6 runs of dims that are all broadcast or all kept, and passes b's stride per run (0 where
// broadcast); the common cases need one or two divisions per element.
// The _vec4 build handles 4 neighbours per invocation (the innermost run must divide by 4): one
// index decomposition per 4 outputs and 16-byte loads, 4× fewer integer divisions (scalarised on
// CPU drivers, where they dominated).
// Specialization: 0 = workgroup size, 1 = op (0 add, 1 mul, 2 sub).
// variant: any
// variant: vec4 -DEVK_VEC4=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint OP = 0;

layout(push_constant) uniform Push {
    uint count, ndim;
    uint dims[6];
    uint bstride[6];
} p;

#if EVK_VEC4
#define T vec4
#else
#define T float
#endif
layout(std430, binding = 0) readonly buffer Ab { T a[]; };
layout(std430, binding = 1) readonly buffer Bb { float b[]; };
layout(std430, binding = 2) writeonly buffer Ob { T o[]; };

void main() {
    uint i = evk_flat_index();
    if (i >= p.count) return; // count in units of T
#if EVK_VEC4
    uint rem = i * 4, bi = 0;
#else
    uint rem = i, bi = 0;
#endif
    for (int d = int(p.ndim) - 1; d >= 0; d--) {
        uint n = p.dims[d];
        uint c = rem % n;
        rem /= n;
        bi += c * p.bstride[d];
    }
#if EVK_VEC4
    T x = a[i], y = p.bstride[p.ndim - 1] == 0 ? vec4(b[bi]) : vec4(b[bi], b[bi + 1], b[bi + 2], b[bi + 3]);
#else
    T x = a[i], y = b[bi];
#endif
    o[i] = OP == 0 ? x + y : (OP == 1 ? x * y : x - y);
}
