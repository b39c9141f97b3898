/* test_verifier.c — the pixel verifier of the shapes model's captions: the caption parser
 * (every form of the grammar, unknown words named in the error), shape/size/position measurement
 * on shapes drawn here with the data set's geometry, and accuracy on ground-truth renders of
 * tools/train/dataset.py (tests/data/verifier, made by tools/ref/fixtures_verifier.py): matching
 * captions accepted, captions with one attribute changed rejected, and the same verdict as the
 * Python prototype (tools/train/check.py) on every tile. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "formats/png.h"

#include "verifier.h"

/* ---- parser ------------------------------------------------------------------------------- */

static void test_parse_grammar(void **state) {
    (void)state;
    verifier_caption c;
    TEST_OK(verifier_parse("a small red circle on the left", &c));
    assert_false(c.pair);
    assert_int_equal(c.size, VERIFIER_SMALL);
    assert_int_equal(c.colour[0], VERIFIER_RED);
    assert_int_equal(c.shape[0], VERIFIER_CIRCLE);
    assert_int_equal(c.where, VERIFIER_LEFT);
    TEST_OK(verifier_parse("  A Purple   TRIANGLE in the center ", &c));
    assert_int_equal(c.size, VERIFIER_SIZE_UNSTATED);
    assert_int_equal(c.colour[0], VERIFIER_PURPLE);
    assert_int_equal(c.shape[0], VERIFIER_TRIANGLE);
    assert_int_equal(c.where, VERIFIER_CENTER);
    TEST_OK(verifier_parse("a red circle left of a blue square", &c));
    assert_true(c.pair);
    assert_int_equal(c.colour[0], VERIFIER_RED);
    assert_int_equal(c.shape[0], VERIFIER_CIRCLE);
    assert_int_equal(c.relation, VERIFIER_LEFT_OF);
    assert_int_equal(c.colour[1], VERIFIER_BLUE);
    assert_int_equal(c.shape[1], VERIFIER_SQUARE);
    TEST_OK(verifier_parse("a white square below a orange triangle", &c));
    assert_int_equal(c.relation, VERIFIER_BELOW);
    assert_int_equal(c.colour[1], VERIFIER_ORANGE);

    /* every caption the grammar makes parses and formats back to itself */
    static const char *wheres[] = {"on the left", "on the right", "at the top", "at the bottom", "in the center"};
    static const char *rels[] = {"left of", "right of", "above", "below"};
    static const char *sizes[] = {"", "small ", "large "};
    char text[160], back[160];
    int n = 0;
    for (int col = 0; col < VERIFIER_COLOUR_COUNT; col++)
        for (int sh = 0; sh < VERIFIER_SHAPE_COUNT; sh++) {
            for (int sz = 0; sz < 3; sz++)
                for (int w = 0; w < 5; w++) {
                    snprintf(text, sizeof text, "a %s%s %s %s", sizes[sz], verifier_colour_name((verifier_colour)(col)), verifier_shape_name((verifier_shape)(sh)), wheres[w]);
                    TEST_OK(verifier_parse(text, &c));
                    verifier_caption_format(&c, back, sizeof back);
                    assert_string_equal(back, text);
                    n++;
                }
            for (int r = 0; r < 4; r++) {
                int col2 = (col + 1 + r) % VERIFIER_COLOUR_COUNT, sh2 = (sh + r) % 3;
                snprintf(text, sizeof text, "a %s %s %s a %s %s", verifier_colour_name((verifier_colour)(col)), verifier_shape_name((verifier_shape)(sh)), rels[r],
                         verifier_colour_name((verifier_colour)(col2)), verifier_shape_name((verifier_shape)(sh2)));
                TEST_OK(verifier_parse(text, &c));
                verifier_caption_format(&c, back, sizeof back);
                assert_string_equal(back, text);
                n++;
            }
        }
    assert_int_equal(n, 8 * 3 * (15 + 4));
}

