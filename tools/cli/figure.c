/* figure.c — canvas, bitmap font, image grids and line plots (see figure.h).
 *
 * The font is the classic 5×7 LCD font, one glyph per printable ASCII character stored as five
 * column bytes with bit 0 the top row; it is small enough to live here and needs no font files,
 * which keeps figures byte-identical on every machine. */
#include "figure.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t figure__font[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */ {0x00, 0x00, 0x5f, 0x00, 0x00}, /* ! */
    {0x00, 0x07, 0x00, 0x07, 0x00}, /* " */  {0x14, 0x7f, 0x14, 0x7f, 0x14}, /* # */
    {0x24, 0x2a, 0x7f, 0x2a, 0x12}, /* $ */  {0x23, 0x13, 0x08, 0x64, 0x62}, /* % */
    {0x36, 0x49, 0x55, 0x22, 0x50}, /* & */  {0x00, 0x05, 0x03, 0x00, 0x00}, /* ' */
    {0x00, 0x1c, 0x22, 0x41, 0x00}, /* ( */  {0x00, 0x41, 0x22, 0x1c, 0x00}, /* ) */
    {0x14, 0x08, 0x3e, 0x08, 0x14}, /* * */  {0x08, 0x08, 0x3e, 0x08, 0x08}, /* + */
    {0x00, 0x50, 0x30, 0x00, 0x00}, /* , */  {0x08, 0x08, 0x08, 0x08, 0x08}, /* - */
    {0x00, 0x60, 0x60, 0x00, 0x00}, /* . */  {0x20, 0x10, 0x08, 0x04, 0x02}, /* / */
    {0x3e, 0x51, 0x49, 0x45, 0x3e}, /* 0 */  {0x00, 0x42, 0x7f, 0x40, 0x00}, /* 1 */
    {0x42, 0x61, 0x51, 0x49, 0x46}, /* 2 */  {0x21, 0x41, 0x45, 0x4b, 0x31}, /* 3 */
    {0x18, 0x14, 0x12, 0x7f, 0x10}, /* 4 */  {0x27, 0x45, 0x45, 0x45, 0x39}, /* 5 */
    {0x3c, 0x4a, 0x49, 0x49, 0x30}, /* 6 */  {0x01, 0x71, 0x09, 0x05, 0x03}, /* 7 */
    {0x36, 0x49, 0x49, 0x49, 0x36}, /* 8 */  {0x06, 0x49, 0x49, 0x29, 0x1e}, /* 9 */
    {0x00, 0x36, 0x36, 0x00, 0x00}, /* : */  {0x00, 0x56, 0x36, 0x00, 0x00}, /* ; */
    {0x08, 0x14, 0x22, 0x41, 0x00}, /* < */  {0x14, 0x14, 0x14, 0x14, 0x14}, /* = */
    {0x00, 0x41, 0x22, 0x14, 0x08}, /* > */  {0x02, 0x01, 0x51, 0x09, 0x06}, /* ? */
    {0x32, 0x49, 0x79, 0x41, 0x3e}, /* @ */  {0x7e, 0x11, 0x11, 0x11, 0x7e}, /* A */
    {0x7f, 0x49, 0x49, 0x49, 0x36}, /* B */  {0x3e, 0x41, 0x41, 0x41, 0x22}, /* C */
    {0x7f, 0x41, 0x41, 0x22, 0x1c}, /* D */  {0x7f, 0x49, 0x49, 0x49, 0x41}, /* E */
    {0x7f, 0x09, 0x09, 0x09, 0x01}, /* F */  {0x3e, 0x41, 0x49, 0x49, 0x7a}, /* G */
    {0x7f, 0x08, 0x08, 0x08, 0x7f}, /* H */  {0x00, 0x41, 0x7f, 0x41, 0x00}, /* I */
    {0x20, 0x40, 0x41, 0x3f, 0x01}, /* J */  {0x7f, 0x08, 0x14, 0x22, 0x41}, /* K */
    {0x7f, 0x40, 0x40, 0x40, 0x40}, /* L */  {0x7f, 0x02, 0x0c, 0x02, 0x7f}, /* M */
    {0x7f, 0x04, 0x08, 0x10, 0x7f}, /* N */  {0x3e, 0x41, 0x41, 0x41, 0x3e}, /* O */
    {0x7f, 0x09, 0x09, 0x09, 0x06}, /* P */  {0x3e, 0x41, 0x51, 0x21, 0x5e}, /* Q */
    {0x7f, 0x09, 0x19, 0x29, 0x46}, /* R */  {0x46, 0x49, 0x49, 0x49, 0x31}, /* S */
    {0x01, 0x01, 0x7f, 0x01, 0x01}, /* T */  {0x3f, 0x40, 0x40, 0x40, 0x3f}, /* U */
    {0x1f, 0x20, 0x40, 0x20, 0x1f}, /* V */  {0x3f, 0x40, 0x38, 0x40, 0x3f}, /* W */
    {0x63, 0x14, 0x08, 0x14, 0x63}, /* X */  {0x07, 0x08, 0x70, 0x08, 0x07}, /* Y */
    {0x61, 0x51, 0x49, 0x45, 0x43}, /* Z */  {0x00, 0x7f, 0x41, 0x41, 0x00}, /* [ */
    {0x02, 0x04, 0x08, 0x10, 0x20}, /* \ */  {0x00, 0x41, 0x41, 0x7f, 0x00}, /* ] */
    {0x04, 0x02, 0x01, 0x02, 0x04}, /* ^ */  {0x40, 0x40, 0x40, 0x40, 0x40}, /* _ */
    {0x00, 0x01, 0x02, 0x04, 0x00}, /* ` */  {0x20, 0x54, 0x54, 0x54, 0x78}, /* a */
    {0x7f, 0x48, 0x44, 0x44, 0x38}, /* b */  {0x38, 0x44, 0x44, 0x44, 0x20}, /* c */
    {0x38, 0x44, 0x44, 0x48, 0x7f}, /* d */  {0x38, 0x54, 0x54, 0x54, 0x18}, /* e */
    {0x08, 0x7e, 0x09, 0x01, 0x02}, /* f */  {0x0c, 0x52, 0x52, 0x52, 0x3e}, /* g */
    {0x7f, 0x08, 0x04, 0x04, 0x78}, /* h */  {0x00, 0x44, 0x7d, 0x40, 0x00}, /* i */
    {0x20, 0x40, 0x44, 0x3d, 0x00}, /* j */  {0x7f, 0x10, 0x28, 0x44, 0x00}, /* k */
    {0x00, 0x41, 0x7f, 0x40, 0x00}, /* l */  {0x7c, 0x04, 0x18, 0x04, 0x78}, /* m */
    {0x7c, 0x08, 0x04, 0x04, 0x78}, /* n */  {0x38, 0x44, 0x44, 0x44, 0x38}, /* o */
    {0x7c, 0x14, 0x14, 0x14, 0x08}, /* p */  {0x08, 0x14, 0x14, 0x18, 0x7c}, /* q */
    {0x7c, 0x08, 0x04, 0x04, 0x08}, /* r */  {0x48, 0x54, 0x54, 0x54, 0x20}, /* s */
    {0x04, 0x3f, 0x44, 0x40, 0x20}, /* t */  {0x3c, 0x40, 0x40, 0x20, 0x7c}, /* u */
    {0x1c, 0x20, 0x40, 0x20, 0x1c}, /* v */  {0x3c, 0x40, 0x30, 0x40, 0x3c}, /* w */
    {0x44, 0x28, 0x10, 0x28, 0x44}, /* x */  {0x0c, 0x50, 0x50, 0x50, 0x3c}, /* y */
    {0x44, 0x64, 0x54, 0x4c, 0x44}, /* z */  {0x00, 0x08, 0x36, 0x41, 0x00}, /* { */
    {0x00, 0x00, 0x7f, 0x00, 0x00}, /* | */  {0x00, 0x41, 0x36, 0x08, 0x00}, /* } */
    {0x10, 0x08, 0x08, 0x10, 0x08}, /* ~ */
};
static const uint8_t figure__glyph_check[5] = {0x18, 0x30, 0x18, 0x0c, 0x06};
static const uint8_t figure__glyph_cross[5] = {0x63, 0x36, 0x1c, 0x36, 0x63};
static const uint8_t figure__check_rgb[3] = {30, 170, 60}, figure__cross_rgb[3] = {220, 40, 40};
static const uint8_t figure__black[3] = {0, 0, 0}, figure__white[3] = {255, 255, 255};
static const uint8_t figure__grey[3] = {225, 225, 225}, figure__dark_grey[3] = {90, 90, 90};

