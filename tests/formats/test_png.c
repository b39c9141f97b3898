/* test_png.c — PNG and .npy files and figures: pixels survive a write/read round trip, the text
 * chunks are where and what they should be (chunks parsed and CRCs checked here, independently
 * of runtime/formats/png.c), failed writes leave no file, .npy matches NumPy byte for byte and malformed
 * headers are refused with a message, and grids and plots are laid out and drawn as documented. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "formats/png.h"

#include "figure.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static char tmpdir[64];

static int group_setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/evoke-test-png-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int group_teardown(void **state) {
    (void)state;
    chmod(tmpdir, 0755);
    remove_tree(tmpdir);
    return 0;
}

static const char *tmp_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", tmpdir, name);
    return buf;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries of `dir` whose name contains `needle` (leftover temporary files). */
static int count_entries(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, needle)) n++;
    closedir(d);
    return n;
}

static uint8_t *read_all(const char *path, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size + 1);
    *n = fread(buf, 1, (size_t)size, f);
    fclose(f);
    return buf;
}

static void random_bytes(test_rng *r, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(test_rng_u64(r) >> 56);
}

/* Bit-at-a-time CRC-32 (ISO 3309, as PNG specifies), deliberately not the table version. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

typedef struct chunk { char type[5]; const uint8_t *data; uint32_t len; } chunk;

/* Split a PNG into chunks, failing the test on a bad signature, length or CRC. */
static int parse_chunks(const uint8_t *png, size_t n, chunk *out, int cap) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_true(n >= 8);
    assert_memory_equal(png, sig, 8);
    size_t at = 8;
    int count = 0;
    while (at < n) {
        assert_true(n - at >= 12);
        uint32_t len = (uint32_t)png[at] << 24 | (uint32_t)png[at + 1] << 16 | (uint32_t)png[at + 2] << 8 | png[at + 3];
        assert_true(len <= n - at - 12);
        uint32_t crc = (uint32_t)png[at + 8 + len] << 24 | (uint32_t)png[at + 9 + len] << 16 |
                       (uint32_t)png[at + 10 + len] << 8 | png[at + 11 + len];
        if (crc != crc32_bitwise(png + at + 4, (size_t)len + 4)) fail_msg("chunk %d has a bad CRC", count);
        assert_true(count < cap);
        memcpy(out[count].type, png + at + 4, 4);
        out[count].type[4] = 0;
        out[count].data = png + at + 8;
        out[count].len = len;
        count++;
        at += (size_t)len + 12;
    }
    assert_int_equal(at, n);
    assert_string_equal(out[count - 1].type, "IEND");
    return count;
}

/* ---- PNG ---------------------------------------------------------------------------------- */

static void test_png_roundtrip_pixels(void **state) {
    (void)state;
    test_rng r = {11};
    char path[256];
    for (uint32_t ch = 1; ch <= 4; ch++) {
        const uint32_t w = 37, h = 23; /* odd sizes: no row or filter alignment luck */
        uint8_t *px = malloc(w * h * ch);
        random_bytes(&r, px, w * h * ch);
        snprintf(path, sizeof path, "%s/rt%u.png", tmpdir, ch);
        TEST_OK(evk_png_write(path, px, w, h, ch, NULL, 0));
        uint8_t *back;
        uint32_t bw, bh;
        TEST_OK(evk_png_read_rgb8(path, &back, &bw, &bh));
        assert_int_equal(bw, w);
        assert_int_equal(bh, h);
        for (uint32_t i = 0; i < w * h; i++)
            for (uint32_t c = 0; c < 3; c++) {
                /* grey expands to three equal channels; alpha is dropped */
                uint8_t want = ch <= 2 ? px[i * ch] : px[i * ch + c];
                if (back[i * 3 + c] != want)
                    fail_msg("%u channels: pixel %u channel %u: %u, expected %u", ch, i, c, back[i * 3 + c], want);
            }
        float *f;
        TEST_OK(evk_png_read(path, &f, &bw, &bh));
        for (uint32_t i = 0; i < w * h * 3; i++) assert_true(f[i] == (float)back[i] / 255.0f);
        free(f);
        free(back);
        free(px);
    }
}

