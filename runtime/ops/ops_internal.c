/* ops_internal.c — the helpers of ops_internal.h that the kernels' C entries share. */
#include "ops/ops_internal.h"

evk_binding_kind evk__texel_kind(evk_dtype dt, bool vec) {
    if (dt == EVK_DTYPE_F16) return vec ? EVK_BINDING_TEXEL_RGBA16F : EVK_BINDING_TEXEL_R16F;
    return vec ? EVK_BINDING_TEXEL_RGBA32F : EVK_BINDING_TEXEL_R32F;
}

uint64_t evk__binding_limit(const evk_device_info *info, evk_binding_kind kind, uint64_t es) {
    if (kind == EVK_BINDING_STORAGE) return info->max_storage_buffer_range;
    bool rgba = kind == EVK_BINDING_TEXEL_RGBA32F || kind == EVK_BINDING_TEXEL_RGBA16F;
    return (uint64_t)info->max_texel_buffer_elements * (rgba ? 4 : 1) * es;
}

evk_status evk__bind_range(const evk_device_info *info, const char *op, const char *name, const evk_tensor *t, uint64_t first,
                           uint64_t count, evk_binding_kind kind, evk_access access, evk_binding *out, uint32_t *elem_off) {
    uint64_t es = evk_dtype_size(t->dtype);
    uint64_t align = kind == EVK_BINDING_STORAGE ? info->min_storage_buffer_offset_alignment : info->min_texel_buffer_offset_alignment;
    if (align < es) align = es;
    uint64_t start = first * es, end = (first + count) * es, mis = (t->buf.offset + start) % align;
    if (mis > start)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: tensor %s starts %llu bytes into its block, not aligned to %llu bytes", op, name,
                        (unsigned long long)t->buf.offset, (unsigned long long)align);
    *out = (evk_binding){.buffer = t->buf, .offset = start - mis, .range = end - (start - mis), .access = access};
    *elem_off = (uint32_t)(mis / es);
    uint64_t limit = evk__binding_limit(info, kind, es);
    if (out->range > limit)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "%s: tensor %s needs a binding of %llu bytes, beyond the device's limit of %llu bytes", op,
                        name, (unsigned long long)out->range, (unsigned long long)limit);
    return EVK_OK;
}

bool evk__ranges_overlap(const evk_tensor *x, const evk_tensor *y) {
    if (!x || !y || x->buf.block != y->buf.block) return false;
    uint64_t xa = x->buf.offset, xb = xa + evk_tensor_bytes(x), ya = y->buf.offset, yb = ya + evk_tensor_bytes(y);
    return xa < yb && ya < xb;
}

evk_status evk__check_f32(const char *op, const char *name, const evk_tensor *t) {
    if (!t) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %s is required", op, name);
    if (t->dtype != EVK_DTYPE_F32)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %s is %s, expected f32", op, name, evk_dtype_name(t->dtype));
    return EVK_OK;
}

uint64_t evk__gcd(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void evk__grid_1d(uint64_t count, uint32_t local, uint32_t groups[3]) {
    uint64_t g = (count + local - 1) / local;
    if (g == 0) g = 1;
    groups[0] = g < 65535 ? (uint32_t)g : 65535u;
    groups[1] = (uint32_t)((g + groups[0] - 1) / groups[0]);
    groups[2] = 1;
}

bool evk__cpu_shuffle_fits(const evk_device_info *info) {
    if (!info->features.subgroup_shuffle) return false;
    const evk__cpu_tile tiles[3] = {EVK__CPU_TILE_SMALL, EVK__CPU_TILE_LARGE, EVK__CPU_TILE_NARROW};
    for (int i = 0; i < 3; i++)
        if (info->min_subgroup_size != tiles[i].lanes_n || info->max_subgroup_size != tiles[i].lanes_n || tiles[i].tm % tiles[i].lanes_n != 0)
            return false;
    return true;
}
