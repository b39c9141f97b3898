/* stream.h — command streams: many dispatches recorded into one submission.
 *
 * A stream records dispatches and copies with the barriers they need (a barrier only where a
 * dispatch touches a range an earlier, unbarriered one wrote, or writes a range one read), then
 * submits them at once and waits on a fence with a timeout. Nothing waits on the host between
 * kernels of one stream. With profiling on (EVOKE_PROFILE=1 or the context config), every
 * dispatch is bracketed by timestamp queries and its GPU time is added to the context's
 * per-kernel table, printed by evk_profile_print(). */
#ifndef EVK_STREAM_H
#define EVK_STREAM_H

#include <stdio.h>

#include "core/memory.h"
#include "core/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_stream evk_stream;

typedef enum evk_access {
    EVK_ACCESS_READ = 1,
    EVK_ACCESS_WRITE = 2,
    EVK_ACCESS_READ_WRITE = 3,
} evk_access;

typedef struct evk_binding {
    evk_buffer buffer;
    uint64_t offset;   /* bytes into the buffer */
    uint64_t range;    /* bytes; 0: to the end of the buffer */
    evk_access access; /* 0 is taken as read-write */
} evk_binding;

typedef struct evk_dispatch {
    evk_pipeline *pipeline;
    const evk_binding *bindings;
    uint32_t binding_count;
    const void *push;
    uint32_t push_size;
    uint32_t groups[3];  /* workgroup counts; 0 is taken as 1 */
    const char *label;   /* profiler row; NULL: the pipeline's shader name */
} evk_dispatch;

evk_status evk_stream_create(evk_context *ctx, evk_stream **out);
void evk_stream_destroy(evk_stream *stream);
evk_context *evk_stream_context(const evk_stream *stream);

/* Start recording (waits for and forgets the previous submission). */
evk_status evk_stream_begin(evk_stream *stream);
evk_status evk_stream_dispatch(evk_stream *stream, const evk_dispatch *dispatch);
evk_status evk_stream_copy(evk_stream *stream, const evk_buffer *src, uint64_t src_offset,
                           const evk_buffer *dst, uint64_t dst_offset, uint64_t size);
/* Record `count` copies of `size` bytes, the i-th from src_offset + i·src_stride to
 * dst_offset + i·dst_stride, as one command: a window of rows out of every channel plane of an
 * NCHW tensor, which no single binding could hold (copies have no binding-size limit). */
evk_status evk_stream_copy_strided(evk_stream *stream, const evk_buffer *src, uint64_t src_offset, uint64_t src_stride,
                                   const evk_buffer *dst, uint64_t dst_offset, uint64_t dst_stride, uint64_t size,
                                   uint64_t count);
/* Record a write of `size` bytes of host data (captured now, at record time) into the buffer:
 * small per-call inputs (token ids, indices, timesteps) that must land in order with the
 * stream's dispatches. A host upload (evk_buffer_upload) happens immediately instead, and would
 * race with a recorded dispatch still reading a range that was freed and handed out again.
 * size is a multiple of 4; larger writes are split into 64 KiB commands. */
evk_status evk_stream_update(evk_stream *stream, const evk_buffer *dst, uint64_t dst_offset, const void *data, uint64_t size);
/* Force a full barrier (rarely needed: dispatches barrier automatically). */
evk_status evk_stream_barrier(evk_stream *stream);
/* End recording and submit; returns without waiting. */
evk_status evk_stream_submit(evk_stream *stream);
/* Wait for the submission; timeout_ns 0 uses EVOKE_TIMEOUT (seconds) or 600 s. */
evk_status evk_stream_wait(evk_stream *stream, uint64_t timeout_ns);
/* submit + wait */
evk_status evk_stream_run(evk_stream *stream);

uint32_t evk_stream_dispatch_count(const evk_stream *stream);
uint32_t evk_stream_barrier_count(const evk_stream *stream);
/* GPU time of the last waited submission, first to last timestamp (profiling only; else -1). */
double evk_stream_gpu_ms(const evk_stream *stream);

/* Per-kernel profile accumulated in the context. */
typedef struct evk_profile_row {
    char label[64];
    uint64_t calls;
    double total_ms;
} evk_profile_row;

/* Rows sorted by total time, descending; *count set. Valid until the next profiled wait. */
const evk_profile_row *evk_profile_rows(evk_context *ctx, uint32_t *count);
void evk_profile_reset(evk_context *ctx);
void evk_profile_print(evk_context *ctx, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