evk_status figure_canvas_create(uint32_t width, uint32_t height, const uint8_t background[3], figure_canvas *out) {
    memset(out, 0, sizeof *out);
    if (!width || !height || (uint64_t)width * height > ((uint64_t)1 << 28))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "figure canvas of %ux%u pixels", width, height);
    out->rgb = malloc((size_t)width * height * 3);
    if (!out->rgb) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "figure canvas of %ux%u pixels", width, height);
    out->width = width;
    out->height = height;
    const uint8_t *bg = background ? background : figure__white;
    for (size_t i = 0; i < (size_t)width * height; i++) memcpy(out->rgb + 3 * i, bg, 3);
    return EVK_OK;
}

void figure_canvas_free(figure_canvas *c) {
    if (!c) return;
    free(c->rgb);
    memset(c, 0, sizeof *c);
}

static void figure__put(figure_canvas *c, int x, int y, const uint8_t rgb[3]) {
    if (x < 0 || y < 0 || (uint32_t)x >= c->width || (uint32_t)y >= c->height) return;
    memcpy(c->rgb + ((size_t)y * c->width + (size_t)x) * 3, rgb, 3);
}

void figure_fill_rect(figure_canvas *c, int x, int y, int w, int h, const uint8_t colour[3]) {
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > (int)c->width ? (int)c->width : x + w, y1 = y + h > (int)c->height ? (int)c->height : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) memcpy(c->rgb + ((size_t)yy * c->width + (size_t)xx) * 3, colour, 3);
}

