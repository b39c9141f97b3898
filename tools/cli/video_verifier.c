/* video_verifier.c — caption parser and per-clip checker of the shipped video model's captions
 * (see video_verifier.h for the rules and why it exists). The per-frame reading is the image
 * verifier's (verifier.c); every constant here is tools/train/video_check.py's. */
#include "video_verifier.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double _V_MIN = 0.5;  /* px per frame */
enum { _PRESENT_NUM = 5, _PRESENT_DEN = 8 };

static const char *const video_verifier__dirs[] = {"left", "right", "up", "down", "none"};

const char *video_verifier_dir_name(video_verifier_dir d) { return (unsigned)d <= VIDEO_VERIFIER_NONE ? video_verifier__dirs[d] : "?"; }

/* ---- parsing ---------------------------------------------------------------------------- */

#define _MAX_WORDS 12
#define _WORD_LEN 32

static int video_verifier__find(const char *w, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(w, list[i])) return i;
    return -1;
}

static int video_verifier__colour(const char *w) {
    for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++)
        if (!strcmp(w, verifier_colour_name((verifier_colour)c))) return c;
    return -1;
}

static int video_verifier__shape(const char *w) {
    for (int s = 0; s < VERIFIER_SHAPE_COUNT; s++)
        if (!strcmp(w, verifier_shape_name((verifier_shape)s))) return s;
    return -1;
}

static bool video_verifier__known(const char *w) {
    static const char *const other[] = {"a", "moving", "and"};
    return video_verifier__colour(w) >= 0 || video_verifier__shape(w) >= 0 || video_verifier__find(w, video_verifier__dirs, 4) >= 0 ||
           video_verifier__find(w, other, 3) >= 0;
}

static evk_status video_verifier__fail(const char *caption, char (*words)[_WORD_LEN], int count, int at, const char *expected) {
    if (at >= count)
        return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\" ends too early: expected %s after '%s'", caption, expected,
                        count ? words[count - 1] : "");
    if (!video_verifier__known(words[at]))
        return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": unknown word '%s' (word %d; expected %s)", caption, words[at], at + 1,
                        expected);
    return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": expected %s at word %d, found '%s'", caption, expected, at + 1, words[at]);
}

evk_status video_verifier_parse(const char *caption, video_verifier_caption *out) {
    memset(out, 0, sizeof *out);
    if (!caption) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "no caption");
    char words[_MAX_WORDS][_WORD_LEN];
    int count = 0;
    for (const char *s = caption; *s;) {
        while (*s && isspace((unsigned char)*s)) s++;
        if (!*s) break;
        const char *start = s;
        while (*s && !isspace((unsigned char)*s)) s++;
        size_t n = (size_t)(s - start);
        if (count == _MAX_WORDS)
            return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\" is longer than any caption of the video grammar", caption);
        if (n >= _WORD_LEN) return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": unknown word '%.*s'", caption, (int)n, start);
        for (size_t i = 0; i < n; i++) words[count][i] = (char)tolower((unsigned char)start[i]);
        words[count][n] = 0;
        count++;
    }
    if (!count) return evk_fail(EVK_ERROR_FORMAT, "empty caption");
    int at = 0;
    for (uint32_t o = 0; o < VIDEO_VERIFIER_MAX_OBJECTS; o++) {
        if (o) {
            if (at == count) break;
            if (strcmp(words[at], "and")) return video_verifier__fail(caption, words, count, at, "'and' or the end of the caption");
            at++;
        }
        if (at >= count || strcmp(words[at], "a")) return video_verifier__fail(caption, words, count, at, "'a'");
        at++;
        int c = at < count ? video_verifier__colour(words[at]) : -1;
        if (c < 0) return video_verifier__fail(caption, words, count, at, "a colour (red, green, blue, yellow, purple, cyan, white, orange)");
        at++;
        int s = at < count ? video_verifier__shape(words[at]) : -1;
        if (s < 0) return video_verifier__fail(caption, words, count, at, "a shape (circle, square, triangle)");
        at++;
        if (at >= count || strcmp(words[at], "moving")) return video_verifier__fail(caption, words, count, at, "'moving'");
        at++;
        int d = at < count ? video_verifier__find(words[at], video_verifier__dirs, 4) : -1;
        if (d < 0) return video_verifier__fail(caption, words, count, at, "a direction (left, right, up, down)");
        at++;
        out->colour[o] = (verifier_colour)c;
        out->shape[o] = (verifier_shape)s;
        out->dir[o] = (video_verifier_dir)d;
        out->count = o + 1;
    }
    if (at < count)
        return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": unexpected '%s' (word %d) after a complete caption", caption, words[at],
                        at + 1);
    if (out->count == 2 && out->colour[0] == out->colour[1])
        return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": the two objects must differ in colour (both %s)", caption,
                        verifier_colour_name(out->colour[0]));
    return EVK_OK;
}

