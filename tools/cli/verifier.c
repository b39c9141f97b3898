/* verifier.c — caption parser, object finder and claim checker of the shapes model's captions
 * (see verifier.h for the algorithm and why it exists). Every constant here is the data set's
 * (tools/train/dataset.py) or its prototype checker's (tools/train/check.py). */
#include "verifier.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t verifier_colour_rgb[VERIFIER_COLOUR_COUNT][3] = {
    {220, 40, 40}, {40, 190, 60}, {50, 80, 235}, {235, 215, 40},
    {180, 60, 220}, {40, 210, 220}, {235, 235, 235}, {245, 135, 30},
};

enum {
    _FG_MIN = 110,            /* foreground: max channel >= this */
    _MAX_DIST2 = 110 * 110,   /* squared RGB distance to the nearest prototype */
};
static const double _MIN_AREA = 6.0;    /* pixels in the 32x32 frame */
static const double _LARGE_EXTENT = 12.0;
static const double _TRIANGLE_RATIO = 1.6;
static const double _REL_MARGIN = 5.0;
static const double _FRAME = 32.0;

static const char *const verifier__colour_names[VERIFIER_COLOUR_COUNT] = {"red", "green", "blue", "yellow",
                                                                 "purple", "cyan", "white", "orange"};
static const char *const verifier__shape_names[VERIFIER_SHAPE_COUNT] = {"circle", "square", "triangle"};
static const char *const verifier__where_words[] = {"left", "right", "top", "bottom", "center"};
static const char *const verifier__where_phrases[] = {"on the left", "on the right", "at the top", "at the bottom", "in the center"};
static const char *const verifier__relation_phrases[] = {"left of", "right of", "above", "below"};

const char *verifier_colour_name(verifier_colour c) { return (unsigned)c < VERIFIER_COLOUR_COUNT ? verifier__colour_names[c] : "?"; }
const char *verifier_shape_name(verifier_shape s) { return (unsigned)s < VERIFIER_SHAPE_COUNT ? verifier__shape_names[s] : "?"; }
const char *verifier_size_name(verifier_size s) { return s == VERIFIER_SMALL ? "small" : s == VERIFIER_LARGE ? "large" : ""; }
const char *verifier_where_phrase(verifier_where w) { return (unsigned)w < 5 ? verifier__where_phrases[w] : "?"; }
const char *verifier_relation_phrase(verifier_relation r) { return (unsigned)r < 4 ? verifier__relation_phrases[r] : "?"; }

/* ---- parsing ---------------------------------------------------------------------------- */

#define _MAX_WORDS 16
#define _WORD_LEN 32

typedef struct verifier__parser {
    char words[_MAX_WORDS][_WORD_LEN];
    int count, at;
    const char *caption;
} verifier__parser;

static int verifier__find(const char *w, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(w, list[i])) return i;
    return -1;
}

static bool verifier__in_vocabulary(const char *w) {
    static const char *const other[] = {"a", "small", "large", "on", "at", "in", "the", "of", "above", "below"};
    return verifier__find(w, verifier__colour_names, VERIFIER_COLOUR_COUNT) >= 0 || verifier__find(w, verifier__shape_names, VERIFIER_SHAPE_COUNT) >= 0 ||
           verifier__find(w, verifier__where_words, 5) >= 0 || verifier__find(w, other, (int)(sizeof other / sizeof other[0])) >= 0;
}

/* Fail at the current word, which should have been `expected`. */
static evk_status verifier__parse_fail(const verifier__parser *p, const char *expected) {
    if (p->at >= p->count)
        return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\" ends too early: expected %s after '%s'", p->caption, expected,
                        p->count ? p->words[p->count - 1] : "");
    const char *w = p->words[p->at];
    if (!verifier__in_vocabulary(w))
        return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": unknown word '%s' (word %d; expected %s)", p->caption, w, p->at + 1,
                        expected);
    return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": expected %s at word %d, found '%s'", p->caption, expected, p->at + 1, w);
}

static const char *verifier__peek(const verifier__parser *p) { return p->at < p->count ? p->words[p->at] : ""; }

static evk_status verifier__expect_word(verifier__parser *p, const char *word, const char *expected) {
    if (strcmp(verifier__peek(p), word)) return verifier__parse_fail(p, expected);
    p->at++;
    return EVK_OK;
}

static evk_status verifier__expect_from(verifier__parser *p, const char *const *list, int n, const char *expected, int *out) {
    int i = verifier__find(verifier__peek(p), list, n);
    *out = -1; /* written on every path: callers read it only after success, but need not prove that */
    if (i < 0 || p->at >= p->count) return verifier__parse_fail(p, expected);
    p->at++;
    *out = i;
    return EVK_OK;
}

