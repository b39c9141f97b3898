/* op_image.c — C entries of shaders/layout/image.comp. */
#include "ops/op_image.h"

#include <string.h>

#include "ops/ops_internal.h"

static const uint32_t EVK__IMAGE_LOCAL = 256;

static evk_status evk__image_dispatch(evk_stream *s, const char *shader, const evk_tensor *x, const evk_tensor *y,
                                      const void *push, uint32_t push_size, uint64_t count) {
    evk_pipeline *pipe;
    evk_pipeline_desc desc = {.shader = shader, .binding_count = 2, .push_size = push_size, .spec_count = 1,
                              .spec = {EVK__IMAGE_LOCAL}};
    EVK_TRY(evk_pipeline_get(evk_stream_context(s), &desc, &pipe));
    evk_binding b[2] = {{.buffer = x->buf, .access = EVK_ACCESS_READ}, {.buffer = y->buf, .access = EVK_ACCESS_WRITE}};
    if (x->buf.block == y->buf.block && x->buf.offset == y->buf.offset) b[0].access = b[1].access = EVK_ACCESS_READ_WRITE;
    evk_dispatch d = {.pipeline = pipe, .bindings = b, .binding_count = 2, .push = push, .push_size = push_size};
    evk__grid_1d(count, EVK__IMAGE_LOCAL, d.groups);
    return evk_stream_dispatch(s, &d);
}

evk_status evk_op_affine_clamp(evk_stream *s, const evk_tensor *x, float a, float b, float lo, float hi, const evk_tensor *out) {
    int64_t n = evk_tensor_numel(x);
    if (n != evk_tensor_numel(out) || x->dtype != EVK_DTYPE_F32 || out->dtype != EVK_DTYPE_F32 || n > 0xffffffffll)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "affine_clamp: x and out must be f32 with the same element count (%lld vs %lld)",
                        (long long)n, (long long)evk_tensor_numel(out));
    struct { uint32_t n; float a, b, lo, hi; } push = {(uint32_t)n, a, b, lo, hi};
    return evk__image_dispatch(s, "image_affine_clamp", x, out, &push, sizeof push, (uint64_t)n);
}

void evk_image_resize_shape(int64_t h, int64_t w, int64_t shortest, int64_t *out_h, int64_t *out_w) {
    if (h <= w) {
        *out_h = shortest;
        *out_w = (int64_t)((double)shortest * (double)w / (double)h);
    } else {
        *out_w = shortest;
        *out_h = (int64_t)((double)shortest * (double)h / (double)w);
    }
}

static evk_status evk__resize_pass(evk_stream *s, const evk_tensor *x, const evk_tensor *y, uint32_t planes, uint32_t hi,
                                   uint32_t wi, uint32_t ho, uint32_t wo, uint32_t vertical) {
    uint32_t push[6] = {planes, hi, wi, ho, wo, vertical};
    return evk__image_dispatch(s, "image_resize", x, y, push, sizeof push, (uint64_t)planes * ho * wo);
}

evk_status evk_op_resize_bicubic(evk_stream *s, const evk_tensor *x, const evk_tensor *tmp, const evk_tensor *out) {
    if (x->ndim < 2 || out->ndim != x->ndim || x->dtype != EVK_DTYPE_F32 || out->dtype != EVK_DTYPE_F32)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "resize: x and out must be f32 [..., H, W] of the same rank");
    int64_t planes = evk_tensor_numel(x) / (x->shape[x->ndim - 1] * x->shape[x->ndim - 2]);
    int64_t hi = x->shape[x->ndim - 2], wi = x->shape[x->ndim - 1], ho = out->shape[out->ndim - 2], wo = out->shape[out->ndim - 1];
    for (int d = 0; d < x->ndim - 2; d++)
        if (x->shape[d] != out->shape[d]) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "resize: leading dims of x and out differ");
    if (planes * hi * wo > 0xffffffffll || planes * ho * wo > 0xffffffffll)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "resize: too many pixels for one dispatch");
    evk_context *ctx = evk_stream_context(s);
    evk_tensor own;
    memset(&own, 0, sizeof own);
    const evk_tensor *mid = tmp;
    if (!mid) {
        int64_t shape[EVK_MAX_DIMS];
        memcpy(shape, x->shape, sizeof shape);
        shape[x->ndim - 1] = wo;
        EVK_TRY(evk_tensor_alloc(ctx, EVK_DTYPE_F32, x->ndim, shape, &own));
        mid = &own;
    } else if (evk_tensor_numel(tmp) < planes * hi * wo) {
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "resize: tmp holds %lld values, %lld needed", (long long)evk_tensor_numel(tmp),
                        (long long)(planes * hi * wo));
    }
    evk_status st = evk__resize_pass(s, x, mid, (uint32_t)planes, (uint32_t)hi, (uint32_t)wi, (uint32_t)hi, (uint32_t)wo, 0);
    if (!st) st = evk__resize_pass(s, mid, out, (uint32_t)planes, (uint32_t)hi, (uint32_t)wo, (uint32_t)ho, (uint32_t)wo, 1);
    evk_tensor_free(ctx, &own); /* reuse within the stream is ordered by its barriers */
    return st;
}