static void test_parse_errors_name_the_word(void **state) {
    (void)state;
    const struct { const char *caption, *fragment; } cases[] = {
        {"a magenta circle on the left", "unknown word 'magenta'"},
        {"a red hexagon above a blue square", "unknown word 'hexagon'"},
        {"a red circle next to a blue square", "unknown word 'next'"},
        {"a red circle on the left please", "unknown word 'please'"},
        {"a red circle in the centre", "unknown word 'centre'"},
        {"an orange circle on the left", "unknown word 'an'"},
        {"a red circle", "ends too early"},
        {"a red circle left a blue square", "expected 'of' at word 5, found 'a'"},
        {"a red left on the circle", "found 'left'"},
        {"a large red circle left of a blue square", "found 'left'"}, /* sizes only for single objects */
        {"a red circle on the left of a blue square", "unexpected 'of'"},
        {"", "empty caption"},
        {"a red circle on the middle", "unknown word 'middle'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        verifier_caption c;
        evk_status s = verifier_parse(cases[i].caption, &c);
        if (s != EVK_ERROR_FORMAT) fail_msg("\"%s\" accepted (%s)", cases[i].caption, evk_status_name(s));
        if (!strstr(evk_error_message(), cases[i].fragment))
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].caption, evk_error_message(), cases[i].fragment);
    }
    verifier_caption c;
    char longcap[400] = "a";
    for (int i = 0; i < 30; i++) strcat(longcap, " red");
    assert_int_equal(verifier_parse(longcap, &c), EVK_ERROR_FORMAT);
}

/* ---- measurement on shapes drawn here ----------------------------------------------------- */

/* dataset.shape_mask: pixel centres at +0.5; circle radius s, square half-side 0.9 s, triangle
 * pointing up with base = height = 2.2 s. */
static bool in_shape(verifier_shape shape, double x, double y, double cx, double cy, double s) {
    x += 0.5;
    y += 0.5;
    switch (shape) {
    case VERIFIER_CIRCLE: return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= s * s;
    case VERIFIER_SQUARE: return fabs(x - cx) <= 0.9 * s && fabs(y - cy) <= 0.9 * s;
    case VERIFIER_TRIANGLE: {
        double h = 2.2 * s, f = (y - (cy - h / 2)) / h;
        return f >= 0 && f <= 1 && fabs(x - cx) <= f * h / 2;
    }
    default: return false;
    }
}

/* Draw one shape of a colour on a dark noisy background into a 32x32 RGB image; returns its
 * pixel count and exact centroid. */
static int draw(uint8_t *img, test_rng *r, verifier_shape shape, verifier_colour colour, double cx, double cy, double s,
                double *mx, double *my) {
    int n = 0;
    double sx = 0, sy = 0;
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            uint8_t *p = img + (y * 32 + x) * 3;
            if (in_shape(shape, x, y, cx, cy, s)) {
                for (int k = 0; k < 3; k++) {
                    int v = verifier_colour_rgb[colour][k] + (int)lround(test_rng_uniform(r) * 24 - 12);
                    p[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
                n++;
                sx += x + 0.5;
                sy += y + 0.5;
            } else if (!p[0] && !p[1] && !p[2]) {
                for (int k = 0; k < 3; k++) p[k] = (uint8_t)(1 + test_rng_uniform(r) * 69); /* background <= 70 */
            }
        }
    *mx = n ? sx / n : 0;
    *my = n ? sy / n : 0;
    return n;
}

static void test_shapes_drawn_in_c(void **state) {
    (void)state;
    test_rng r = {21};
    int right[VERIFIER_SHAPE_COUNT] = {0}, sizes_right = 0, total = 0;
    const int per_shape = 300;
    for (int shape = 0; shape < VERIFIER_SHAPE_COUNT; shape++)
        for (int i = 0; i < per_shape; i++) {
            /* sizes of both classes as the data set draws them, anywhere the shape fits */
            bool large = i % 2;
            double s = large ? 7.0 + 1.5 * test_rng_uniform(&r) : 3.5 + test_rng_uniform(&r);
            double half = shape == VERIFIER_TRIANGLE ? 1.1 * s : s;
            double cx = half + 1 + (30 - 2 * half) * test_rng_uniform(&r), cy = half + 1 + (30 - 2 * half) * test_rng_uniform(&r);
            verifier_colour colour = (verifier_colour)(test_rng_u64(&r) % VERIFIER_COLOUR_COUNT);
            uint8_t img[32 * 32 * 3] = {0};
            double mx, my;
            int n = draw(img, &r, (verifier_shape)shape, colour, cx, cy, s, &mx, &my);
            verifier_object objs[VERIFIER_COLOUR_COUNT];
            TEST_OK(verifier_find_objects(img, 32, 32, objs));
            const verifier_object *o = &objs[colour];
            assert_true(o->present);
            assert_int_equal(o->area, n);
            for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++)
                if (c != (int)colour && objs[c].present) fail_msg("a %s object appeared in a one-object image", verifier_colour_name((verifier_colour)(c)));
            /* the centroid is exact: every pixel of the shape was found */
            assert_true(fabs(o->cx - mx) < 1e-9 && fabs(o->cy - my) < 1e-9);
            right[shape] += o->shape == (verifier_shape)shape;
            sizes_right += o->size == (large ? VERIFIER_LARGE : VERIFIER_SMALL);
            total++;
        }
    for (int shape = 0; shape < VERIFIER_SHAPE_COUNT; shape++) {
        print_message("%-8s classified right in %d of %d drawings\n", verifier_shape_name((verifier_shape)(shape)), right[shape], per_shape);
        if (right[shape] < per_shape * 98 / 100) fail_msg("%s: only %d of %d right", verifier_shape_name((verifier_shape)(shape)), right[shape], per_shape);
    }
    print_message("size right in %d of %d\n", sizes_right, total);
    assert_true(sizes_right >= total * 98 / 100);
}

