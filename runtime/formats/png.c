/* png.c — PNG and .npy files (see png.h): stb_image_write/stb_image for pixels, text chunks
 * spliced in by hand and a small strict reader for NumPy's header dict; files are read and
 * written whole through core/file.h.
 *
 * This is the one translation unit that instantiates stb_image_write and stb_image (PNG only);
 * their implementations are compiled with warnings relaxed since they are third-party code. */
#include "formats/png.h"

#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__GNUC__)
/* GCC reports static functions declared but never defined (the decoders STBI_ONLY_PNG leaves
 * out) at the end of the file, after any pop, so this one stays off for the whole file. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wconversion"
#endif
#define STBIW_ASSERT(x) ((void)0) /* stb checks nothing we have not validated first */
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#define STBI_ASSERT(x) ((void)0)
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* ---- PNG chunks -------------------------------------------------------------------------- */

static const uint8_t evk__png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static uint32_t evk__crc_table[256];
static pthread_once_t evk__crc_once = PTHREAD_ONCE_INIT;

static void evk__crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        evk__crc_table[i] = c;
    }
}

static uint32_t evk__crc32(uint32_t crc, const uint8_t *p, size_t n) {
    pthread_once(&evk__crc_once, evk__crc_init);
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = evk__crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint32_t evk__be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void evk__put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

bool evk_utf8_valid(const char *text, size_t n) {
    const uint8_t *s = (const uint8_t *)text;
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n || (len == 2 && c < 0xc2) || (len == 4 && c > 0xf4)) return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return false;
        if (len == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0))) return false;
        if (len == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))) return false;
        i += len;
    }
    return true;
}

static evk_status evk__png_check_key(const char *key) {
    size_t n = key ? strlen(key) : 0;
    if (n < 1 || n > 79) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "PNG text key '%s' must be 1 to 79 characters", key ? key : "");
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)key[i];
        bool printable = (c >= 32 && c <= 126) || c >= 161;
        if (!printable || (c == ' ' && (i == 0 || i == n - 1 || key[i - 1] == ' ')))
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                            "PNG text key '%s': character %zu is not allowed (printable Latin-1, single inner spaces)", key, i);
    }
    return EVK_OK;
}

/* Serialized size of the chunk for one text entry (length + type + data + CRC). */
static evk_status evk__text_chunk(const evk_png_text *t, uint8_t *out, size_t *size) {
    EVK_TRY(evk__png_check_key(t->key));
    if (!t->value) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "PNG text '%s': no value", t->key);
    size_t kn = strlen(t->key), vn = strlen(t->value);
    bool ascii = true;
    for (size_t i = 0; i < vn; i++) ascii = ascii && (uint8_t)t->value[i] < 0x80;
    /* tEXt is Latin-1; anything beyond ASCII is stored as UTF-8 in an uncompressed iTXt so that
     * a prompt with accents or emoji survives unchanged. */
    if (!ascii && !evk_utf8_valid(t->value, vn))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "PNG text '%s': value is not valid UTF-8", t->key);
    size_t data = ascii ? kn + 1 + vn : kn + 1 + 2 + 1 + 1 + vn;
    if (data > 0x7fffffffu) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "PNG text '%s': value too long", t->key);
    *size = data + 12;
    if (!out) return EVK_OK;
    evk__put_be32(out, (uint32_t)data);
    memcpy(out + 4, ascii ? "tEXt" : "iTXt", 4);
    uint8_t *p = out + 8;
    memcpy(p, t->key, kn + 1); /* with its NUL separator */
    p += kn + 1;
    if (!ascii) {
        *p++ = 0; /* not compressed */
        *p++ = 0; /* compression method */
        *p++ = 0; /* empty language tag */
        *p++ = 0; /* empty translated keyword */
    }
    memcpy(p, t->value, vn);
    evk__put_be32(out + 8 + data, evk__crc32(0, out + 4, data + 4));
    return EVK_OK;
}

typedef struct evk__membuf {
    uint8_t *data;
    size_t size, cap;
    bool failed;
} evk__membuf;

static void evk__membuf_append(void *context, void *data, int size) {
    evk__membuf *b = context;
    if (b->failed || size <= 0) return;
    if (b->size + (size_t)size > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->size + (size_t)size) cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->size, data, (size_t)size);
    b->size += (size_t)size;
}

