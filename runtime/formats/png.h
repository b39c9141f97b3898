/* png.h — image and array files: PNG out with the generation parameters in text chunks, PNG in
 * as float RGB, NumPy .npy f32 arrays in and out, and the atomic file write they all share.
 *
 * Every file evoke writes appears whole or not at all: data goes to a temporary file in the
 * destination directory which is renamed over the target only after a successful write and
 * flush, so an interrupted search never leaves a truncated PNG or .npy behind. PNGs are
 * encoded by stb_image_write; it cannot write text chunks, so the encoded stream is taken from
 * memory and the chunks (tEXt for Latin-1 text, iTXt for UTF-8) are spliced in after IHDR.
 * .npy files are NumPy's format 1.0/2.0 with dtype '<f4' in C order — what `np.save` writes for
 * a float32 array and what `np.load` reads back. */
#ifndef EVK_PNG_H
#define EVK_PNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Conventional keys: the prompt as given, and the generation parameters as one JSON object. */
#define EVK_PNG_KEY_PROMPT "prompt"
#define EVK_PNG_KEY_PARAMETERS "parameters"

/* One text chunk. Keys are 1–79 printable Latin-1 characters without leading, trailing or
 * double spaces (the PNG rule); values may be any UTF-8 without NUL bytes. */
typedef struct evk_png_text {
    const char *key;
    const char *value;
} evk_png_text;

/* Pixel layout of float images: interleaved (height, width, channel) or planar
 * (channel, height, width) as a model's NCHW output is. */
typedef enum evk_pixel_layout { EVK_PIXELS_HWC = 0, EVK_PIXELS_CHW = 1 } evk_pixel_layout;

/* Whether the n bytes are well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool evk_utf8_valid(const char *s, size_t n);

/* Encode 8-bit pixels (rows of width*channels bytes, channels 1–4: grey, grey+alpha, RGB,
 * RGBA) as a PNG in memory with `text_count` text chunks; *png is malloc'd (free() it). */
evk_status evk_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                          const evk_png_text *text, uint32_t text_count, uint8_t **png, size_t *png_size);

/* Encode and write atomically. */
evk_status evk_png_write(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                         const evk_png_text *text, uint32_t text_count);

/* Float RGB → 8-bit RGB: value v maps to round(255·(v − lo)/(hi − lo)) clamped to [0, 255]
 * (lo = −1, hi = 1 for a decoder's output; lo = hi = 0 means [0, 1]). `rgb8` holds
 * width·height·3 bytes, interleaved. NaN or Inf anywhere is EVK_ERROR_NUMERIC naming the pixel,
 * never a silently grey image. */
evk_status evk_image_f32_to_rgb8(const float *data, uint32_t width, uint32_t height, evk_pixel_layout layout,
                                 float lo, float hi, uint8_t *rgb8);

/* evk_image_f32_to_rgb8 then evk_png_write. */
evk_status evk_png_write_f32(const char *path, const float *data, uint32_t width, uint32_t height,
                             evk_pixel_layout layout, float lo, float hi, const evk_png_text *text, uint32_t text_count);

/* Read a PNG as 8-bit RGB (grey is expanded, alpha dropped); *rgb is malloc'd, width·height·3. */
evk_status evk_png_read_rgb8(const char *path, uint8_t **rgb, uint32_t *width, uint32_t *height);

/* Read a PNG as float RGB in [0, 1], interleaved (height, width, 3); *rgb is malloc'd. */
evk_status evk_png_read(const char *path, float **rgb, uint32_t *width, uint32_t *height);

/* The value of text chunk `key` (tEXt or uncompressed iTXt) in a PNG held in memory or on disk,
 * as a malloc'd NUL-terminated string; *value = NULL (and EVK_OK) when there is no such chunk.
 * Every chunk's CRC is checked on the way: a corrupt file is EVK_ERROR_FORMAT. */
evk_status evk_png_find_text(const uint8_t *png, size_t png_size, const char *key, char **value);
evk_status evk_png_read_text(const char *path, const char *key, char **value);

/* ---- NumPy .npy, float32 ------------------------------------------------------------------ */

#define EVK_NPY_MAX_DIMS 8

/* An f32 array read from a .npy file; free its data with evk_npy_free. */
typedef struct evk_npy {
    float *data;
    uint32_t ndim;
    uint64_t shape[EVK_NPY_MAX_DIMS];
    uint64_t count; /* product of the shape (1 for a 0-d array) */
} evk_npy;

/* Write a C-ordered f32 array with the given shape (ndim 0–EVK_NPY_MAX_DIMS) atomically. */
evk_status evk_npy_write_f32(const char *path, const float *data, const uint64_t *shape, uint32_t ndim);

/* Encode in memory (*bytes malloc'd). */
evk_status evk_npy_encode_f32(const float *data, const uint64_t *shape, uint32_t ndim, uint8_t **bytes, size_t *size);

/* Parse a .npy held in memory / read one from disk. Only version 1.0/2.0/3.0 headers with
 * descr '<f4' and fortran_order False are accepted; anything else — bad magic, header length
 * past the end, a malformed dict, another dtype, a shape whose data does not exactly fill the
 * rest of the file — is EVK_ERROR_FORMAT with a message saying what was found. `what` names
 * the source in messages (the path for evk_npy_read). */
evk_status evk_npy_parse_f32(const uint8_t *bytes, size_t size, const char *what, evk_npy *out);
evk_status evk_npy_read_f32(const char *path, evk_npy *out);
void evk_npy_free(evk_npy *array);

#ifdef __cplusplus
}
#endif
#endif