static void test_png_text_chunks(void **state) {
    (void)state;
    test_rng r = {12};
    uint8_t px[19 * 7 * 3];
    random_bytes(&r, px, sizeof px);
    const char *params = "{\"seed\": 42, \"method\": \"evo\", \"nfe\": 5000}";
    const char *utf8 = "caf\xc3\xa9 \xe2\x9c\x93";
    evk_png_text text[] = {{EVK_PNG_KEY_PROMPT, "a red circle left of a blue square"},
                           {EVK_PNG_KEY_PARAMETERS, params},
                           {"Comment", utf8}};
    char path[256];
    tmp_path("text.png", path, sizeof path);
    TEST_OK(evk_png_write(path, px, 19, 7, 3, text, 3));
    size_t n;
    uint8_t *png = read_all(path, &n);
    assert_non_null(png);
    chunk chunks[32];
    int count = parse_chunks(png, n, chunks, 32);
    assert_true(count >= 6);
    assert_string_equal(chunks[0].type, "IHDR");
    /* the text comes right after IHDR, before the pixels */
    assert_string_equal(chunks[1].type, "tEXt");
    assert_string_equal(chunks[2].type, "tEXt");
    assert_string_equal(chunks[3].type, "iTXt");
    assert_string_equal(chunks[4].type, "IDAT");
    const char *want1 = "prompt\0a red circle left of a blue square";
    assert_int_equal(chunks[1].len, 6 + 1 + strlen("a red circle left of a blue square"));
    assert_memory_equal(chunks[1].data, want1, chunks[1].len);
    assert_int_equal(chunks[2].len, strlen("parameters") + 1 + strlen(params));
    assert_memory_equal(chunks[2].data, "parameters", 11);
    assert_memory_equal(chunks[2].data + 11, params, strlen(params));
    /* iTXt: key NUL, compression flag 0, method 0, empty language NUL, empty keyword NUL, text */
    assert_int_equal(chunks[3].len, 7 + 1 + 2 + 1 + 1 + strlen(utf8));
    assert_memory_equal(chunks[3].data, "Comment\0\0\0\0\0", 12);
    assert_memory_equal(chunks[3].data + 12, utf8, strlen(utf8));
    free(png);

    char *v;
    TEST_OK(evk_png_read_text(path, "parameters", &v));
    assert_string_equal(v, params);
    free(v);
    TEST_OK(evk_png_read_text(path, "Comment", &v));
    assert_string_equal(v, utf8);
    free(v);
    TEST_OK(evk_png_read_text(path, "missing", &v));
    assert_null(v);
    TEST_OK(evk_png_read_text(path, "prompt", &v)); /* a key that prefixes no other */
    assert_string_equal(v, "a red circle left of a blue square");
    free(v);
    /* pixels are unaffected by the spliced chunks */
    uint8_t *back;
    uint32_t w, h;
    TEST_OK(evk_png_read_rgb8(path, &back, &w, &h));
    assert_memory_equal(back, px, sizeof px);
    free(back);

    /* bad keys and values are refused before anything is written */
    char bad_path[256];
    tmp_path("badkey.png", bad_path, sizeof bad_path);
    evk_png_text bad[] = {{" lead", "x"}, {"", "x"}, {"a  b", "x"}, {"ok", "\xff\xfe not utf-8"}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(evk_png_write(bad_path, px, 19, 7, 3, &bad[i], 1), EVK_ERROR_INVALID_ARGUMENT);
        assert_false(exists(bad_path));
    }
}

