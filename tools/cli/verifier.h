/* verifier.h — an independent pixel-level checker of the shipped shapes model's captions.
 *
 * The shipped text-to-image model draws one or two coloured shapes on a dark 32×32 background
 * from captions of a small grammar (tools/train/dataset.py). This verifier parses a caption with
 * the same grammar, finds the objects in an image from its pixels alone, and checks every claim
 * (colour present, shape, size, position, relation), GenEval-style. It is an evaluation tool:
 * it never serves as a search reward, so a search cannot learn to please it, and a reward model
 * that has been gamed shows up as a reward that climbs while the verifier's pass rate does not.
 *
 * Algorithm (mirrors tools/train/check.py so training curves and `evoke verify` agree):
 *  1. foreground: max(R,G,B) >= 110 (backgrounds are <= 70, every object colour has a channel
 *     >= 170);
 *  2. each foreground pixel takes the nearest colour prototype (the data set's RGB values,
 *     Euclidean distance); pixels farther than 110 from every prototype are ignored;
 *  3. per colour, 4-connected components; the largest (first found in row-major order on ties)
 *     is the object if it has >= 6 pixels — smaller specks are noise;
 *  4. shape: with r = row − top row of the bounding box and h its height, `top` counts pixels
 *     with r < h/2 and `bottom` those with r >= h − h/2 (integer halves); triangle if
 *     bottom >= 1.6·top (the data set's triangles point up: ratio ≈ 3, circles and squares ≈ 1);
 *     else square if >= 3 of the 4 bounding-box corner pixels are in the object; else circle;
 *  5. size: large if max(box width, box height) >= 12 px, else small;
 *  6. position from the centroid (pixel centres at +0.5): left cx < 13 and |cy − 16| < 6,
 *     right cx > 19 and |cy − 16| < 6, top cy < 13 and |cx − 16| < 6, bottom cy > 19 and
 *     |cx − 16| < 6, center |cx − 16| <= 4 and |cy − 16| <= 4; relations compare centroids with a
 *     5 px margin ("A left of B": cx_A < cx_B − 5, "above": cy_A < cy_B − 5, ...).
 * Images of another size are measured in a 32×32 frame: coordinates scale by 32/width and
 * 32/height, areas by their product, so a nearest-upscaled image gives the same verdict. */
#ifndef EVOKE_VERIFIER_H
#define EVOKE_VERIFIER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef enum verifier_colour {
    VERIFIER_RED, VERIFIER_GREEN, VERIFIER_BLUE, VERIFIER_YELLOW,
    VERIFIER_PURPLE, VERIFIER_CYAN, VERIFIER_WHITE, VERIFIER_ORANGE,
    VERIFIER_COLOUR_COUNT
} verifier_colour;

typedef enum verifier_shape { VERIFIER_CIRCLE, VERIFIER_SQUARE, VERIFIER_TRIANGLE, VERIFIER_SHAPE_COUNT } verifier_shape;
typedef enum verifier_size { VERIFIER_SIZE_UNSTATED = 0, VERIFIER_SMALL, VERIFIER_LARGE } verifier_size;
typedef enum verifier_where { VERIFIER_LEFT, VERIFIER_RIGHT, VERIFIER_TOP, VERIFIER_BOTTOM, VERIFIER_CENTER } verifier_where;
typedef enum verifier_relation { VERIFIER_LEFT_OF, VERIFIER_RIGHT_OF, VERIFIER_ABOVE, VERIFIER_BELOW } verifier_relation;

/* The data set's constants (tools/train/dataset.py, check.py). */
extern const uint8_t verifier_colour_rgb[VERIFIER_COLOUR_COUNT][3];
const char *verifier_colour_name(verifier_colour c);
const char *verifier_shape_name(verifier_shape s);
const char *verifier_size_name(verifier_size s);       /* "" for unstated */
const char *verifier_where_phrase(verifier_where w);   /* "on the left", "in the center", ... */
const char *verifier_relation_phrase(verifier_relation r); /* "left of", "above", ... */

/* A parsed caption: one object with an optional size and a place, or two related objects. */
typedef struct verifier_caption {
    bool pair;
    verifier_colour colour[2];
    verifier_shape shape[2];
    verifier_size size;          /* single only */
    verifier_where where;        /* single only */
    verifier_relation relation;  /* pair: object 0 <relation> object 1 */
} verifier_caption;

/* Parse "a [small|large] <colour> <shape> (on|at|in) the <where>" or
 * "a <colour> <shape> <left of|right of|above|below> a <colour> <shape>" (case and extra
 * spaces ignored). EVK_ERROR_FORMAT with a message naming the offending word otherwise. */
evk_status verifier_parse(const char *caption, verifier_caption *out);
/* The caption back in the data set's canonical wording. */
void verifier_caption_format(const verifier_caption *c, char *out, uint32_t n);

/* What was measured for one colour (coordinates and sizes in the 32×32 frame). */
typedef struct verifier_object {
    bool present;          /* largest component >= 6 px (in the 32×32 frame) */
    uint32_t colour_pixels; /* every pixel nearest this colour (image pixels) */
    uint32_t area;         /* pixels of the largest component (image pixels) */
    double cx, cy;         /* centroid */
    double width, height;  /* bounding box */
    uint32_t top, bottom;  /* shape statistics, see above */
    uint32_t corners;
    verifier_shape shape;
    verifier_size size;
} verifier_object;

/* Measure the largest 4-connected component of a binary mask (non-zero = set) as an object;
 * the building block of verifier_find_objects, exposed for testing shape classification. */
evk_status verifier_measure_mask(const uint8_t *mask, uint32_t width, uint32_t height, verifier_object *out);

/* Find the object of every colour in an 8-bit RGB image (interleaved, width·height·3). */
evk_status verifier_find_objects(const uint8_t *rgb, uint32_t width, uint32_t height,
                                 verifier_object objects[VERIFIER_COLOUR_COUNT]);

typedef enum verifier_claim_kind { VERIFIER_CLAIM_COLOUR, VERIFIER_CLAIM_SHAPE, VERIFIER_CLAIM_POSITION, VERIFIER_CLAIM_SIZE } verifier_claim_kind;

/* One checked statement: "a red object", "the red object is a circle", ... and what was seen. */
typedef struct verifier_claim {
    verifier_claim_kind kind;
    bool pass;
    char text[80];
    char found[160];
} verifier_claim;

#define VERIFIER_MAX_CLAIMS 8

typedef struct verifier_result {
    bool ok;                                      /* every claim holds */
    bool colour, shape, position, size;           /* per category, as check.py reports them */
    uint32_t claim_count;
    verifier_claim claims[VERIFIER_MAX_CLAIMS];
} verifier_result;

/* Check a parsed caption against measured objects. */
void verifier_check(const verifier_caption *caption, const verifier_object objects[VERIFIER_COLOUR_COUNT],
                    verifier_result *out);

/* Parse, measure and check in one call. */
evk_status verifier_check_image(const uint8_t *rgb, uint32_t width, uint32_t height, const char *caption,
                                verifier_result *out);

#endif