void video_verifier_caption_format(const video_verifier_caption *c, char *out, uint32_t n) {
    if (!n) return;
    out[0] = 0;
    size_t used = 0;
    for (uint32_t o = 0; o < c->count && o < VIDEO_VERIFIER_MAX_OBJECTS; o++) {
        int w = snprintf(out + used, n - used, "%sa %s %s moving %s", o ? " and " : "", verifier_colour_name(c->colour[o]),
                         verifier_shape_name(c->shape[o]), video_verifier_dir_name(c->dir[o]));
        if (w < 0 || (size_t)w >= n - used) return;
        used += (size_t)w;
    }
}

/* ---- measuring ---------------------------------------------------------------------------- */

static video_verifier_dir video_verifier__direction(double vx, double vy) {
    double ax = fabs(vx), ay = fabs(vy);
    if ((ax > ay ? ax : ay) < _V_MIN) return VIDEO_VERIFIER_NONE;
    if (ax >= 2 * ay) return vx > 0 ? VIDEO_VERIFIER_RIGHT : VIDEO_VERIFIER_LEFT;
    if (ay >= 2 * ax) return vy > 0 ? VIDEO_VERIFIER_DOWN : VIDEO_VERIFIER_UP;
    return VIDEO_VERIFIER_NONE;
}

void video_verifier_track_colour(const verifier_object (*objects)[VERIFIER_COLOUR_COUNT], uint32_t frames,
                                 verifier_colour colour, video_verifier_track *out) {
    memset(out, 0, sizeof *out);
    out->dir = VIDEO_VERIFIER_NONE;
    if (frames > VIDEO_VERIFIER_MAX_FRAMES) frames = VIDEO_VERIFIER_MAX_FRAMES;
    uint32_t votes[VERIFIER_SHAPE_COUNT] = {0};
    double sf = 0, sx = 0, sy = 0;
    for (uint32_t f = 0; f < frames; f++) {
        const verifier_object *o = &objects[f][colour];
        if (!o->present) continue;
        out->present[f] = true;
        out->cx[f] = o->cx;
        out->cy[f] = o->cy;
        out->frame_shape[f] = o->shape;
        votes[o->shape]++;
        out->frames_present++;
        sf += f;
        sx += o->cx;
        sy += o->cy;
    }
    for (int s = 0; s < VERIFIER_SHAPE_COUNT; s++)
        if (2 * votes[s] > out->frames_present) {
            out->has_shape = true;
            out->shape = (verifier_shape)s;
        }
    if (out->frames_present >= 2) {
        double n = out->frames_present, fm = sf / n, xm = sx / n, ym = sy / n, d = 0, nx = 0, ny = 0;
        for (uint32_t f = 0; f < frames; f++) {
            if (!out->present[f]) continue;
            d += (f - fm) * (f - fm);
            nx += (f - fm) * (out->cx[f] - xm);
            ny += (f - fm) * (out->cy[f] - ym);
        }
        out->vx = nx / d;
        out->vy = ny / d;
    }
    out->dir = video_verifier__direction(out->vx, out->vy);
}

evk_status video_verifier_check_clip(const float *clip, uint32_t frames, uint32_t width, uint32_t height,
                                     const char *caption, video_verifier_result *out) {
    memset(out, 0, sizeof *out);
    if (!clip || !frames || frames > VIDEO_VERIFIER_MAX_FRAMES || !width || !height)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "video verifier: a clip of %u frames of %ux%u (need 1-%d frames, non-empty)",
                        frames, width, height, VIDEO_VERIFIER_MAX_FRAMES);
    video_verifier_caption cap;
    EVK_TRY(video_verifier_parse(caption, &cap));
    size_t plane = (size_t)width * height;
    uint8_t *rgb = malloc(plane * 3);
    verifier_object(*objects)[VERIFIER_COLOUR_COUNT] = calloc(frames, sizeof *objects);
    if (!rgb || !objects) {
        free(rgb);
        free(objects);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "video verifier: no memory for a %ux%u frame", width, height);
    }
    evk_status st = EVK_OK;
    for (uint32_t f = 0; f < frames && !st; f++) {
        const float *fr = clip + (size_t)f * 3 * plane;
        for (size_t i = 0; i < plane; i++)
            for (int k = 0; k < 3; k++) {
                float v = fr[(size_t)k * plane + i];
                v = v != v ? 0.0f : v < 0 ? 0.0f : v > 1 ? 1.0f : v; /* NaN reads as black */
                rgb[i * 3 + (size_t)k] = (uint8_t)lrintf(v * 255.0f);
            }
        st = verifier_find_objects(rgb, width, height, objects[f]);
    }
    if (!st) {
        out->frames = frames;
        out->colour = out->shape = out->motion = true;
        for (uint32_t o = 0; o < cap.count; o++) {
            video_verifier_track *t = &out->objects[o];
            video_verifier_track_colour((const verifier_object(*)[VERIFIER_COLOUR_COUNT])objects, frames, cap.colour[o], t);
            bool present = t->frames_present * _PRESENT_DEN >= _PRESENT_NUM * frames;
            out->colour &= present;
            out->shape &= present && t->has_shape && t->shape == cap.shape[o];
            out->motion &= present && t->dir == cap.dir[o];
        }
        out->ok = out->colour && out->shape && out->motion;
    }
    free(rgb);
    free(objects);
    return st;
}