static void test_png_corrupt_crc_detected(void **state) {
    (void)state;
    uint8_t px[4 * 4 * 3];
    memset(px, 77, sizeof px);
    evk_png_text t = {"prompt", "a blue square at the top"};
    uint8_t *png;
    size_t n;
    TEST_OK(evk_png_encode(px, 4, 4, 3, &t, 1, &png, &n));
    char *v;
    TEST_OK(evk_png_find_text(png, n, "prompt", &v));
    assert_string_equal(v, "a blue square at the top");
    free(v);
    png[33 + 8 + 3] ^= 0x20; /* a byte inside the tEXt data */
    assert_int_equal(evk_png_find_text(png, n, "prompt", &v), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "CRC"));
    assert_null(v);
    assert_int_equal(evk_png_find_text(png, 20, "prompt", &v), EVK_ERROR_FORMAT); /* truncated */
    png[33 + 8 + 3] ^= 0x20;
    /* a bad CRC after the text chunk still makes the file corrupt */
    png[n - 1] ^= 0x01; /* IEND's CRC */
    assert_int_equal(evk_png_find_text(png, n, "prompt", &v), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "'IEND'"));
    png[n - 1] ^= 0x01;
    /* pixels are not read from a file whose IHDR CRC is wrong: the error names file and chunk */
    png[8 + 8 + 13] ^= 0xff; /* first byte of IHDR's CRC */
    char bad[256];
    tmp_path("bad_ihdr_crc.png", bad, sizeof bad);
    FILE *bf = fopen(bad, "wb");
    assert_non_null(bf);
    assert_int_equal(fwrite(png, 1, n, bf), n);
    fclose(bf);
    uint8_t *pix = NULL;
    uint32_t pw, ph;
    assert_int_equal(evk_png_read_rgb8(bad, &pix, &pw, &ph), EVK_ERROR_FORMAT);
    assert_null(pix);
    assert_non_null(strstr(evk_error_message(), bad));
    assert_non_null(strstr(evk_error_message(), "'IHDR' at byte 8 has a bad CRC"));
    free(png);
    /* a file that is not a PNG */
    char path[256];
    tmp_path("not.png", path, sizeof path);
    FILE *f = fopen(path, "wb");
    fputs("GIF89a definitely not a png", f);
    fclose(f);
    uint8_t *rgb;
    uint32_t w, h;
    assert_int_equal(evk_png_read_rgb8(path, &rgb, &w, &h), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), path));
    assert_int_equal(evk_png_read_rgb8("/nonexistent/evoke.png", &rgb, &w, &h), EVK_ERROR_IO);
    assert_non_null(strstr(evk_error_message(), "/nonexistent/evoke.png"));
}