void figure_draw_line(figure_canvas *c, int x0, int y0, int x1, int y1, int thickness, const uint8_t colour[3]) {
    if (thickness < 1) thickness = 1;
    const int off = (thickness - 1) / 2;
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (long guard = 0; guard < 1L << 24; guard++) { /* Bresenham, a square pen */
        if (thickness == 1) figure__put(c, x0, y0, colour);
        else figure_fill_rect(c, x0 - off, y0 - off, thickness, thickness, colour);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

/* Next code point of UTF-8 text (malformed bytes → '?', one byte consumed). */
static uint32_t figure__next_cp(const char **s) {
    const uint8_t *p = (const uint8_t *)*s;
    if (p[0] < 0x80) {
        *s += 1;
        return p[0];
    }
    int n = (p[0] >> 5) == 6 ? 2 : (p[0] >> 4) == 14 ? 3 : (p[0] >> 3) == 30 ? 4 : 0;
    uint32_t cp = n == 2 ? p[0] & 0x1fu : n == 3 ? p[0] & 0x0fu : p[0] & 0x07u;
    for (int k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80) n = 0;
        else cp = cp << 6 | (p[k] & 0x3fu);
        if (!n) break;
    }
    if (!n) {
        *s += 1;
        return '?';
    }
    *s += n;
    return cp;
}

static const uint8_t *figure__glyph(uint32_t cp, const uint8_t **colour) {
    if (cp == 0x2713 || cp == 0x2714) {
        *colour = figure__check_rgb;
        return figure__glyph_check;
    }
    if (cp == 0x2717 || cp == 0x2718) {
        *colour = figure__cross_rgb;
        return figure__glyph_cross;
    }
    if (cp < 32 || cp > 126) cp = '?';
    return figure__font[cp - 32];
}

void figure_draw_text(figure_canvas *c, int x, int y, const char *text, int scale, const uint8_t colour[3], int max_width) {
    if (!text) return;
    if (scale < 1) scale = 1;
    int cx = x, cy = y;
    while (*text) {
        uint32_t cp = figure__next_cp(&text);
        if (cp == '\n') {
            cx = x;
            cy += FIGURE_CHAR_H * scale;
            continue;
        }
        if (max_width > 0 && cx + 5 * scale > x + max_width) continue;
        const uint8_t *ink = colour;
        const uint8_t *g = figure__glyph(cp, &ink);
        for (int col = 0; col < 5; col++)
            for (int row = 0; row < 8; row++)
                if (g[col] >> row & 1) figure_fill_rect(c, cx + col * scale, cy + row * scale, scale, scale, ink);
        cx += FIGURE_CHAR_W * scale;
    }
}

int figure_text_width(const char *text, int scale) {
    if (!text) return 0;
    if (scale < 1) scale = 1;
    int best = 0, n = 0;
    while (*text) {
        uint32_t cp = figure__next_cp(&text);
        if (cp == '\n') n = 0;
        else n++;
        best = n > best ? n : best;
    }
    /* the last character needs no trailing spacing column */
    return best ? (best * FIGURE_CHAR_W - 1) * scale : 0;
}

int figure_text_lines(const char *text) {
    if (!text || !*text) return 0;
    int n = 1;
    for (; *text; text++) n += *text == '\n';
    return n;
}

void figure_blit(figure_canvas *c, int x, int y, const uint8_t *rgb, uint32_t width, uint32_t height, uint32_t upscale) {
    if (!rgb) return;
    if (!upscale) upscale = 1;
    for (uint32_t sy = 0; sy < height; sy++)
        for (uint32_t sx = 0; sx < width; sx++)
            figure_fill_rect(c, x + (int)(sx * upscale), y + (int)(sy * upscale), (int)upscale, (int)upscale,
                             rgb + ((size_t)sy * width + sx) * 3);
}

evk_status figure_save(const figure_canvas *c, const char *path, const evk_png_text *text, uint32_t text_count) {
    if (!c || !c->rgb) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "figure_save: empty canvas");
    return evk_png_write(path, c->rgb, c->width, c->height, 3, text, text_count);
}