#define _COLOURS_EXPECTED "a colour (red, green, blue, yellow, purple, cyan, white, orange)"
#define _SHAPES_EXPECTED "a shape (circle, square, triangle)"

evk_status verifier_parse(const char *caption, verifier_caption *out) {
    memset(out, 0, sizeof *out);
    if (!caption) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "no caption");
    verifier__parser p = {.caption = caption};
    for (const char *s = caption; *s;) {
        while (*s && isspace((unsigned char)*s)) s++;
        if (!*s) break;
        const char *start = s;
        while (*s && !isspace((unsigned char)*s)) s++;
        size_t n = (size_t)(s - start);
        if (p.count == _MAX_WORDS)
            return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\" is longer than any caption of the grammar", caption);
        if (n >= _WORD_LEN)
            return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": unknown word '%.*s'", caption, (int)n, start);
        for (size_t i = 0; i < n; i++) p.words[p.count][i] = (char)tolower((unsigned char)start[i]);
        p.words[p.count][n] = 0;
        p.count++;
    }
    if (!p.count) return evk_fail(EVK_ERROR_FORMAT, "empty caption");
    int v;
    EVK_TRY(verifier__expect_word(&p, "a", "'a'"));
    static const char *const sizes[] = {"small", "large"};
    if (verifier__find(verifier__peek(&p), sizes, 2) >= 0) {
        out->size = verifier__find(verifier__peek(&p), sizes, 2) == 0 ? VERIFIER_SMALL : VERIFIER_LARGE;
        p.at++;
    }
    EVK_TRY(verifier__expect_from(&p, verifier__colour_names, VERIFIER_COLOUR_COUNT,
                         out->size ? _COLOURS_EXPECTED : "a size (small, large) or " _COLOURS_EXPECTED, &v));
    out->colour[0] = (verifier_colour)v;
    EVK_TRY(verifier__expect_from(&p, verifier__shape_names, VERIFIER_SHAPE_COUNT, _SHAPES_EXPECTED, &v));
    out->shape[0] = (verifier_shape)v;
    static const char *const preps[] = {"on", "at", "in"};
    static const char *const rels[] = {"left", "right", "above", "below"};
    if (verifier__find(verifier__peek(&p), preps, 3) >= 0 || out->size) {
        EVK_TRY(verifier__expect_from(&p, preps, 3, "'on the', 'at the' or 'in the'", &v));
        EVK_TRY(verifier__expect_word(&p, "the", "'the'"));
        EVK_TRY(verifier__expect_from(&p, verifier__where_words, 5, "a place (left, right, top, bottom, center)", &v));
        out->where = (verifier_where)v;
    } else {
        EVK_TRY(verifier__expect_from(&p, rels, 4, "a place ('on the left', ...) or a relation (left of, right of, above, below)", &v));
        out->pair = true;
        out->relation = (verifier_relation)v;
        if (v < 2) EVK_TRY(verifier__expect_word(&p, "of", "'of'"));
        EVK_TRY(verifier__expect_word(&p, "a", "'a'"));
        EVK_TRY(verifier__expect_from(&p, verifier__colour_names, VERIFIER_COLOUR_COUNT, _COLOURS_EXPECTED, &v));
        out->colour[1] = (verifier_colour)v;
        EVK_TRY(verifier__expect_from(&p, verifier__shape_names, VERIFIER_SHAPE_COUNT, _SHAPES_EXPECTED, &v));
        out->shape[1] = (verifier_shape)v;
    }
    if (p.at < p.count) {
        if (!verifier__in_vocabulary(p.words[p.at]))
            return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": unknown word '%s' (word %d) after a complete caption", caption,
                            p.words[p.at], p.at + 1);
        return evk_fail(EVK_ERROR_FORMAT, "caption \"%s\": unexpected '%s' (word %d) after a complete caption", caption,
                        p.words[p.at], p.at + 1);
    }
    return EVK_OK;
}

void verifier_caption_format(const verifier_caption *c, char *out, uint32_t n) {
    if (!n) return;
    if (c->pair)
        snprintf(out, n, "a %s %s %s a %s %s", verifier_colour_name(c->colour[0]), verifier_shape_name(c->shape[0]),
                 verifier_relation_phrase(c->relation), verifier_colour_name(c->colour[1]), verifier_shape_name(c->shape[1]));
    else
        snprintf(out, n, "a %s%s%s %s %s", verifier_size_name(c->size), c->size ? " " : "", verifier_colour_name(c->colour[0]),
                 verifier_shape_name(c->shape[0]), verifier_where_phrase(c->where));
}