static void test_png_atomic_write_failures(void **state) {
    (void)state;
    uint8_t px[8 * 8 * 3];
    memset(px, 200, sizeof px);
    char path[600], dir[512];

    /* nonexistent directory */
    snprintf(path, sizeof path, "%s/no/such/dir/out.png", tmpdir);
    assert_int_equal(evk_png_write(path, px, 8, 8, 3, NULL, 0), EVK_ERROR_IO);
    assert_non_null(strstr(evk_error_message(), path));
    assert_false(exists(path));

    /* the parent is a regular file */
    tmp_path("plain", dir, sizeof dir);
    FILE *f = fopen(dir, "w");
    fclose(f);
    snprintf(path, sizeof path, "%s/out.png", dir);
    assert_int_equal(evk_png_write(path, px, 8, 8, 3, NULL, 0), EVK_ERROR_IO);
    assert_non_null(strstr(evk_error_message(), path));

    /* the target is a non-empty directory: the rename fails and the temporary file is removed */
    tmp_path("sub", dir, sizeof dir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/keep", dir);
    f = fopen(path, "w");
    fclose(f);
    assert_int_equal(evk_png_write(dir, px, 8, 8, 3, NULL, 0), EVK_ERROR_IO);
    assert_non_null(strstr(evk_error_message(), dir));
    assert_int_equal(count_entries(tmpdir, ".tmp"), 0);

    /* a directory without write permission (root ignores permissions: checked only as a user) */
    tmp_path("ro", dir, sizeof dir);
    mkdir(dir, 0555);
    snprintf(path, sizeof path, "%s/out.png", dir);
    if (geteuid() != 0) {
        assert_int_equal(evk_png_write(path, px, 8, 8, 3, NULL, 0), EVK_ERROR_IO);
        assert_non_null(strstr(evk_error_message(), path));
        assert_false(exists(path));
        assert_int_equal(count_entries(dir, ""), 2); /* . and .. */
    }

    /* NaN in a float image: an error naming the pixel, and no file */
    float img[3 * 5 * 4];
    test_rng r = {13};
    test_rng_fill(&r, img, 60, -1.0f, 1.0f);
    img[3 * 7 + 1] = NAN;
    tmp_path("nan.png", path, sizeof path);
    assert_int_equal(evk_png_write_f32(path, img, 5, 4, EVK_PIXELS_HWC, -1, 1, NULL, 0), EVK_ERROR_NUMERIC);
    assert_non_null(strstr(evk_error_message(), "x=2 y=1 channel 1"));
    assert_false(exists(path));

    /* a successful write replaces an existing file whole */
    tmp_path("replace.png", path, sizeof path);
    f = fopen(path, "w");
    fputs("old contents", f);
    fclose(f);
    TEST_OK(evk_png_write(path, px, 8, 8, 3, NULL, 0));
    uint8_t *back;
    uint32_t w, h;
    TEST_OK(evk_png_read_rgb8(path, &back, &w, &h));
    assert_memory_equal(back, px, sizeof px);
    free(back);
    assert_int_equal(count_entries(tmpdir, ".tmp"), 0);
}

static void test_png_float_layouts(void **state) {
    (void)state;
    const uint32_t w = 6, h = 5, n = w * h;
    float hwc[6 * 5 * 3], chw[6 * 5 * 3];
    test_rng r = {14};
    test_rng_fill(&r, hwc, n * 3, -1.3f, 1.3f); /* some values outside [-1, 1]: clamped */
    for (uint32_t p = 0; p < n; p++)
        for (uint32_t c = 0; c < 3; c++) chw[c * n + p] = hwc[p * 3 + c];
    char a[256], b[256];
    tmp_path("hwc.png", a, sizeof a);
    tmp_path("chw.png", b, sizeof b);
    TEST_OK(evk_png_write_f32(a, hwc, w, h, EVK_PIXELS_HWC, -1, 1, NULL, 0));
    TEST_OK(evk_png_write_f32(b, chw, w, h, EVK_PIXELS_CHW, -1, 1, NULL, 0));
    uint8_t *pa, *pb;
    uint32_t ww, hh;
    TEST_OK(evk_png_read_rgb8(a, &pa, &ww, &hh));
    TEST_OK(evk_png_read_rgb8(b, &pb, &ww, &hh));
    for (uint32_t i = 0; i < n * 3; i++) {
        double q = floor(((double)hwc[i] + 1.0) * 127.5 + 0.5);
        uint8_t want = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
        if (pa[i] != want || pb[i] != want) fail_msg("value %u (%g): %u / %u, expected %u", i, hwc[i], pa[i], pb[i], want);
    }
    free(pa);
    free(pb);
    assert_int_equal(evk_png_write_f32(a, hwc, w, h, EVK_PIXELS_HWC, 1, 1, NULL, 0), EVK_ERROR_INVALID_ARGUMENT);
}

/* ---- .npy --------------------------------------------------------------------------------- */

/* np.save(f, (np.arange(6, dtype='<f4').reshape(2, 3) * 0.5 - 1.25)) */
static const uint8_t numpy_2x3[] =
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x3c\x66\x34\x27\x2c\x20\x27\x66\x6f\x72\x74"
    "\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73"
    "\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x32\x2c\x20"
    "\x33\x29\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a"
    "\x00\x00\xa0\xbf\x00\x00\x40\xbf\x00\x00\x80\xbe\x00\x00\x80\x3e"
    "\x00\x00\x40\x3f\x00\x00\xa0\x3f";

static void test_npy_matches_numpy(void **state) {
    (void)state;
    const size_t n = sizeof numpy_2x3 - 1;
    evk_npy a;
    TEST_OK(evk_npy_parse_f32(numpy_2x3, n, "numpy_2x3", &a));
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 3);
    assert_int_equal(a.count, 6);
    for (int i = 0; i < 6; i++) assert_true(a.data[i] == (float)i * 0.5f - 1.25f);
    uint8_t *bytes;
    size_t size;
    TEST_OK(evk_npy_encode_f32(a.data, a.shape, a.ndim, &bytes, &size));
    assert_int_equal(size, n);
    assert_memory_equal(bytes, numpy_2x3, n); /* byte for byte what np.save writes */
    free(bytes);
    evk_npy_free(&a);
    assert_null(a.data);
}

