/* ops_internal.h — helpers shared by the kernels' C entries and never installed: binding
 * alignment and limits, texel-buffer formats, overlap checks, the CPU/GPU tile shapes matmul and
 * convolution share, f32 argument checks, gcd, and the 1-D dispatch grid. They lived as copies in
 * op_conv.c / op_matmul.c and op_elementwise.c / op_norm.c; one copy keeps the binding rules
 * (which decide where a product is split) from drifting apart. */
#ifndef EVK_OPS_INTERNAL_H
#define EVK_OPS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/context.h"
#include "core/stream.h"
#include "core/tensor.h"

/* Register tiles of the CPU (texel-buffer) matmul and convolution kernels, measured on lavapipe
 * (op_matmul.c, op_conv.c): the large tile runs faster but costs seconds of pipeline compile. */
typedef struct evk__cpu_tile { uint32_t tm, tn, lanes_n, lanes_m, ku; } evk__cpu_tile;
#define EVK__CPU_TILE_SMALL ((evk__cpu_tile){16, 8, 8, 4, 4})
#define EVK__CPU_TILE_LARGE ((evk__cpu_tile){32, 16, 8, 2, 4})
/* The small tile's rows over 32 columns instead of 64, for products of at most 32 columns (the
 * Winograd products of 8×8 maps), where the small tile would leave half its lanes idle. */
#define EVK__CPU_TILE_NARROW ((evk__cpu_tile){16, 4, 8, 4, 4})
/* Whether the CPU kernels' *_shuffle builds run here (every CPU tile): every subgroup is exactly
 * the LANES_N invocations that share a tile's rows, and the rows split evenly over them. */
bool evk__cpu_shuffle_fits(const evk_device_info *info);
/* Shared-memory tiles of the GPU matmul and convolution kernels. */
enum { EVK__GPU_BM = 64, EVK__GPU_BN = 64, EVK__GPU_BK = 16, EVK__GPU_TM = 4, EVK__GPU_TN = 4 };

/* The texel format a kernel reads dtype dt through (RGBA when it loads vec4s). */
evk_binding_kind evk__texel_kind(evk_dtype dt, bool vec);
/* The largest binding of `kind` the device allows, in bytes, for elements of es bytes. */
uint64_t evk__binding_limit(const evk_device_info *info, evk_binding_kind kind, uint64_t es);
/* Bind elements [first, first + count) of t: the binding starts at the aligned byte offset at or
 * below `first`, and *elem_off is where `first` lies inside it. op and name go into messages. */
evk_status evk__bind_range(const evk_device_info *info, const char *op, const char *name, const evk_tensor *t, uint64_t first,
                           uint64_t count, evk_binding_kind kind, evk_access access, evk_binding *out, uint32_t *elem_off);
/* Whether two tensors (either may be NULL) share bytes of one memory block. */
bool evk__ranges_overlap(const evk_tensor *x, const evk_tensor *y);
/* EVK_OK when t is present and f32; otherwise a message "op: name is ...". */
evk_status evk__check_f32(const char *op, const char *name, const evk_tensor *t);
uint64_t evk__gcd(uint64_t a, uint64_t b);
/* (op_reduce.c) For kernel entries: a binding covering t's storage from the nearest aligned offset at or below
 * it, and the element offset (4-byte units) of t's first element inside that binding. `what`
 * names the operand in messages. Requires a 4-byte dtype. */
evk_status evk__bind_view(evk_context *ctx, const evk_tensor *t, evk_access access, const char *what,
                          evk_binding *binding, uint32_t *elem_offset);
/* Shape check helper: fails with "<op>: <what> is <shape>, expected <expect>" when `ok` is false. */
evk_status evk__shape_fail(const char *op, const char *what, const evk_tensor *t, const char *expect);
/* op_random.h's noise key, declared rather than included (op_random.c includes this header). */
typedef struct evk_noise_key evk_noise_key;
/* (op_axpbz.c) evk_op_axpbz with `op` naming the caller in messages ("sampler step"). */
evk_status evk__axpbz_dispatch(evk_stream *st, const char *op, const evk_tensor *x, const evk_tensor *m, const evk_tensor *out,
                               float a, float b, float c, const evk_noise_key *key);
/* Grid for `count` invocations of `local` size each: x up to 65535 groups, the rest in y. */
void evk__grid_1d(uint64_t count, uint32_t local, uint32_t groups[3]);

#endif