static void test_measure_mask_specks_and_components(void **state) {
    (void)state;
    uint8_t speck[32 * 32] = {0}, mask[20 * 10] = {0};
    verifier_object o;
    /* a 5-pixel speck is not an object; 6 pixels are */
    for (int i = 0; i < 5; i++) speck[2 * 32 + 3 + i] = 1;
    TEST_OK(verifier_measure_mask(speck, 32, 32, &o));
    assert_false(o.present);
    assert_int_equal(o.area, 5);
    speck[2 * 32 + 8] = 1;
    TEST_OK(verifier_measure_mask(speck, 32, 32, &o));
    assert_true(o.present);
    /* in a 20x10 image a pixel counts 1.6 x 3.2 of the 32x32 frame: 2 pixels make an object */
    mask[0] = 1;
    TEST_OK(verifier_measure_mask(mask, 20, 10, &o));
    assert_false(o.present);
    mask[1] = 1;
    TEST_OK(verifier_measure_mask(mask, 20, 10, &o));
    assert_true(o.present);
    mask[0] = mask[1] = 0;
    /* diagonal neighbours are not connected (4-connectivity); the largest component wins */
    memset(mask, 0, sizeof mask);
    for (int i = 0; i < 6; i++) mask[(1 + i) * 20 + 1 + i] = 1; /* diagonal: six 1-px parts */
    for (int y = 5; y < 8; y++)
        for (int x = 12; x < 15; x++) mask[y * 20 + x] = 1; /* a 3x3 block */
    TEST_OK(verifier_measure_mask(mask, 20, 10, &o));
    assert_int_equal(o.area, 9);
    assert_int_equal(o.colour_pixels, 15);
    assert_true(fabs(o.cx - 13.5 * 32.0 / 20) < 1e-9 && fabs(o.cy - 6.5 * 32.0 / 10) < 1e-9);
    assert_int_equal(o.corners, 4);
    assert_int_equal(o.shape, VERIFIER_SQUARE);
    assert_int_equal(verifier_measure_mask(mask, 0, 10, &o), EVK_ERROR_INVALID_ARGUMENT);
}

static void test_colours_and_background(void **state) {
    (void)state;
    test_rng r = {22};
    /* dark backgrounds (every channel <= 70), plain or noisy, hold no object */
    uint8_t img[32 * 32 * 3];
    for (int i = 0; i < 32 * 32 * 3; i++) img[i] = (uint8_t)(test_rng_uniform(&r) * 71);
    verifier_object objs[VERIFIER_COLOUR_COUNT];
    TEST_OK(verifier_find_objects(img, 32, 32, objs));
    for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++) assert_false(objs[c].present);
    /* every colour, jittered by +-12 as the data set does, is recognised */
    for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++)
        for (int t = 0; t < 50; t++) {
            memset(img, 20, sizeof img);
            double mx, my;
            draw(img, &r, VERIFIER_SQUARE, (verifier_colour)c, 16, 16, 5, &mx, &my);
            TEST_OK(verifier_find_objects(img, 32, 32, objs));
            for (int k = 0; k < VERIFIER_COLOUR_COUNT; k++)
                if (objs[k].present != (k == c)) fail_msg("%s square: %s present = %d", verifier_colour_name((verifier_colour)(c)), verifier_colour_name((verifier_colour)(k)), objs[k].present);
        }
    /* a mid grey is foreground (max channel >= 110) but farther than 110 from every colour */
    memset(img, 120, sizeof img);
    TEST_OK(verifier_find_objects(img, 32, 32, objs));
    for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++) assert_false(objs[c].present);
}