static void test_npy_roundtrip(void **state) {
    (void)state;
    test_rng r = {15};
    const uint64_t shapes[][4] = {{3, 5, 7, 2}, {1001, 0, 0, 0}, {0, 0, 0, 0}, {4, 0, 3, 0}, {123456789012, 0, 0, 0}};
    const uint32_t ndims[] = {4, 1, 0, 3, 0};
    char path[256];
    tmp_path("rt.npy", path, sizeof path);
    for (int t = 0; t < 4; t++) {
        uint64_t count = 1;
        for (uint32_t i = 0; i < ndims[t]; i++) count *= shapes[t][i];
        float *data = malloc((count ? count : 1) * sizeof(float));
        test_rng_fill(&r, data, count, -3.0f, 3.0f);
        TEST_OK(evk_npy_write_f32(path, data, shapes[t], ndims[t]));
        evk_npy a;
        TEST_OK(evk_npy_read_f32(path, &a));
        assert_int_equal(a.ndim, ndims[t]);
        assert_int_equal(a.count, count);
        for (uint32_t i = 0; i < ndims[t]; i++) assert_int_equal(a.shape[i], shapes[t][i]);
        if (count) assert_memory_equal(a.data, data, count * sizeof(float));
        size_t n;
        uint8_t *file = read_all(path, &n);
        assert_non_null(file);
        assert_int_equal((n - count * 4) % 64, 0); /* data starts 64-byte aligned */
        free(file);
        evk_npy_free(&a);
        free(data);
    }
    /* elements without data are refused */
    assert_int_equal(evk_npy_write_f32(path, NULL, shapes[4], 1), EVK_ERROR_INVALID_ARGUMENT);
}

/* A .npy with the given version and header text (padded as written) and `data_bytes` of data. */
static uint8_t *make_npy(int major, const char *header, size_t data_bytes, size_t *size) {
    size_t pre = major == 1 ? 10 : 12, hl = strlen(header);
    *size = pre + hl + data_bytes;
    uint8_t *b = calloc(1, *size);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[8] = (uint8_t)(hl & 0xff);
    b[9] = (uint8_t)(hl >> 8);
    memcpy(b + pre, header, hl);
    for (size_t i = 0; i < data_bytes; i++) b[pre + hl + i] = (uint8_t)(0x3f + (i % 4 == 3 ? 0 : 1)); /* not zeros */
    return b;
}

static void test_npy_accepts_variants(void **state) {
    (void)state;
    size_t n;
    evk_npy a;
    /* key order, double quotes, no trailing comma, extra whitespace, a 1-tuple, version 2.0 */
    uint8_t *b = make_npy(1, "{\"shape\": (5,), \"fortran_order\": False, \"descr\": \"<f4\"}   \n", 20, &n);
    TEST_OK(evk_npy_parse_f32(b, n, "variant", &a));
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.shape[0], 5);
    evk_npy_free(&a);
    free(b);
    b = make_npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", 16, &n);
    TEST_OK(evk_npy_parse_f32(b, n, "v2", &a));
    assert_int_equal(a.count, 4);
    evk_npy_free(&a);
    free(b);
    /* Fortran order of a 1-D array is the same layout */
    b = make_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }\n", 12, &n);
    TEST_OK(evk_npy_parse_f32(b, n, "f1d", &a));
    evk_npy_free(&a);
    free(b);
}