evk_status evk_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                          const evk_png_text *text, uint32_t text_count, uint8_t **png, size_t *png_size) {
    *png = NULL;
    *png_size = 0;
    if (!pixels || !width || !height || channels < 1 || channels > 4)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_png_encode: need pixels, width, height > 0 and 1-4 channels (got %ux%ux%u)",
                        width, height, channels);
    if ((uint64_t)width * channels > INT_MAX / 2 || height > INT_MAX / 2 ||
        (uint64_t)width * channels * height > (uint64_t)INT_MAX / 2)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_png_encode: %ux%ux%u image is too large", width, height, channels);
    if (text_count && !text) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_png_encode: %u text entries but no array", text_count);
    size_t text_bytes = 0;
    for (uint32_t i = 0; i < text_count; i++) {
        size_t n;
        EVK_TRY(evk__text_chunk(&text[i], NULL, &n));
        text_bytes += n;
    }
    evk__membuf b = {0};
    int ok = stbi_write_png_to_func(evk__membuf_append, &b, (int)width, (int)height, (int)channels, pixels,
                                    (int)(width * channels));
    if (!ok || b.failed) {
        free(b.data);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "encoding a %ux%u PNG: out of memory", width, height);
    }
    /* stb writes signature, IHDR (13 data bytes), IDAT, IEND; the text goes right after IHDR. */
    const size_t ihdr_end = 8 + 12 + 13;
    if (b.size < ihdr_end || memcmp(b.data, evk__png_sig, 8) || memcmp(b.data + 12, "IHDR", 4)) {
        free(b.data);
        return evk_fail(EVK_ERROR_INTERNAL, "stb_image_write produced an unexpected PNG layout");
    }
    uint8_t *out = malloc(b.size + text_bytes);
    if (!out) {
        free(b.data);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "encoding a PNG: %zu bytes", b.size + text_bytes);
    }
    memcpy(out, b.data, ihdr_end);
    size_t at = ihdr_end;
    for (uint32_t i = 0; i < text_count; i++) {
        size_t n;
        evk_status s = evk__text_chunk(&text[i], out + at, &n);
        if (s) { /* cannot happen: validated above */
            free(out);
            free(b.data);
            return s;
        }
        at += n;
    }
    memcpy(out + at, b.data + ihdr_end, b.size - ihdr_end);
    *png_size = b.size + text_bytes;
    *png = out;
    free(b.data);
    return EVK_OK;
}

evk_status evk_png_write(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                         const evk_png_text *text, uint32_t text_count) {
    uint8_t *png;
    size_t n;
    evk_status s = evk_png_encode(pixels, width, height, channels, text, text_count, &png, &n);
    if (s) return evk_fail_context(s, "writing '%s'", path ? path : "");
    s = evk_file_write_atomic(path, png, n);
    free(png);
    return s;
}

evk_status evk_image_f32_to_rgb8(const float *data, uint32_t width, uint32_t height, evk_pixel_layout layout,
                                 float lo, float hi, uint8_t *rgb8) {
    if (!data || !rgb8 || !width || !height)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_image_f32_to_rgb8: empty %ux%u image", width, height);
    if (layout != EVK_PIXELS_HWC && layout != EVK_PIXELS_CHW)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_image_f32_to_rgb8: unknown layout %d", (int)layout);
    if (lo == 0.0f && hi == 0.0f) hi = 1.0f;
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_image_f32_to_rgb8: value range [%g, %g] is empty", lo, hi);
    const size_t plane = (size_t)width * height;
    const double scale = 255.0 / ((double)hi - (double)lo);
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) {
            float v = layout == EVK_PIXELS_HWC ? data[p * 3 + (size_t)c] : data[(size_t)c * plane + p];
            if (!isfinite(v))
                return evk_fail(EVK_ERROR_NUMERIC, "image value at x=%zu y=%zu channel %d is %g (NaN/Inf)", p % width,
                                p / width, c, v);
            double q = floor(((double)v - lo) * scale + 0.5);
            rgb8[p * 3 + (size_t)c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
        }
    return EVK_OK;
}