/* An image upscaled by nearest neighbour gets the same verdicts as the original. */
static void test_upscaled_images_agree(void **state) {
    (void)state;
    test_rng r = {23};
    const char *captions[] = {"a large yellow triangle at the bottom", "a small cyan circle at the top",
                              "a green square right of a red triangle", "a white circle above a purple square"};
    for (int t = 0; t < 40; t++) {
        uint8_t img[32 * 32 * 3] = {0};
        double mx, my;
        draw(img, &r, VERIFIER_TRIANGLE, VERIFIER_YELLOW, 16 + 2 * test_rng_normal(&r), 23.5, 7.5, &mx, &my);
        draw(img, &r, VERIFIER_CIRCLE, VERIFIER_CYAN, 16, 8.5 + test_rng_normal(&r), 4, &mx, &my);
        draw(img, &r, VERIFIER_SQUARE, VERIFIER_GREEN, 24, 10, 3.5, &mx, &my);
        draw(img, &r, VERIFIER_TRIANGLE, VERIFIER_RED, 7, 9 + 4 * test_rng_uniform(&r), 3.5, &mx, &my);
        const int up = 3;
        uint8_t *big = malloc(32 * 32 * 3 * up * up);
        for (int y = 0; y < 32 * up; y++)
            for (int x = 0; x < 32 * up; x++) memcpy(big + (y * 32 * up + x) * 3, img + ((y / up) * 32 + x / up) * 3, 3);
        verifier_object a[VERIFIER_COLOUR_COUNT], b[VERIFIER_COLOUR_COUNT];
        TEST_OK(verifier_find_objects(img, 32, 32, a));
        TEST_OK(verifier_find_objects(big, 32 * up, 32 * up, b));
        for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++) {
            assert_int_equal(a[c].present, b[c].present);
            if (!a[c].present) continue;
            assert_int_equal(a[c].shape, b[c].shape);
            assert_int_equal(a[c].size, b[c].size);
            assert_true(fabs(a[c].cx - b[c].cx) < 1.0 / up && fabs(a[c].cy - b[c].cy) < 1.0 / up);
        }
        for (size_t k = 0; k < sizeof captions / sizeof captions[0]; k++) {
            verifier_result ra, rb;
            TEST_OK(verifier_check_image(img, 32, 32, captions[k], &ra));
            TEST_OK(verifier_check_image(big, 32 * up, 32 * up, captions[k], &rb));
            assert_int_equal(ra.ok, rb.ok);
        }
        free(big);
    }
}

/* Claims of a two-object caption: which fail and what they say. */
static void test_claims_report(void **state) {
    (void)state;
    test_rng r = {24};
    uint8_t img[32 * 32 * 3] = {0};
    double mx, my;
    draw(img, &r, VERIFIER_CIRCLE, VERIFIER_RED, 8, 16, 4.5, &mx, &my);
    draw(img, &r, VERIFIER_SQUARE, VERIFIER_BLUE, 24, 15, 4.5, &mx, &my);
    verifier_result res;
    TEST_OK(verifier_check_image(img, 32, 32, "a red circle left of a blue square", &res));
    assert_true(res.ok);
    assert_int_equal(res.claim_count, 5);
    for (uint32_t i = 0; i < res.claim_count; i++) assert_true(res.claims[i].pass);
    TEST_OK(verifier_check_image(img, 32, 32, "a red circle right of a blue square", &res));
    assert_false(res.ok);
    assert_true(res.colour && res.shape && !res.position);
    assert_string_equal(res.claims[4].text, "the red object is right of the blue object");
    assert_false(res.claims[4].pass);
    assert_non_null(strstr(res.claims[4].found, "needs dx > 5"));
    TEST_OK(verifier_check_image(img, 32, 32, "a red triangle left of a green square", &res));
    assert_false(res.ok);
    assert_false(res.claims[1].pass);                     /* no green object */
    assert_non_null(strstr(res.claims[1].found, "no green"));
    assert_false(res.claims[2].pass);                     /* the red object is a circle */
    assert_non_null(strstr(res.claims[2].found, "circle"));
    TEST_OK(verifier_check_image(img, 32, 32, "a large red circle on the left", &res));
    assert_false(res.ok);
    assert_true(res.colour && res.shape && res.position && !res.size);
    assert_int_equal(verifier_check_image(img, 32, 32, "a red blob on the left", &res), EVK_ERROR_FORMAT);
}