/* ---- grid ------------------------------------------------------------------------------- */

evk_status figure_grid(const figure_grid_desc *d, figure_canvas *out) {
    memset(out, 0, sizeof *out);
    if (!d || !d->rows || !d->cols || !d->image_width || !d->image_height || !d->images)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "figure_grid: need rows, cols, an image size and images");
    const uint32_t up = d->upscale ? d->upscale : 4;
    const int ts = d->text_scale ? (int)d->text_scale : 1;
    if (up > 64 || ts > 16 || d->rows > 4096 || d->cols > 4096 || (uint64_t)d->image_width * up > 16384 ||
        (uint64_t)d->image_height * up > 16384)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "figure_grid: %ux%u grid of %ux%u images at x%u is too large", d->rows,
                        d->cols, d->image_width, d->image_height, up);
    const int iw = (int)(d->image_width * up), ih = (int)(d->image_height * up);
    const int margin = 8 * ts, gap = 6 * ts, pad = 3 * ts, line = FIGURE_CHAR_H * ts;
    int row_title_w = 0, col_title_lines = 0, label_lines = 0;
    for (uint32_t r = 0; d->row_titles && r < d->rows; r++) {
        int w = figure_text_width(d->row_titles[r], ts);
        row_title_w = w > row_title_w ? w : row_title_w;
    }
    for (uint32_t c = 0; d->col_titles && c < d->cols; c++) {
        int n = figure_text_lines(d->col_titles[c]);
        col_title_lines = n > col_title_lines ? n : col_title_lines;
    }
    for (uint32_t i = 0; d->labels && i < d->rows * d->cols; i++) {
        int n = figure_text_lines(d->labels[i]);
        label_lines = n > label_lines ? n : label_lines;
    }
    const int left = margin + (row_title_w ? row_title_w + 2 * pad : 0);
    const int title_h = d->title ? figure_text_lines(d->title) * FIGURE_CHAR_H * 2 * ts + 2 * pad : 0;
    const int col_h = col_title_lines ? col_title_lines * line + pad : 0;
    const int label_h = label_lines ? label_lines * line + pad : 0;
    const int cell_h = ih + label_h;
    int width = left + (int)d->cols * iw + ((int)d->cols - 1) * gap + margin;
    const int title_w = figure_text_width(d->title, 2 * ts) + 2 * margin;
    width = title_w > width ? title_w : width;
    const int top = margin + title_h + col_h;
    const int height = top + (int)d->rows * cell_h + ((int)d->rows - 1) * gap + margin;
    EVK_TRY(figure_canvas_create((uint32_t)width, (uint32_t)height, figure__white, out));
    if (d->title) figure_draw_text(out, margin, margin, d->title, 2 * ts, figure__black, 0);
    for (uint32_t c = 0; d->col_titles && c < d->cols; c++) {
        const char *t = d->col_titles[c];
        int x = left + (int)c * (iw + gap), w = figure_text_width(t, ts);
        figure_draw_text(out, x + (w < iw ? (iw - w) / 2 : 0), margin + title_h, t, ts, figure__black, iw);
    }
    for (uint32_t r = 0; r < d->rows; r++) {
        const int y = top + (int)r * (cell_h + gap);
        if (d->row_titles && d->row_titles[r]) {
            int lines = figure_text_lines(d->row_titles[r]);
            figure_draw_text(out, margin, y + (ih - lines * line) / 2, d->row_titles[r], ts, figure__black, 0);
        }
        for (uint32_t c = 0; c < d->cols; c++) {
            const int x = left + (int)c * (iw + gap);
            const uint8_t *img = d->images[r * d->cols + c];
            if (img) figure_blit(out, x, y, img, d->image_width, d->image_height, up);
            else figure_fill_rect(out, x, y, iw, ih, figure__grey);
            const char *label = d->labels ? d->labels[r * d->cols + c] : NULL;
            if (label) {
                int w = figure_text_width(label, ts);
                figure_draw_text(out, x + (w < iw ? (iw - w) / 2 : 0), y + ih + pad, label, ts, figure__black, iw);
            }
        }
    }
    return EVK_OK;
}