evk_status evk_png_write_f32(const char *path, const float *data, uint32_t width, uint32_t height,
                             evk_pixel_layout layout, float lo, float hi, const evk_png_text *text, uint32_t text_count) {
    if ((uint64_t)width * height > ((uint64_t)1 << 30))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "writing '%s': %ux%u image is too large", path ? path : "", width, height);
    uint8_t *rgb = malloc((size_t)width * height * 3 + 1);
    if (!rgb) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "writing '%s': %ux%u pixels", path ? path : "", width, height);
    evk_status s = evk_image_f32_to_rgb8(data, width, height, layout, lo, hi, rgb);
    if (s) evk_fail_context(s, "writing '%s'", path ? path : "");
    else s = evk_png_write(path, rgb, width, height, 3, text, text_count);
    free(rgb);
    return s;
}

/* Every chunk from the signature to IEND: each inside the file and with a right CRC. stb_image
 * checks neither, so without this a damaged file decodes (or loses its text) as if whole. */
static evk_status evk__png_check_chunks(const uint8_t *png, size_t png_size) {
    if (png_size < 8 || memcmp(png, evk__png_sig, 8)) return evk_fail(EVK_ERROR_FORMAT, "not a PNG file (no PNG signature)");
    for (size_t at = 8;;) {
        if (png_size - at < 12) return evk_fail(EVK_ERROR_FORMAT, "PNG truncated at byte %zu (no IEND chunk)", at);
        uint32_t len = evk__be32(png + at);
        const uint8_t *type = png + at + 4;
        char name[16];
        bool letters = true;
        for (int i = 0; i < 4; i++) letters = letters && ((type[i] | 0x20) >= 'a' && (type[i] | 0x20) <= 'z');
        if (letters) snprintf(name, sizeof name, "'%.4s'", (const char *)type);
        else snprintf(name, sizeof name, "0x%08x", evk__be32(type));
        if (len > 0x7fffffffu || len > png_size - at - 12)
            return evk_fail(EVK_ERROR_FORMAT, "PNG chunk %s at byte %zu claims %u bytes, past the end of the file", name, at, len);
        if (evk__be32(type + 4 + len) != evk__crc32(0, type, (size_t)len + 4))
            return evk_fail(EVK_ERROR_FORMAT, "PNG chunk %s at byte %zu has a bad CRC", name, at);
        if (!memcmp(type, "IEND", 4)) return EVK_OK;
        at += (size_t)len + 12;
    }
}

/* PNG files larger than this are refused rather than read (a 16k x 16k RGBA image is ~1 GiB). */
#define EVK__PNG_MAX_FILE ((size_t)1 << 30)

evk_status evk_png_read_rgb8(const char *path, uint8_t **rgb, uint32_t *width, uint32_t *height) {
    *rgb = NULL;
    *width = *height = 0;
    uint8_t *file;
    size_t n;
    EVK_TRY(evk_file_read(path, EVK__PNG_MAX_FILE, &file, &n));
    evk_status st = evk__png_check_chunks(file, n);
    if (st) {
        free(file);
        return evk_fail_context(st, "'%s'", path);
    }
    int w, h, comp;
    uint8_t *pix = stbi_load_from_memory(file, (int)n, &w, &h, &comp, 3);
    free(file);
    if (!pix) return evk_fail(EVK_ERROR_FORMAT, "cannot decode PNG '%s': %s", path, stbi_failure_reason());
    /* Hand back memory from malloc so callers free() it regardless of stb's allocator. */
    size_t bytes = (size_t)w * (size_t)h * 3;
    uint8_t *out = malloc(bytes);
    if (!out) {
        stbi_image_free(pix);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "decoding '%s': %zu bytes", path, bytes);
    }
    memcpy(out, pix, bytes);
    stbi_image_free(pix);
    *rgb = out;
    *width = (uint32_t)w;
    *height = (uint32_t)h;
    return EVK_OK;
}

evk_status evk_png_read(const char *path, float **rgb, uint32_t *width, uint32_t *height) {
    *rgb = NULL;
    uint8_t *pix;
    EVK_TRY(evk_png_read_rgb8(path, &pix, width, height));
    size_t n = (size_t)*width * *height * 3;
    float *out = malloc(n * sizeof *out);
    if (!out) {
        free(pix);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "decoding '%s': %zu floats", path, n);
    }
    for (size_t i = 0; i < n; i++) out[i] = (float)pix[i] / 255.0f;
    free(pix);
    *rgb = out;
    return EVK_OK;
}

static char *evk__latin1_to_utf8(const uint8_t *s, size_t n) {
    char *out = malloc(2 * n + 1), *p = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) *p++ = (char)s[i];
        else {
            *p++ = (char)(0xc0 | (s[i] >> 6));
            *p++ = (char)(0x80 | (s[i] & 0x3f));
        }
    }
    *p = 0;
    return out;
}