/* ---- measuring -------------------------------------------------------------------------- */

/* Label 4-connected components of `mask` into `label` (0 = background) and return the label of
 * the largest, the first found in row-major order on ties (as check.py's max() does), or 0. */
static uint32_t verifier__largest_component(const uint8_t *mask, uint32_t w, uint32_t h, uint32_t *label, uint32_t *stack,
                                   uint32_t *best_size) {
    const size_t n = (size_t)w * h;
    memset(label, 0, n * sizeof *label);
    uint32_t next = 0, best = 0;
    *best_size = 0;
    for (size_t i = 0; i < n; i++) {
        if (!mask[i] || label[i]) continue;
        uint32_t id = ++next, size = 0;
        size_t top = 0;
        label[i] = id;
        stack[top++] = (uint32_t)i;
        while (top) {
            uint32_t q = stack[--top];
            size++;
            uint32_t x = q % w, y = q / w;
            uint32_t nb[4];
            int k = 0;
            if (y > 0) nb[k++] = q - w;
            if (y + 1 < h) nb[k++] = q + w;
            if (x > 0) nb[k++] = q - 1;
            if (x + 1 < w) nb[k++] = q + 1;
            for (int j = 0; j < k; j++)
                if (mask[nb[j]] && !label[nb[j]]) {
                    label[nb[j]] = id;
                    stack[top++] = nb[j];
                }
        }
        if (size > *best_size) {
            *best_size = size;
            best = id;
        }
    }
    return best;
}

/* Statistics of component `id` of `label`, in the 32x32 frame. */
static void verifier__measure(const uint32_t *label, uint32_t id, uint32_t w, uint32_t h, uint32_t area, verifier_object *o) {
    const double sx = _FRAME / w, sy = _FRAME / h;
    uint32_t x0 = w, x1 = 0, y0 = h, y1 = 0;
    double sumx = 0, sumy = 0;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            if (label[(size_t)y * w + x] == id) {
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
                sumx += x;
                sumy += y;
            }
    const uint32_t bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    uint32_t top = 0, bottom = 0;
    for (uint32_t y = y0; y <= y1; y++) {
        uint32_t r = y - y0, row = 0;
        for (uint32_t x = x0; x <= x1; x++) row += label[(size_t)y * w + x] == id;
        if (r < bh / 2) top += row;
        if (r >= bh - bh / 2) bottom += row;
    }
    const uint32_t corners = (label[(size_t)y0 * w + x0] == id) + (label[(size_t)y0 * w + x1] == id) +
                             (label[(size_t)y1 * w + x0] == id) + (label[(size_t)y1 * w + x1] == id);
    o->area = area;
    o->present = area * sx * sy >= _MIN_AREA;
    o->cx = (sumx / area + 0.5) * sx;
    o->cy = (sumy / area + 0.5) * sy;
    o->width = bw * sx;
    o->height = bh * sy;
    o->top = top;
    o->bottom = bottom;
    o->corners = corners;
    o->shape = (double)bottom >= _TRIANGLE_RATIO * top ? VERIFIER_TRIANGLE : corners >= 3 ? VERIFIER_SQUARE : VERIFIER_CIRCLE;
    o->size = (o->width > o->height ? o->width : o->height) >= _LARGE_EXTENT ? VERIFIER_LARGE : VERIFIER_SMALL;
}

static evk_status verifier__alloc_scratch(uint32_t w, uint32_t h, uint32_t **label, uint32_t **stack) {
    if (!w || !h || (uint64_t)w * h > (1u << 28))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "verifier: image size %ux%u is not usable", w, h);
    size_t n = (size_t)w * h;
    *label = malloc(n * sizeof **label);
    *stack = malloc(n * sizeof **stack);
    if (!*label || !*stack) {
        free(*label);
        free(*stack);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "verifier: scratch for a %ux%u image", w, h);
    }
    return EVK_OK;
}

evk_status verifier_measure_mask(const uint8_t *mask, uint32_t width, uint32_t height, verifier_object *out) {
    memset(out, 0, sizeof *out);
    if (!mask) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "verifier_measure_mask: no mask");
    uint32_t *label, *stack;
    EVK_TRY(verifier__alloc_scratch(width, height, &label, &stack));
    for (size_t i = 0; i < (size_t)width * height; i++) out->colour_pixels += mask[i] != 0;
    uint32_t area, id = verifier__largest_component(mask, width, height, label, stack, &area);
    if (id) verifier__measure(label, id, width, height, area, out);
    free(label);
    free(stack);
    return EVK_OK;
}