/* ---- ground truth from the data set -------------------------------------------------------- */

static void test_dataset_accuracy(void **state) {
    (void)state;
    char path[512];
    uint8_t *atlas;
    uint32_t aw, ah;
    TEST_OK(evk_png_read_rgb8(test_data_path("verifier/atlas.png", path, sizeof path), &atlas, &aw, &ah));
    FILE *f = fopen(test_data_path("verifier/captions.txt", path, sizeof path), "r");
    if (!f) fail_msg("cannot open %s", path);
    assert_int_equal(aw % 32, 0);
    const uint32_t cols = aw / 32;
    char line[512];
    int tiles = 0, pos_ok = 0, neg_rejected = 0, agree = 0;
    int neg_kind_total[4] = {0}, neg_kind_rejected[4] = {0};
    uint8_t tile[32 * 32 * 3];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char *idx = strtok(line, "\t"), *cap = strtok(NULL, "\t"), *neg = strtok(NULL, "\t"), *p = strtok(NULL, "\t"),
             *q = strtok(NULL, "\t\n");
        if (!idx || !cap || !neg || !p || !q) fail_msg("malformed captions.txt line %d", tiles + 2);
        uint32_t i = (uint32_t)atoi(idx), tx = i % cols, ty = i / cols;
        assert_true((ty + 1) * 32 <= ah);
        for (int y = 0; y < 32; y++) memcpy(tile + y * 32 * 3, atlas + ((size_t)(ty * 32 + y) * aw + tx * 32) * 3, 32 * 3);
        verifier_result rp, rn;
        TEST_OK(verifier_check_image(tile, 32, 32, cap, &rp));
        TEST_OK(verifier_check_image(tile, 32, 32, neg, &rn));
        pos_ok += rp.ok;
        neg_rejected += !rn.ok;
        agree += (rp.ok == (atoi(p) == 1)) + (rn.ok == (atoi(q) == 1));
        if (rp.ok != (atoi(p) == 1) || rn.ok != (atoi(q) == 1))
            print_message("tile %u: C and check.py disagree on \"%s\" (%d/%s) or \"%s\" (%d/%s)\n", i, cap, rp.ok, p, neg, rn.ok, q);
        if (!rp.ok) print_message("tile %u: ground truth \"%s\" fails\n", i, cap);
        /* which attribute the negative changed: compare parses */
        verifier_caption a, b;
        TEST_OK(verifier_parse(cap, &a));
        TEST_OK(verifier_parse(neg, &b));
        int kind = (a.colour[0] != b.colour[0] || (a.pair && a.colour[1] != b.colour[1])) ? 0
                   : (a.shape[0] != b.shape[0] || (a.pair && a.shape[1] != b.shape[1])) ? 1
                   : a.size != b.size                                                     ? 3
                                                                                          : 2;
        neg_kind_total[kind]++;
        neg_kind_rejected[kind] += !rn.ok;
        tiles++;
    }
    fclose(f);
    free(atlas);
    print_message("%d ground-truth tiles: %d captions accepted (%.1f%%), %d of %d negatives rejected (%.1f%%), "
                  "agreement with check.py %d of %d\n",
                  tiles, pos_ok, 100.0 * pos_ok / tiles, neg_rejected, tiles, 100.0 * neg_rejected / tiles, agree, 2 * tiles);
    print_message("negatives rejected by kind: colour %d/%d, shape %d/%d, position/relation/swap %d/%d, size %d/%d\n",
                  neg_kind_rejected[0], neg_kind_total[0], neg_kind_rejected[1], neg_kind_total[1], neg_kind_rejected[2],
                  neg_kind_total[2], neg_kind_rejected[3], neg_kind_total[3]);
    assert_true(tiles >= 200);
    assert_true(pos_ok * 100 >= tiles * 95);
    assert_true(neg_rejected * 100 >= tiles * 95);
    assert_int_equal(agree, 2 * tiles); /* the C verifier mirrors the prototype exactly */
    for (int k = 0; k < 4; k++) assert_true(neg_kind_total[k] > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_grammar),
        cmocka_unit_test(test_parse_errors_name_the_word),
        cmocka_unit_test(test_shapes_drawn_in_c),
        cmocka_unit_test(test_measure_mask_specks_and_components),
        cmocka_unit_test(test_colours_and_background),
        cmocka_unit_test(test_upscaled_images_agree),
        cmocka_unit_test(test_claims_report),
        cmocka_unit_test(test_dataset_accuracy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