evk_status evk_png_find_text(const uint8_t *png, size_t png_size, const char *key, char **value) {
    *value = NULL;
    if (!png || !key) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_png_find_text: no data or key");
    EVK_TRY(evk__png_check_chunks(png, png_size)); /* the whole file, not only the chunks before the key */
    size_t kn = strlen(key);
    size_t at = 8;
    for (;;) {
        uint32_t len = evk__be32(png + at);
        const uint8_t *type = png + at + 4, *data = png + at + 8;
        if (!memcmp(type, "IEND", 4)) return EVK_OK;
        bool t = !memcmp(type, "tEXt", 4), it = !memcmp(type, "iTXt", 4);
        if ((t || it) && len > kn && !memcmp(data, key, kn) && data[kn] == 0) {
            const uint8_t *v = data + kn + 1, *end = data + len;
            if (t) {
                *value = evk__latin1_to_utf8(v, (size_t)(end - v));
            } else {
                if (end - v < 2) return evk_fail(EVK_ERROR_FORMAT, "PNG iTXt '%s' is truncated", key);
                if (v[0] != 0) return evk_fail(EVK_ERROR_UNSUPPORTED, "PNG iTXt '%s' is compressed (not supported)", key);
                v += 2;
                for (int z = 0; z < 2; z++) { /* language tag, translated keyword */
                    const uint8_t *nul = memchr(v, 0, (size_t)(end - v));
                    if (!nul) return evk_fail(EVK_ERROR_FORMAT, "PNG iTXt '%s' is truncated", key);
                    v = nul + 1;
                }
                size_t vn = (size_t)(end - v);
                *value = malloc(vn + 1);
                if (*value) {
                    memcpy(*value, v, vn);
                    (*value)[vn] = 0;
                }
            }
            if (!*value) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "PNG text '%s': %u bytes", key, len);
            return EVK_OK;
        }
        at += (size_t)len + 12;
    }
}

evk_status evk_png_read_text(const char *path, const char *key, char **value) {
    *value = NULL;
    uint8_t *file;
    size_t n;
    EVK_TRY(evk_file_read(path, EVK__PNG_MAX_FILE, &file, &n));
    evk_status s = evk_png_find_text(file, n, key, value);
    free(file);
    if (s) return evk_fail_context(s, "'%s'", path);
    return EVK_OK;
}

/* ---- .npy ------------------------------------------------------------------------------- */

static const uint8_t evk__npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

evk_status evk_npy_encode_f32(const float *data, const uint64_t *shape, uint32_t ndim, uint8_t **bytes, size_t *size) {
    *bytes = NULL;
    *size = 0;
    if (ndim > EVK_NPY_MAX_DIMS) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, ".npy: %u dimensions (at most %d)", ndim, EVK_NPY_MAX_DIMS);
    if (ndim && !shape) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, ".npy: %u dimensions but no shape", ndim);
    uint64_t count = 1;
    char dims[EVK_NPY_MAX_DIMS * 24 + 8] = "";
    size_t dl = 0;
    for (uint32_t i = 0; i < ndim; i++) {
        if (shape[i] && count > (UINT64_MAX / 8) / shape[i])
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, ".npy: shape overflows at dimension %u", i);
        count *= shape[i];
        dl += (size_t)snprintf(dims + dl, sizeof dims - dl, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
    }
    if (ndim == 1) dl += (size_t)snprintf(dims + dl, sizeof dims - dl, ",");
    if (count && !data) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, ".npy: %llu elements but no data", (unsigned long long)count);
    if (count > (SIZE_MAX - 4096) / 4) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, ".npy: array too large");
    /* Byte for byte what np.save writes: the dict, spare spaces so the first axis can grow to
     * 21 digits in place, then spaces and '\n' up to a multiple of 64 (a whole extra 64 when
     * already aligned, as NumPy does). Version 1.0: the header length is 16-bit. */
    char dict[sizeof dims + 128];
    int hn = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
    if (ndim) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%llu", (unsigned long long)shape[0]);
        for (int i = digits; i < 21; i++) dict[hn++] = ' ';
        dict[hn] = 0;
    }
    const size_t pre = 10, hlen = (size_t)hn + 1, padlen = 64 - (pre + hlen) % 64;
    const size_t padded = pre + hlen + padlen;
    if (padded - pre > 65535) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, ".npy: header too long"); /* cannot happen */
    size_t n = padded + (size_t)count * 4;
    uint8_t *out = malloc(n);
    if (!out) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, ".npy: %zu bytes", n);
    memcpy(out, evk__npy_magic, 6);
    out[6] = 1;
    out[7] = 0;
    out[8] = (uint8_t)((padded - pre) & 0xff);
    out[9] = (uint8_t)((padded - pre) >> 8);
    memcpy(out + pre, dict, (size_t)hn);
    memset(out + pre + hn, ' ', padded - pre - (size_t)hn - 1);
    out[padded - 1] = '\n';
    uint8_t *p = out + padded;
    for (uint64_t i = 0; i < count; i++) { /* explicit little-endian, whatever the host */
        uint32_t u;
        memcpy(&u, &data[i], 4);
        p[4 * i] = (uint8_t)u;
        p[4 * i + 1] = (uint8_t)(u >> 8);
        p[4 * i + 2] = (uint8_t)(u >> 16);
        p[4 * i + 3] = (uint8_t)(u >> 24);
    }
    *bytes = out;
    *size = n;
    return EVK_OK;
}