/* ---- plot ------------------------------------------------------------------------------- */

static const uint8_t figure__palette[10][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
    {140, 86, 75}, {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

const uint8_t *figure_series_colour(uint32_t index) { return figure__palette[index % 10]; }

/* A round step (1, 2 or 5 × 10^k) giving about `want` intervals over `span`. */
static double figure__nice_step(double span, int want) {
    double raw = span / want, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void figure__tick_label(double v, double step, bool log_axis, char *out, size_t n) {
    if (log_axis) {
        double p = pow(10.0, v);
        if (v >= 0 && v <= 6) snprintf(out, n, "%.0f", p);
        else snprintf(out, n, "1e%d", (int)lround(v));
        return;
    }
    if (fabs(v) < step * 1e-9) v = 0;
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-4)) snprintf(out, n, "%.2g", v);
    else snprintf(out, n, "%.*f", decimals > 6 ? 6 : decimals, v);
}

static bool figure__point(const figure_plot_desc *d, const figure_series *s, uint32_t i, double *x, double *y) {
    *x = s->x[i];
    *y = s->y[i];
    if (!isfinite(*x) || !isfinite(*y)) return false;
    if (d->log_x) {
        if (*x <= 0) return false;
        *x = log10(*x);
    }
    return true;
}

evk_status figure_plot_ex(const figure_plot_desc *d, figure_canvas *out, figure_plot_frame *frame) {
    memset(out, 0, sizeof *out);
    if (!d || (d->series_count && !d->series)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "figure_plot: no series");
    for (uint32_t k = 0; k < d->series_count; k++)
        if (d->series[k].count && (!d->series[k].x || !d->series[k].y))
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "figure_plot: series %u ('%s') has %u points but no data", k,
                            d->series[k].name ? d->series[k].name : "", d->series[k].count);
    const int W = d->width ? (int)d->width : 640, H = d->height ? (int)d->height : 400;
    if (W < 160 || H < 120 || W > 8192 || H > 8192)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "figure_plot: %dx%d is not a usable plot size (160x120 to 8192x8192)", W, H);
    /* data range */
    double x0 = DBL_MAX, x1 = -DBL_MAX, y0 = DBL_MAX, y1 = -DBL_MAX;
    for (uint32_t k = 0; k < d->series_count; k++)
        for (uint32_t i = 0; i < d->series[k].count; i++) {
            double x, y;
            if (!figure__point(d, &d->series[k], i, &x, &y)) continue;
            x0 = fmin(x0, x);
            x1 = fmax(x1, x);
            y0 = fmin(y0, y);
            y1 = fmax(y1, y);
        }
    if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 - x0 < 1e-12 * fmax(1.0, fabs(x0))) x0 -= d->log_x ? 0.5 : fmax(0.5, fabs(x0) * 0.1), x1 += d->log_x ? 0.5 : fmax(0.5, fabs(x1) * 0.1);
    if (y1 - y0 < 1e-12 * fmax(1.0, fabs(y0))) y0 -= fmax(0.5, fabs(y0) * 0.1), y1 += fmax(0.5, fabs(y1) * 0.1);
    double xstep, ystep = figure__nice_step(y1 - y0, 5);
    y0 = floor(y0 / ystep + 1e-9) * ystep;
    y1 = ceil(y1 / ystep - 1e-9) * ystep;
    if (d->log_x) {
        x0 = floor(x0 + 1e-9);
        x1 = ceil(x1 - 1e-9);
        if (x1 <= x0) x1 = x0 + 1;
        xstep = 1;
    } else {
        xstep = figure__nice_step(x1 - x0, 6);
        x0 = floor(x0 / xstep + 1e-9) * xstep;
        x1 = ceil(x1 / xstep - 1e-9) * xstep;
    }
    /* layout: y tick labels decide the left margin */
    char buf[64];
    int ylab_w = 0;
    for (double v = y0; v <= y1 + ystep * 0.5; v += ystep) {
        figure__tick_label(v, ystep, false, buf, sizeof buf);
        int w = figure_text_width(buf, 1);
        ylab_w = w > ylab_w ? w : ylab_w;
    }
    const int L = 10 + ylab_w + 8, R = W - 16;
    const int T = 10 + (d->title ? 2 * FIGURE_CHAR_H + 6 : 0) + (d->y_label ? FIGURE_CHAR_H + 4 : 0);
    const int B = H - 10 - FIGURE_CHAR_H - 8 - (d->x_label ? FIGURE_CHAR_H + 6 : 0);
    if (R - L < 40 || B - T < 40) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "figure_plot: %dx%d leaves no room for the axes", W, H);
    EVK_TRY(figure_canvas_create((uint32_t)W, (uint32_t)H, figure__white, out));
