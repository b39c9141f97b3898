/* op_resample.h — the UNet's resolution changes without their convolutions: nearest upsampling ×2
 * (Upsample2D) and 2×2 average pooling with stride 2 (Downsample2D with use_conv = false).
 * x and out are f32 [..., H, W] (NCHW; any leading dims are planes). */
#ifndef EVK_OP_RESAMPLE_H
#define EVK_OP_RESAMPLE_H

#include "core/stream.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out [..., 2H, 2W]: out[y][x] = x[y/2][x/2]. */
evk_status evk_op_upsample_nearest2x(evk_stream *s, const evk_tensor *x, const evk_tensor *out);
/* out [..., H/2, W/2] (floor): the mean of each 2×2 block; H, W >= 2. */
evk_status evk_op_avgpool2x2(evk_stream *s, const evk_tensor *x, const evk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