evk_status evk_npy_write_f32(const char *path, const float *data, const uint64_t *shape, uint32_t ndim) {
    uint8_t *bytes;
    size_t n;
    evk_status s = evk_npy_encode_f32(data, shape, ndim, &bytes, &n);
    if (s) return evk_fail_context(s, "writing '%s'", path ? path : "");
    s = evk_file_write_atomic(path, bytes, n);
    free(bytes);
    return s;
}

/* A cursor over the header's Python dict literal. */
typedef struct evk__lex {
    const char *p, *end, *what;
} evk__lex;

static void evk__lex_ws(evk__lex *l) {
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')) l->p++;
}

static bool evk__lex_char(evk__lex *l, char c) {
    evk__lex_ws(l);
    if (l->p < l->end && *l->p == c) {
        l->p++;
        return true;
    }
    return false;
}

static evk_status evk__lex_string(evk__lex *l, char *out, size_t cap) {
    evk__lex_ws(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
        return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: expected a quoted string at '%.*s'", l->what,
                        (int)(l->end - l->p < 12 ? l->end - l->p : 12), l->p);
    char q = *l->p++;
    size_t n = 0;
    while (l->p < l->end && *l->p != q) {
        if (n + 1 >= cap) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: string too long", l->what);
        out[n++] = *l->p++;
    }
    if (l->p >= l->end) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: unterminated string", l->what);
    l->p++;
    out[n] = 0;
    return EVK_OK;
}

static bool evk__lex_word(evk__lex *l, const char *w) {
    evk__lex_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->p) >= n && !memcmp(l->p, w, n)) {
        l->p += n;
        return true;
    }
    return false;
}