evk_status verifier_find_objects(const uint8_t *rgb, uint32_t width, uint32_t height,
                                 verifier_object objects[VERIFIER_COLOUR_COUNT]) {
    memset(objects, 0, sizeof(verifier_object) * VERIFIER_COLOUR_COUNT);
    if (!rgb) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "verifier_find_objects: no image");
    uint32_t *label, *stack;
    EVK_TRY(verifier__alloc_scratch(width, height, &label, &stack));
    const size_t n = (size_t)width * height;
    uint8_t *nearest = malloc(n), *mask = malloc(n);
    if (!nearest || !mask) {
        free(nearest);
        free(mask);
        free(label);
        free(stack);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "verifier: scratch for a %ux%u image", width, height);
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *px = rgb + 3 * i;
        int mx = px[0] > px[1] ? px[0] : px[1];
        mx = px[2] > mx ? px[2] : mx;
        nearest[i] = 0xff;
        if (mx < _FG_MIN) continue;
        int best = -1, best_d = 0;
        for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++) {
            int d = 0;
            for (int k = 0; k < 3; k++) {
                int e = (int)px[k] - verifier_colour_rgb[c][k];
                d += e * e;
            }
            if (best < 0 || d < best_d) { /* first prototype wins ties, as argmin does */
                best = c;
                best_d = d;
            }
        }
        if (best_d <= _MAX_DIST2) nearest[i] = (uint8_t)best;
    }
    for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++) {
        verifier_object *o = &objects[c];
        for (size_t i = 0; i < n; i++) {
            mask[i] = nearest[i] == c;
            o->colour_pixels += mask[i];
        }
        if (!o->colour_pixels) continue;
        uint32_t area, id = verifier__largest_component(mask, width, height, label, stack, &area);
        verifier__measure(label, id, width, height, area, o);
    }
    free(nearest);
    free(mask);
    free(label);
    free(stack);
    return EVK_OK;
}

/* ---- checking --------------------------------------------------------------------------- */

static bool verifier__where_ok(const verifier_object *o, verifier_where w) {
    const double cx = o->cx, cy = o->cy;
    switch (w) {
    case VERIFIER_LEFT: return cx < 13 && fabs(cy - 16) < 6;
    case VERIFIER_RIGHT: return cx > 19 && fabs(cy - 16) < 6;
    case VERIFIER_TOP: return cy < 13 && fabs(cx - 16) < 6;
    case VERIFIER_BOTTOM: return cy > 19 && fabs(cx - 16) < 6;
    case VERIFIER_CENTER: return fabs(cx - 16) <= 4 && fabs(cy - 16) <= 4;
    }
    return false;
}

static const char *verifier__where_rule[] = {"cx < 13, |cy-16| < 6", "cx > 19, |cy-16| < 6", "cy < 13, |cx-16| < 6",
                                    "cy > 19, |cx-16| < 6", "|cx-16| <= 4, |cy-16| <= 4"};

static verifier_claim *verifier__claim(verifier_result *r, verifier_claim_kind kind, bool pass) {
    verifier_claim *c = &r->claims[r->claim_count++];
    c->kind = kind;
    c->pass = pass;
    return c;
}

static void verifier__describe(const verifier_object *o, verifier_colour colour, char *out, size_t n) {
    if (o->present)
        snprintf(out, n, "%s object: %u px at (%.1f, %.1f), %.0fx%.0f box", verifier_colour_name(colour), o->area, o->cx, o->cy,
                 o->width, o->height);
    else if (o->colour_pixels)
        snprintf(out, n, "no %s object (largest %s region %u px, %u %s px in all)", verifier_colour_name(colour),
                 verifier_colour_name(colour), o->area, o->colour_pixels, verifier_colour_name(colour));
    else
        snprintf(out, n, "no %s pixels", verifier_colour_name(colour));
}