static void test_npy_rejects_malformed(void **state) {
    (void)state;
    const struct {
        int major;
        const char *header;
        size_t data;
        const char *message; /* a fragment the error must contain */
    } cases[] = {
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", 16, "'<f8'"},
        {1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", 8, "'>f4'"},
        {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24, "Fortran"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 20, "24 bytes"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 28, "28 data bytes"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }\n", 8, "non-negative"},
        {1, "{'descr': '<f4', 'fortran_order': False, }\n", 8, "shape"},
        {1, "{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,), }\n", 8, "True or False"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}\n", 8, "'extra'"},
        {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n", 8, "repeated"},
        {1, "['descr', '<f4']\n", 8, "not a dict"},
        {1, "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}\n", 8, ".npy header"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk\n", 8, "trailing"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}\n", 8, "shape"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}\n", 8, "too large"},
        {7, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n", 8, "version 7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        uint8_t *b = make_npy(cases[i].major, cases[i].header, cases[i].data, &n);
        evk_npy a;
        evk_status s = evk_npy_parse_f32(b, n, "case.npy", &a);
        if (s != EVK_ERROR_FORMAT) fail_msg("case %zu accepted (%s): %s", i, evk_status_name(s), cases[i].header);
        if (!strstr(evk_error_message(), cases[i].message) || !strstr(evk_error_message(), "case.npy"))
            fail_msg("case %zu: message '%s' lacks '%s'", i, evk_error_message(), cases[i].message);
        assert_null(a.data);
        free(b);
    }
    /* bad magic, and a header length running past the end of the file */
    evk_npy a;
    assert_int_equal(evk_npy_parse_f32((const uint8_t *)"\x93NUMPX\x01\x00\x10\x00{}", 12, "m.npy", &a), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "magic"));
    size_t n;
    uint8_t *b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n", 8, &n);
    b[9] = 0x40; /* header length 16384+ */
    assert_int_equal(evk_npy_parse_f32(b, n, "len.npy", &a), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "past the end"));
    free(b);
    assert_int_equal(evk_npy_read_f32("/nonexistent/latents.npy", &a), EVK_ERROR_IO);
    assert_non_null(strstr(evk_error_message(), "/nonexistent/latents.npy"));
}

/* ---- figures ------------------------------------------------------------------------------ */

static const uint8_t *pixel(const figure_canvas *c, int x, int y) { return c->rgb + ((size_t)y * c->width + (size_t)x) * 3; }

static bool is_rgb(const uint8_t *p, uint8_t r, uint8_t g, uint8_t b) { return p[0] == r && p[1] == g && p[2] == b; }

static int count_in(const figure_canvas *c, int x0, int y0, int x1, int y1, const uint8_t *rgb /* NULL: non-white */) {
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const uint8_t *p = pixel(c, x, y);
            n += rgb ? is_rgb(p, rgb[0], rgb[1], rgb[2]) : !is_rgb(p, 255, 255, 255);
        }
    return n;
}

static void test_figure_text(void **state) {
    (void)state;
    assert_int_equal(figure_text_width("abc", 1), 17);
    assert_int_equal(figure_text_width("abc", 2), 34);
    assert_int_equal(figure_text_width("r=0.731 \xe2\x9c\x93", 1), 9 * 6 - 1); /* the check mark is one glyph */
    assert_int_equal(figure_text_width("ab\nwxyz", 1), 23);
    assert_int_equal(figure_text_lines("ab\nwxyz"), 2);
    figure_canvas c;
    TEST_OK(figure_canvas_create(40, 12, NULL, &c));
    figure_draw_text(&c, 1, 1, "|", 1, (const uint8_t[3]){0, 0, 0}, 0);
    /* '|' is column 2 of the glyph, rows 0-6 */
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 8; x++) {
            bool ink = x == 3 && y >= 1 && y <= 7;
            if (is_rgb(pixel(&c, x, y), 0, 0, 0) != ink) fail_msg("'|' pixel (%d, %d)", x, y);
        }
    figure_draw_text(&c, -3, -3, "clipped at every edge", 3, (const uint8_t[3]){0, 0, 0}, 0); /* must not crash */
    figure_canvas_free(&c);
}