evk_status evk_npy_parse_f32(const uint8_t *bytes, size_t size, const char *what, evk_npy *out) {
    memset(out, 0, sizeof *out);
    if (!what) what = ".npy data";
    if (!bytes || size < 10 || memcmp(bytes, evk__npy_magic, 6))
        return evk_fail(EVK_ERROR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", what);
    uint8_t major = bytes[6];
    size_t pre, hlen;
    if (major == 1) {
        pre = 10;
        hlen = (size_t)bytes[8] | (size_t)bytes[9] << 8;
    } else if (major == 2 || major == 3) {
        if (size < 12) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy file truncated in its preamble", what);
        pre = 12;
        hlen = (size_t)bytes[8] | (size_t)bytes[9] << 8 | (size_t)bytes[10] << 16 | (size_t)bytes[11] << 24;
    } else {
        return evk_fail(EVK_ERROR_FORMAT, "%s: .npy format version %u.%u is not supported (1.0-3.0)", what, major, bytes[7]);
    }
    if (hlen > size - pre)
        return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header length %zu runs past the end of the %zu-byte file", what, hlen, size);
    evk__lex l = {(const char *)bytes + pre, (const char *)bytes + pre + hlen, what};
    for (const char *c = l.p; c < l.end; c++)
        if (!*c) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header contains a NUL byte", what);
    if (!evk__lex_char(&l, '{')) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header is not a dict ('{' expected)", what);
    bool have_descr = false, have_order = false, have_shape = false;
    char descr[32] = "";
    bool fortran = false;
    uint64_t shape[EVK_NPY_MAX_DIMS];
    uint32_t ndim = 0;
    while (!evk__lex_char(&l, '}')) {
        char key[32];
        EVK_TRY(evk__lex_string(&l, key, sizeof key));
        if (!evk__lex_char(&l, ':')) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: ':' expected after '%s'", what, key);
        if (!strcmp(key, "descr") && !have_descr) {
            EVK_TRY(evk__lex_string(&l, descr, sizeof descr));
            have_descr = true;
        } else if (!strcmp(key, "fortran_order") && !have_order) {
            if (evk__lex_word(&l, "True")) fortran = true;
            else if (evk__lex_word(&l, "False")) fortran = false;
            else return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: fortran_order must be True or False", what);
            have_order = true;
        } else if (!strcmp(key, "shape") && !have_shape) {
            if (!evk__lex_char(&l, '(')) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: shape must be a tuple", what);
            while (!evk__lex_char(&l, ')')) {
                evk__lex_ws(&l);
                if (l.p >= l.end || *l.p < '0' || *l.p > '9')
                    return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: shape entries must be non-negative integers", what);
                uint64_t v = 0;
                while (l.p < l.end && *l.p >= '0' && *l.p <= '9') {
                    if (v > (UINT64_MAX - 9) / 10) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: shape entry too large", what);
                    v = v * 10 + (uint64_t)(*l.p++ - '0');
                }
                if (l.p < l.end && *l.p == 'L') l.p++; /* Python 2 longs */
                if (ndim == EVK_NPY_MAX_DIMS)
                    return evk_fail(EVK_ERROR_FORMAT, "%s: .npy array has more than %d dimensions", what, EVK_NPY_MAX_DIMS);
                shape[ndim++] = v;
                if (!evk__lex_char(&l, ',')) {
                    if (!evk__lex_char(&l, ')')) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: malformed shape tuple", what);
                    break;
                }
            }
            have_shape = true;
        } else {
            return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: unexpected or repeated key '%s'", what, key);
        }
        if (!evk__lex_char(&l, ',')) {
            if (!evk__lex_char(&l, '}')) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: ',' or '}' expected", what);
            break;
        }
    }
    evk__lex_ws(&l);
    if (l.p != l.end) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header: trailing characters after the dict", what);
    if (!have_descr || !have_order || !have_shape)
        return evk_fail(EVK_ERROR_FORMAT, "%s: .npy header lacks '%s'", what,
                        !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    if (strcmp(descr, "<f4"))
        return evk_fail(EVK_ERROR_FORMAT, "%s: .npy dtype is '%s'; only little-endian float32 ('<f4') is supported "
                        "(convert with arr.astype('<f4'))", what, descr);
    if (fortran && ndim > 1)
        return evk_fail(EVK_ERROR_FORMAT, "%s: .npy array is in Fortran order; only C order is supported "
                        "(save np.ascontiguousarray(arr))", what);
    uint64_t count = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        if (shape[i] && count > UINT64_MAX / 4 / shape[i]) return evk_fail(EVK_ERROR_FORMAT, "%s: .npy shape overflows", what);
        count *= shape[i];
    }
    size_t data_off = pre + hlen, have = size - data_off;
    if (count * 4 != have)
        return evk_fail(EVK_ERROR_FORMAT, "%s: .npy shape holds %llu float32 (%llu bytes) but %zu data bytes follow the header",
                        what, (unsigned long long)count, (unsigned long long)count * 4, have);
    float *data = malloc(count ? (size_t)count * 4 : 4);
    if (!data) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: %llu floats", what, (unsigned long long)count);
    const uint8_t *p = bytes + data_off;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        memcpy(&data[i], &u, 4);
    }
    out->data = data;
    out->ndim = ndim;
    memcpy(out->shape, shape, ndim * sizeof shape[0]);
    out->count = count;
    return EVK_OK;
}

evk_status evk_npy_read_f32(const char *path, evk_npy *out) {
    memset(out, 0, sizeof *out);
    uint8_t *bytes;
    size_t n;
    EVK_TRY(evk_file_read(path, SIZE_MAX, &bytes, &n));
    evk_status s = evk_npy_parse_f32(bytes, n, path, out);
    free(bytes);
    return s;
}

void evk_npy_free(evk_npy *array) {
    if (!array) return;
    free(array->data);
    memset(array, 0, sizeof *array);
}