void verifier_check(const verifier_caption *cap, const verifier_object objects[VERIFIER_COLOUR_COUNT], verifier_result *r) {
    memset(r, 0, sizeof *r);
    const int count = cap->pair ? 2 : 1;
    const verifier_object *o[2] = {&objects[cap->colour[0]], &objects[cap->colour[1]]};
    r->colour = true;
    for (int i = 0; i < count; i++) {
        verifier_claim *c = verifier__claim(r, VERIFIER_CLAIM_COLOUR, o[i]->present);
        snprintf(c->text, sizeof c->text, "a %s object", verifier_colour_name(cap->colour[i]));
        verifier__describe(o[i], cap->colour[i], c->found, sizeof c->found);
        r->colour = r->colour && c->pass;
    }
    r->shape = true;
    for (int i = 0; i < count; i++) {
        verifier_claim *c = verifier__claim(r, VERIFIER_CLAIM_SHAPE, o[i]->present && o[i]->shape == cap->shape[i]);
        snprintf(c->text, sizeof c->text, "the %s object is a %s", verifier_colour_name(cap->colour[i]),
                 verifier_shape_name(cap->shape[i]));
        if (o[i]->present)
            snprintf(c->found, sizeof c->found, "%s (top/bottom halves %u/%u px, %u of 4 box corners)",
                     verifier_shape_name(o[i]->shape), o[i]->top, o[i]->bottom, o[i]->corners);
        else
            snprintf(c->found, sizeof c->found, "no %s object", verifier_colour_name(cap->colour[i]));
        r->shape = r->shape && c->pass;
    }
    /* check.py: a pair's shapes only count when both colours are there */
    if (cap->pair) r->shape = r->shape && r->colour;
    if (!cap->pair) {
        verifier_claim *c = verifier__claim(r, VERIFIER_CLAIM_POSITION, o[0]->present && verifier__where_ok(o[0], cap->where));
        snprintf(c->text, sizeof c->text, "the %s object is %s", verifier_colour_name(cap->colour[0]),
                 verifier_where_phrase(cap->where));
        if (o[0]->present)
            snprintf(c->found, sizeof c->found, "centroid (%.1f, %.1f); needs %s", o[0]->cx, o[0]->cy, verifier__where_rule[cap->where]);
        else
            snprintf(c->found, sizeof c->found, "no %s object", verifier_colour_name(cap->colour[0]));
        r->position = c->pass;
        r->size = true;
        if (cap->size) {
            c = verifier__claim(r, VERIFIER_CLAIM_SIZE, o[0]->present && o[0]->size == cap->size);
            snprintf(c->text, sizeof c->text, "the %s object is %s", verifier_colour_name(cap->colour[0]),
                     verifier_size_name(cap->size));
            if (o[0]->present)
                snprintf(c->found, sizeof c->found, "%s (extent %.0f px; large means >= 12)", verifier_size_name(o[0]->size),
                         o[0]->width > o[0]->height ? o[0]->width : o[0]->height);
            else
                snprintf(c->found, sizeof c->found, "no %s object", verifier_colour_name(cap->colour[0]));
            r->size = c->pass;
        } else if (!o[0]->present) {
            r->size = false; /* check.py: size holds only for a found object */
        }
    } else {
        const bool both = o[0]->present && o[1]->present;
        const double dx = o[0]->cx - o[1]->cx, dy = o[0]->cy - o[1]->cy;
        bool holds = false;
        const char *rule = "";
        double d = 0;
        switch (cap->relation) {
        case VERIFIER_LEFT_OF: holds = dx < -_REL_MARGIN; rule = "dx < -5"; d = dx; break;
        case VERIFIER_RIGHT_OF: holds = dx > _REL_MARGIN; rule = "dx > 5"; d = dx; break;
        case VERIFIER_ABOVE: holds = dy < -_REL_MARGIN; rule = "dy < -5"; d = dy; break;
        case VERIFIER_BELOW: holds = dy > _REL_MARGIN; rule = "dy > 5"; d = dy; break;
        }
        verifier_claim *c = verifier__claim(r, VERIFIER_CLAIM_POSITION, both && holds);
        snprintf(c->text, sizeof c->text, "the %s object is %s the %s object", verifier_colour_name(cap->colour[0]),
                 verifier_relation_phrase(cap->relation), verifier_colour_name(cap->colour[1]));
        if (both)
            snprintf(c->found, sizeof c->found, "%s = %.1f (centroids (%.1f, %.1f) and (%.1f, %.1f)); needs %s",
                     cap->relation < VERIFIER_ABOVE ? "dx" : "dy", d, o[0]->cx, o[0]->cy, o[1]->cx, o[1]->cy, rule);
        else
            snprintf(c->found, sizeof c->found, "not both objects found");
        r->position = c->pass;
        r->size = true;
    }
    r->ok = r->colour && r->shape && r->position && r->size;
}

evk_status verifier_check_image(const uint8_t *rgb, uint32_t width, uint32_t height, const char *caption,
                                verifier_result *out) {
    memset(out, 0, sizeof *out);
    verifier_caption cap;
    EVK_TRY(verifier_parse(caption, &cap));
    verifier_object objects[VERIFIER_COLOUR_COUNT];
    EVK_TRY(verifier_find_objects(rgb, width, height, objects));
    verifier_check(&cap, objects, out);
    return EVK_OK;
}
