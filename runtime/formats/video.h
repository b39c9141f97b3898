/* video.h — video files: animated WebP out and in (libwebp), MP4 out through the `ffmpeg`
 * program, and frame strips, for the videos evoke generates and the videos rewards score.
 *
 * A video here is 8-bit RGB frames, interleaved, [frames, height, width, 3] — what
 * evk_image_f32_to_rgb8 makes of each decoded frame. Files are written atomically, as every
 * evoke output (a temporary file in the destination directory renamed over the target), and carry
 * the generation parameters as PNGs do: WebP in an XMP chunk (`evoke:prompt`,
 * `evoke:parameters`, XML-escaped), MP4 in the container's `comment` / `description` tags.
 * WebP is lossless unless a quality is given, so frames survive a write/read round trip exactly;
 * MP4 is H.264 (yuv420p, even sizes padded) and lossy. The ffmpeg program is optional: without it
 * an MP4 request is EVK_ERROR_UNSUPPORTED with a message saying so and naming WebP. */
#ifndef EVK_VIDEO_H
#define EVK_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A decoded video: frames·height·width·3 bytes of RGB, frame after frame. */
typedef struct evk_video {
    uint8_t *rgb;
    uint32_t frames, width, height;
    double fps; /* from the frame durations (0 when unknown, e.g. a still image) */
} evk_video;

/* Zero is a valid default: 8 fps, lossless, no text. */
typedef struct evk_video_options {
    double fps;             /* frames per second [8] */
    float quality;          /* WebP: 0 lossless [default]; 1–100 lossy quality. MP4 ignores it. */
    const char *prompt;     /* stored in the file's metadata when set */
    const char *parameters; /* generation parameters (a JSON object) stored beside the prompt */
} evk_video_options;

/* Encode an animated WebP in memory (*webp malloc'd; free() it). */
evk_status evk_webp_encode(const uint8_t *rgb, uint32_t frames, uint32_t width, uint32_t height,
                           const evk_video_options *options, uint8_t **webp, size_t *size);
/* Decode a WebP (animated or still) held in memory; `what` names it in messages. */
evk_status evk_webp_decode(const uint8_t *webp, size_t size, const char *what, evk_video *out);
/* The metadata a WebP carries (malloc'd strings, NULL when absent; either pointer may be NULL). */
evk_status evk_webp_decode_text(const uint8_t *webp, size_t size, const char *what, char **prompt, char **parameters);

/* Write `frames` frames to `path` by its extension: .webp (libwebp) or .mp4 (ffmpeg). Any other
 * extension is EVK_ERROR_INVALID_ARGUMENT naming the path and the extensions known. */
evk_status evk_video_write(const char *path, const uint8_t *rgb, uint32_t frames, uint32_t width, uint32_t height,
                           const evk_video_options *options);
/* Read a video file: .webp, or a .png (one frame). Free with evk_video_free. */
evk_status evk_video_read(const char *path, evk_video *out);
void evk_video_free(evk_video *v);

/* Whether an `ffmpeg` executable is on PATH (MP4 output needs it). */
int evk_video_have_ffmpeg(void);

#ifdef __cplusplus
}
#endif
#endif