evk_status evk_op_crop_normalize(evk_stream *s, const evk_tensor *x, uint32_t top, uint32_t left, const float mean[3],
                                 const float std[3], const evk_tensor *out) {
    if (x->ndim != 4 || out->ndim != 4 || x->shape[0] != out->shape[0] || x->shape[1] != out->shape[1] ||
        top + out->shape[2] > x->shape[2] || left + out->shape[3] > x->shape[3] || x->dtype != EVK_DTYPE_F32 ||
        out->dtype != EVK_DTYPE_F32)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "crop_normalize: a %lldx%lld crop at (%u, %u) does not fit a %lldx%lld image",
                        (long long)out->shape[2], (long long)out->shape[3], top, left, (long long)x->shape[2],
                        (long long)x->shape[3]);
    for (int c = 0; c < 3; c++)
        if (!(std[c] > 0)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "crop_normalize: image_std[%d] = %g", c, std[c]);
    struct {
        uint32_t batch, channels, h, w, ch, cw, top, left;
        float mean[4], inv_std[4];
    } push = {(uint32_t)x->shape[0], (uint32_t)x->shape[1], (uint32_t)x->shape[2], (uint32_t)x->shape[3],
              (uint32_t)out->shape[2], (uint32_t)out->shape[3], top, left,
              {mean[0], mean[1], mean[2], mean[2]}, {1 / std[0], 1 / std[1], 1 / std[2], 1 / std[2]}};
    return evk__image_dispatch(s, "image_crop_normalize", x, out, &push, sizeof push, (uint64_t)evk_tensor_numel(out));
}

static bool evk__image_planes(const evk_tensor *t, int64_t *planes, int64_t *h, int64_t *w) {
    if (t->ndim < 2 || t->dtype != EVK_DTYPE_F32) return false;
    *h = t->shape[t->ndim - 2];
    *w = t->shape[t->ndim - 1];
    *planes = evk_tensor_numel(t) / (*h * *w);
    return true;
}

evk_status evk_op_blend_seam(evk_stream *s, const evk_tensor *a, const evk_tensor *b, uint32_t extent, bool vertical) {
    int64_t pa = 0, ha = 0, wa = 0, pb = 0, hb = 0, wb = 0;
    if (!evk__image_planes(a, &pa, &ha, &wa) || !evk__image_planes(b, &pb, &hb, &wb) || pa != pb ||
        (vertical ? wa != wb : ha != hb) || extent == 0 || extent > (vertical ? (ha < hb ? ha : hb) : (wa < wb ? wa : wb)) ||
        pb * hb * wb > 0xffffffffll)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "blend_seam: tiles %lldx%lldx%lld and %lldx%lldx%lld cannot share a %s seam of %u",
                        (long long)pa, (long long)ha, (long long)wa, (long long)pb, (long long)hb, (long long)wb,
                        vertical ? "horizontal" : "vertical", extent);
    uint32_t push[7] = {(uint32_t)pb, (uint32_t)ha, (uint32_t)wa, (uint32_t)hb, (uint32_t)wb, extent, vertical};
    return evk__image_dispatch(s, "image_blend", a, b, push, sizeof push, (uint64_t)(pb * hb * wb));
}

evk_status evk_op_place(evk_stream *s, const evk_tensor *tile, uint32_t h, uint32_t w, uint32_t oy, uint32_t ox,
                        const evk_tensor *image) {
    int64_t pt = 0, th = 0, tw = 0, pi = 0, ih = 0, iw = 0;
    if (!evk__image_planes(tile, &pt, &th, &tw) || !evk__image_planes(image, &pi, &ih, &iw) || pt != pi || h > th || w > tw ||
        oy + (int64_t)h > ih || ox + (int64_t)w > iw || pi * ih * iw > 0xffffffffll)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "place: %ux%u of a %lldx%lld tile at (%u, %u) does not fit a %lldx%lld image",
                        h, w, (long long)th, (long long)tw, oy, ox, (long long)ih, (long long)iw);
    uint32_t push[9] = {(uint32_t)pt, (uint32_t)th, (uint32_t)tw, h, w, (uint32_t)ih, (uint32_t)iw, oy, ox};
    return evk__image_dispatch(s, "image_place", tile, image, push, sizeof push, (uint64_t)pt * h * w);
}
