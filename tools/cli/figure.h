/* figure.h — pictures for reports without any plotting dependency: a canvas of 8-bit RGB with
 * rectangles, lines and text in a small embedded bitmap font; a labelled grid of images (rows of
 * methods or seeds, columns of budgets, a score under each sample, upscaled nearest so a 32×32
 * sample is visible); and a line plot (axes, ticks, legend, several series) for curves such as
 * reward against NFE. Saved as PNG through runtime/formats/png.h, with text chunks if wanted.
 *
 * Text is ASCII in a hand-written 5×7 font (6×9 cell per character at scale 1) plus two extra
 * glyphs from UTF-8: ✓ (U+2713/U+2714) drawn in green and ✗ (U+2717/U+2718) drawn in red, so a
 * label such as "r=0.731 ✓" reads at a glance. Other non-ASCII characters draw as '?'. */
#ifndef EVOKE_FIGURE_H
#define EVOKE_FIGURE_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/png.h"
#include "core/status.h"

typedef struct figure_canvas {
    uint32_t width, height;
    uint8_t *rgb; /* width·height·3, row-major */
} figure_canvas;

/* Character cell at scale 1: glyphs are 5×7 inside a 6×9 cell (spacing and descender room). */
enum { FIGURE_CHAR_W = 6, FIGURE_CHAR_H = 9 };

evk_status figure_canvas_create(uint32_t width, uint32_t height, const uint8_t background[3], figure_canvas *out);
void figure_canvas_free(figure_canvas *c);

/* Drawing clips to the canvas; coordinates may be negative or past the edge. */
void figure_fill_rect(figure_canvas *c, int x, int y, int w, int h, const uint8_t colour[3]);
void figure_draw_line(figure_canvas *c, int x0, int y0, int x1, int y1, int thickness, const uint8_t colour[3]);
/* Draw UTF-8 `text` with its top-left at (x, y), each font pixel a scale×scale block; '\n' starts
 * a new line. Characters past `max_width` pixels (0 = no limit) are not drawn. */
void figure_draw_text(figure_canvas *c, int x, int y, const char *text, int scale, const uint8_t colour[3], int max_width);
/* Width in pixels of the longest line of `text` at `scale`, and its number of lines. */
int figure_text_width(const char *text, int scale);
int figure_text_lines(const char *text);
/* Copy an RGB image into the canvas at (x, y), each source pixel an upscale×upscale block. */
void figure_blit(figure_canvas *c, int x, int y, const uint8_t *rgb, uint32_t width, uint32_t height, uint32_t upscale);

evk_status figure_save(const figure_canvas *c, const char *path, const evk_png_text *text, uint32_t text_count);

/* A grid of equally sized RGB images, rows × cols, row-major. Any title array may be NULL, and
 * any entry NULL (no text); a NULL image leaves its cell empty (light grey). Zero fields take
 * defaults. Layout at text scale t, on white: 8t px margins and 6t px gaps between cells; the
 * title (scale 2t) takes lines × 18t + 6t px, column titles and labels lines × 9t + 3t px, row
 * titles their width + 6t px; text wider than a cell is cut off. */
typedef struct figure_grid_desc {
    uint32_t rows, cols;
    uint32_t image_width, image_height;
    const uint8_t *const *images;      /* rows·cols pointers to image_width·image_height·3 bytes */
    uint32_t upscale;                  /* nearest-neighbour factor; 0 → 4 */
    const char *title;                 /* above everything */
    const char *const *row_titles;     /* rows entries, left of each row */
    const char *const *col_titles;     /* cols entries, above each column */
    const char *const *labels;         /* rows·cols entries, under each image */
    uint32_t text_scale;               /* 0 → 1 */
} figure_grid_desc;

/* Lay out and draw the grid into a new canvas (free it with figure_canvas_free). */
evk_status figure_grid(const figure_grid_desc *desc, figure_canvas *out);

typedef struct figure_series {
    const char *name;                  /* legend entry (NULL: not in the legend) */
    const double *x, *y;               /* count points; NaN/Inf points are skipped */
    uint32_t count;
} figure_series;

typedef struct figure_plot_desc {
    const char *title, *x_label, *y_label;
    const figure_series *series;
    uint32_t series_count;
    uint32_t width, height;            /* 0 → 640 × 400 */
    bool log_x;                        /* log10 x axis (NFE budgets grow geometrically) */
} figure_plot_desc;

/* Draw a line plot into a new canvas: frame, ticks at round values with labels, one colour per
 * series with point markers, and a legend in the top-left corner. Series colours are
 * figure_series_colour(i). */
evk_status figure_plot(const figure_plot_desc *desc, figure_canvas *out);
const uint8_t *figure_series_colour(uint32_t index);

/* Where figure_plot put the plotting area and how it maps data to pixels (for tests, overlays). */
typedef struct figure_plot_frame {
    int left, top, right, bottom;      /* pixel box of the axes */
    double x_min, x_max, y_min, y_max; /* data range of the box (log10 values when log_x) */
} figure_plot_frame;
evk_status figure_plot_ex(const figure_plot_desc *desc, figure_canvas *out, figure_plot_frame *frame);

#endif