static void test_figure_grid(void **state) {
    (void)state;
    enum { R = 2, C = 3, IW = 5, IH = 4, UP = 3 };
    uint8_t imgs[R * C][IW * IH * 3];
    test_rng r = {16};
    for (int i = 0; i < R * C; i++) random_bytes(&r, imgs[i], sizeof imgs[i]);
    const uint8_t *ptrs[R * C];
    for (int i = 0; i < R * C; i++) ptrs[i] = imgs[i];
    ptrs[4] = NULL; /* an empty cell */

    /* bare grid: 8 px margins and 6 px gaps (text scale 1) */
    figure_grid_desc d = {.rows = R, .cols = C, .image_width = IW, .image_height = IH, .images = ptrs, .upscale = UP};
    figure_canvas g;
    TEST_OK(figure_grid(&d, &g));
    assert_int_equal(g.width, 8 + C * IW * UP + (C - 1) * 6 + 8);
    assert_int_equal(g.height, 8 + R * IH * UP + (R - 1) * 6 + 8);
    assert_true(is_rgb(pixel(&g, 0, 0), 255, 255, 255));
    for (int cell = 0; cell < R * C; cell++) {
        int x0 = 8 + (cell % C) * (IW * UP + 6), y0 = 8 + (cell / C) * (IH * UP + 6);
        for (int y = 0; y < IH * UP; y++)
            for (int x = 0; x < IW * UP; x++) {
                const uint8_t *p = pixel(&g, x0 + x, y0 + y);
                const uint8_t *want = ptrs[cell] ? ptrs[cell] + ((y / UP) * IW + x / UP) * 3 : (const uint8_t[3]){225, 225, 225};
                if (memcmp(p, want, 3)) fail_msg("cell %d pixel (%d, %d)", cell, x, y);
            }
        /* the gap to the right of a cell is background */
        if (cell % C < C - 1) assert_true(is_rgb(pixel(&g, x0 + IW * UP + 2, y0 + 1), 255, 255, 255));
    }
    figure_canvas_free(&g);

    /* with titles and labels: each adds its strip, text is drawn in it */
    const char *rows[R] = {"best-of-n", "evo"};
    const char *cols[C] = {"NFE 100", "NFE 500", "NFE 1000"};
    const char *labels[R * C] = {"r=0.731 \xe2\x9c\x93", "r=0.2 \xe2\x9c\x97", NULL, "x", "y", "z"};
    d.row_titles = rows;
    d.col_titles = cols;
    d.labels = labels;
    d.upscale = 12; /* 60 px wide cells hold the labels */
    TEST_OK(figure_grid(&d, &g));
    const int iw = IW * 12, ih = IH * 12, left = 8 + figure_text_width("best-of-n", 1) + 6, top = 8 + 9 + 3;
    assert_int_equal(g.width, left + C * iw + (C - 1) * 6 + 8);
    assert_int_equal(g.height, top + R * (ih + 9 + 3) + (R - 1) * 6 + 8);
    /* image pixel of cell (1, 0) */
    assert_memory_equal(pixel(&g, left + 27, top + (ih + 12 + 6) + 17), imgs[3] + ((17 / 12) * IW + 27 / 12) * 3, 3);
    /* labels: green check under cell 0, red cross under cell 1, nothing under cell 2 */
    const uint8_t green[3] = {30, 170, 60}, red[3] = {220, 40, 40};
    int ly = top + ih, lx1 = left + iw + 6, lx2 = left + 2 * (iw + 6);
    assert_true(count_in(&g, left, ly, left + iw, ly + 12, green) > 4);
    assert_true(count_in(&g, left, ly, left + iw, ly + 12, NULL) > 20);
    assert_true(count_in(&g, lx1, ly, lx1 + iw, ly + 12, red) > 4);
    assert_int_equal(count_in(&g, lx2, ly, lx2 + iw, ly + 12, NULL), 0);
    /* row and column titles */
    assert_true(count_in(&g, 8, top, left - 3, top + ih, NULL) > 20);
    assert_true(count_in(&g, left, 8, left + iw, top - 3, NULL) > 20);
    /* it saves and reads back unchanged */
    char path[256];
    tmp_path("grid.png", path, sizeof path);
    TEST_OK(figure_save(&g, path, &(evk_png_text){"prompt", "a red circle on the left"}, 1));
    uint8_t *back;
    uint32_t w, h;
    TEST_OK(evk_png_read_rgb8(path, &back, &w, &h));
    assert_int_equal(w, g.width);
    assert_int_equal(h, g.height);
    assert_memory_equal(back, g.rgb, (size_t)w * h * 3);
    free(back);
    figure_canvas_free(&g);

    d.rows = 0;
    assert_int_equal(figure_grid(&d, &g), EVK_ERROR_INVALID_ARGUMENT);
}

