/* video_verifier.h — an independent pixel-level checker of the shipped video model's captions.
 *
 * The tiny video model draws one or two coloured shapes moving left, right, up or down over a
 * dark 32×32 background for 8 frames, from captions of a small grammar
 * (tools/train/video_data.py):
 *     "a <colour> <shape> moving <left|right|up|down>"
 *     "a <colour> <shape> moving <dir> and a <colour> <shape> moving <dir>"   (colours differ)
 * Like the image verifier (verifier.h) it is for evaluation only, never a reward. It reads each
 * frame with verifier_find_objects (colour, shape, centroid in the 32×32 frame) and then, per
 * object the caption names (mirroring tools/train/video_check.py exactly):
 *   colour: the colour is found in at least 5/8 of the frames;
 *   shape:  the named shape is the strict majority of the shapes read where it is found;
 *   motion: least-squares line through the centroids (frame index → cx, cy) of those frames,
 *           velocity (vx, vy) in px/frame; the direction is the axis with the larger |v| if
 *           |v_major| >= 0.5 and |v_major| >= 2·|v_minor| (right/left by the sign of vx,
 *           down/up by the sign of vy, "up" = towards row 0); otherwise none;
 *   ok = every named object passes all three.
 * Clips come as decoded by evoke: float RGB [frames, 3, height, width] in [0, 1]; a frame is
 * read as 8-bit RGB round(255·clamp(x, 0, 1)) first. */
#ifndef EVOKE_VIDEO_VERIFIER_H
#define EVOKE_VIDEO_VERIFIER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "verifier.h"

typedef enum video_verifier_dir {
    VIDEO_VERIFIER_LEFT, VIDEO_VERIFIER_RIGHT, VIDEO_VERIFIER_UP, VIDEO_VERIFIER_DOWN, VIDEO_VERIFIER_NONE
} video_verifier_dir;

const char *video_verifier_dir_name(video_verifier_dir d); /* "left", ..., "none" */

#define VIDEO_VERIFIER_MAX_OBJECTS 2
#define VIDEO_VERIFIER_MAX_FRAMES 64

typedef struct video_verifier_caption {
    uint32_t count; /* 1 or 2 objects */
    verifier_colour colour[VIDEO_VERIFIER_MAX_OBJECTS];
    verifier_shape shape[VIDEO_VERIFIER_MAX_OBJECTS];
    video_verifier_dir dir[VIDEO_VERIFIER_MAX_OBJECTS];
} video_verifier_caption;

/* Parse a caption of the grammar above (case and extra spaces ignored); EVK_ERROR_FORMAT with a
 * message naming the offending word otherwise. */
evk_status video_verifier_parse(const char *caption, video_verifier_caption *out);
void video_verifier_caption_format(const video_verifier_caption *c, char *out, uint32_t n);

/* What was measured for one colour over the clip. */
typedef struct video_verifier_track {
    uint32_t frames_present;        /* frames where the colour's object was found */
    bool present[VIDEO_VERIFIER_MAX_FRAMES];
    double cx[VIDEO_VERIFIER_MAX_FRAMES], cy[VIDEO_VERIFIER_MAX_FRAMES]; /* 32×32 frame coordinates */
    verifier_shape frame_shape[VIDEO_VERIFIER_MAX_FRAMES];
    bool has_shape;                 /* a strict majority shape exists */
    verifier_shape shape;
    double vx, vy;                  /* px per frame, least squares */
    video_verifier_dir dir;
} video_verifier_track;

typedef struct video_verifier_result {
    bool ok, colour, shape, motion;
    uint32_t frames;
    video_verifier_track objects[VIDEO_VERIFIER_MAX_OBJECTS]; /* in the caption's order */
} video_verifier_result;

/* Measure one colour over per-frame object lists (objects[f][colour]). */
void video_verifier_track_colour(const verifier_object (*objects)[VERIFIER_COLOUR_COUNT], uint32_t frames,
                                 verifier_colour colour, video_verifier_track *out);

/* Check a clip of `frames` frames [frames, 3, height, width] (floats in [0, 1]) against a
 * caption. EVK_ERROR_INVALID_ARGUMENT for 0 or more than VIDEO_VERIFIER_MAX_FRAMES frames or an
 * empty frame; EVK_ERROR_FORMAT for a caption outside the grammar. */
evk_status video_verifier_check_clip(const float *clip, uint32_t frames, uint32_t width, uint32_t height,
                                     const char *caption, video_verifier_result *out);

#endif