#define PX(v) (L + (int)lround(((v) - x0) / (x1 - x0) * (R - L)))
#define PY(v) (B - (int)lround(((v) - y0) / (y1 - y0) * (B - T)))
    if (d->title) figure_draw_text(out, (W - figure_text_width(d->title, 2)) / 2, 8, d->title, 2, figure__black, 0);
    if (d->y_label) figure_draw_text(out, L - 4, T - FIGURE_CHAR_H - 4, d->y_label, 1, figure__black, 0);
    if (d->x_label)
        figure_draw_text(out, L + (R - L - figure_text_width(d->x_label, 1)) / 2, H - 8 - FIGURE_CHAR_H, d->x_label, 1, figure__black, 0);
    /* grid and ticks */
    for (double v = y0; v <= y1 + ystep * 0.5; v += ystep) {
        int py = PY(v);
        figure_draw_line(out, L, py, R, py, 1, figure__grey);
        figure_draw_line(out, L - 4, py, L, py, 1, figure__black);
        figure__tick_label(v, ystep, false, buf, sizeof buf);
        figure_draw_text(out, L - 7 - figure_text_width(buf, 1), py - 3, buf, 1, figure__black, 0);
    }
    for (double v = x0; v <= x1 + xstep * 0.5; v += xstep) {
        int px = PX(v);
        figure_draw_line(out, px, T, px, B, 1, figure__grey);
        figure_draw_line(out, px, B, px, B + 4, 1, figure__black);
        figure__tick_label(v, xstep, d->log_x, buf, sizeof buf);
        figure_draw_text(out, px - figure_text_width(buf, 1) / 2, B + 7, buf, 1, figure__black, 0);
        if (d->log_x && v + 0.5 < x1) /* minor ticks at 2..9 x 10^k */
            for (int m = 2; m <= 9; m++) {
                int mx = PX(v + log10((double)m));
                figure_draw_line(out, mx, B, mx, B + 2, 1, figure__black);
            }
    }
    /* series */
    for (uint32_t k = 0; k < d->series_count; k++) {
        const figure_series *s = &d->series[k];
        const uint8_t *col = figure_series_colour(k);
        bool have = false;
        int px = 0, py = 0;
        for (uint32_t i = 0; i < s->count; i++) {
            double x, y;
            if (!figure__point(d, s, i, &x, &y)) {
                have = false; /* a gap, not a line across the missing point */
                continue;
            }
            int qx = PX(x), qy = PY(y);
            if (have) figure_draw_line(out, px, py, qx, qy, 2, col);
            px = qx;
            py = qy;
            have = true;
        }
        for (uint32_t i = 0; i < s->count; i++) {
            double x, y;
            if (figure__point(d, s, i, &x, &y)) figure_fill_rect(out, PX(x) - 2, PY(y) - 2, 5, 5, col);
        }
    }
    /* frame on top of the data */
    figure_draw_line(out, L, T, R, T, 1, figure__black);
    figure_draw_line(out, L, B, R, B, 1, figure__black);
    figure_draw_line(out, L, T, L, B, 1, figure__black);
    figure_draw_line(out, R, T, R, B, 1, figure__black);
    /* legend in the corner of the axes holding the fewest points */
    int names = 0, name_w = 0;
    for (uint32_t k = 0; k < d->series_count; k++)
        if (d->series[k].name) {
            names++;
            int w = figure_text_width(d->series[k].name, 1);
            name_w = w > name_w ? w : name_w;
        }
    if (names) {
        const int lw = 8 + 18 + 6 + name_w + 8, lh = 6 + names * (FIGURE_CHAR_H + 4) + 2;
        int best = 0, best_n = -1;
        for (int corner = 0; corner < 4; corner++) {
            int bx = corner & 1 ? R - 6 - lw : L + 6, by = corner & 2 ? B - 6 - lh : T + 6, n = 0;
            for (uint32_t k = 0; k < d->series_count; k++)
                for (uint32_t i = 0; i < d->series[k].count; i++) {
                    double x, y;
                    if (!figure__point(d, &d->series[k], i, &x, &y)) continue;
                    int qx = PX(x), qy = PY(y);
                    n += qx >= bx - 4 && qx <= bx + lw + 4 && qy >= by - 4 && qy <= by + lh + 4;
                }
            if (best_n < 0 || n < best_n) {
                best = corner;
                best_n = n;
            }
        }
        int bx = best & 1 ? R - 6 - lw : L + 6, by = best & 2 ? B - 6 - lh : T + 6;
        figure_fill_rect(out, bx, by, lw, lh, figure__white);
        figure_draw_line(out, bx, by, bx + lw - 1, by, 1, figure__dark_grey);
        figure_draw_line(out, bx, by + lh - 1, bx + lw - 1, by + lh - 1, 1, figure__dark_grey);
        figure_draw_line(out, bx, by, bx, by + lh - 1, 1, figure__dark_grey);
        figure_draw_line(out, bx + lw - 1, by, bx + lw - 1, by + lh - 1, 1, figure__dark_grey);
        int row = 0;
        for (uint32_t k = 0; k < d->series_count; k++) {
            if (!d->series[k].name) continue;
            int ly = by + 6 + row * (FIGURE_CHAR_H + 4);
            figure_draw_line(out, bx + 8, ly + 3, bx + 26, ly + 3, 2, figure_series_colour(k));
            figure_fill_rect(out, bx + 15, ly + 1, 5, 5, figure_series_colour(k));
            figure_draw_text(out, bx + 32, ly, d->series[k].name, 1, figure__black, 0);
            row++;
        }
    }
#undef PX
#undef PY
    if (frame) *frame = (figure_plot_frame){L, T, R, B, x0, x1, y0, y1};
    return EVK_OK;
}

evk_status figure_plot(const figure_plot_desc *desc, figure_canvas *out) { return figure_plot_ex(desc, out, NULL); }