static void test_figure_plot(void **state) {
    (void)state;
    const double nfe[] = {100, 200, 500, 1000, 2000, 5000};
    const double evo[] = {0.41, 0.52, 0.63, 0.70, 0.74, 0.78};
    const double bon[] = {0.40, 0.45, NAN, 0.53, 0.56, 0.58}; /* a missing point: skipped */
    figure_series s[] = {{"evo", nfe, evo, 6}, {"best-of-n", nfe, bon, 6}};
    figure_plot_desc d = {.title = "reward vs NFE", .x_label = "NFE", .y_label = "reward", .series = s,
                          .series_count = 2, .log_x = true};
    figure_canvas c;
    figure_plot_frame f;
    TEST_OK(figure_plot_ex(&d, &c, &f));
    assert_int_equal(c.width, 640);
    assert_int_equal(c.height, 400);
    assert_true(f.left > 10 && f.right < 640 && f.top > 10 && f.bottom < 400);
    /* log axis spans whole decades around 100..5000; the y range holds every value */
    assert_true(fabs(f.x_min - 2.0) < 1e-9 && fabs(f.x_max - 4.0) < 1e-9);
    assert_true(f.y_min <= 0.40 && f.y_max >= 0.78);
    /* the axes frame is drawn, in black, over its whole length */
    for (int x = f.left; x <= f.right; x++) {
        assert_true(is_rgb(pixel(&c, x, f.bottom), 0, 0, 0));
        assert_true(is_rgb(pixel(&c, x, f.top), 0, 0, 0));
    }
    for (int y = f.top; y <= f.bottom; y++) assert_true(is_rgb(pixel(&c, f.left, y), 0, 0, 0));
    /* tick marks below the axis and tick labels under them */
    assert_true(count_in(&c, f.left, f.bottom + 1, f.right, f.bottom + 5, NULL) >= 3 + 16);
    assert_true(count_in(&c, f.left - 20, f.bottom + 6, f.right + 10, f.bottom + 16, NULL) > 30);
    assert_true(count_in(&c, 0, f.top, f.left - 5, f.bottom, NULL) > 30);
    /* each series' markers sit where its data maps */
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 6; i++) {
            if (isnan(s[k].y[i])) continue;
            int px = f.left + (int)lround((log10(nfe[i]) - f.x_min) / (f.x_max - f.x_min) * (f.right - f.left));
            int py = f.bottom - (int)lround((s[k].y[i] - f.y_min) / (f.y_max - f.y_min) * (f.bottom - f.top));
            const uint8_t *col = figure_series_colour((uint32_t)k);
            if (count_in(&c, px - 2, py - 2, px + 3, py + 3, col) < 9) fail_msg("series %d point %d not drawn at (%d, %d)", k, i, px, py);
        }
    /* the legend names both series: both colours appear outside the markers' neighbourhoods too */
    assert_true(count_in(&c, f.left, f.top, f.right, f.bottom, figure_series_colour(1)) > 100);
    figure_canvas_free(&c);

    /* degenerate data: one point, no points, no series */
    const double one = 3.0;
    figure_series single = {"one", &one, &one, 1};
    d.series = &single;
    d.series_count = 1;
    d.log_x = false;
    TEST_OK(figure_plot(&d, &c));
    figure_canvas_free(&c);
    d.series_count = 0;
    TEST_OK(figure_plot(&d, &c));
    figure_canvas_free(&c);
    d.width = 50;
    assert_int_equal(figure_plot(&d, &c), EVK_ERROR_INVALID_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_roundtrip_pixels),
        cmocka_unit_test(test_png_text_chunks),
        cmocka_unit_test(test_png_corrupt_crc_detected),
        cmocka_unit_test(test_png_atomic_write_failures),
        cmocka_unit_test(test_png_float_layouts),
        cmocka_unit_test(test_npy_matches_numpy),
        cmocka_unit_test(test_npy_roundtrip),
        cmocka_unit_test(test_npy_accepts_variants),
        cmocka_unit_test(test_npy_rejects_malformed),
        cmocka_unit_test(test_figure_text),
        cmocka_unit_test(test_figure_grid),
        cmocka_unit_test(test_figure_plot),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
