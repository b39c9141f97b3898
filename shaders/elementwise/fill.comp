// fill.comp — write a 32-bit pattern or a float ramp over a range of words. Used to poison
// outputs before kernel tests and as the smallest real kernel (push + specialization constants).
// Specialization: 0 = workgroup size, 1 = mode (0: raw bits, 1: ramp value + i * step).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;

layout(std430, binding = 0) writeonly buffer Out { uint data[]; };
layout(push_constant) uniform Push {
    uint offset;
    uint count;
    uint value_bits;
    float step;
} p;

void main() {
    uint i = evk_flat_index();
    if (i >= p.count) return;
    if (MODE == 0) data[p.offset + i] = p.value_bits;
    else data[p.offset + i] = floatBitsToUint(uintBitsToFloat(p.value_bits) + float(i) * p.step);
}
