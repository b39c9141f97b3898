/* video.c — animated WebP through libwebp (encoder, mux for the XMP metadata chunk, animation
 * decoder), MP4 through the ffmpeg program, and the extension dispatch of evk_video_write/read.
 *
 * MP4: ffmpeg reads the frames from a raw RGB file and writes the MP4 to a private temporary
 * file, which is then written to the target with evk_file_write_atomic — one atomic-write path for
 * every output, and no pipe to a child (a child that dies early cannot SIGPIPE the caller). */
#include "formats/video.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "core/file.h"
#include "formats/png.h"

extern char **environ;

#define EVK__VIDEO_MAX_FRAMES 100000u
#define EVK__VIDEO_MAX_SIDE 16383u /* WebP's own limit */
#define EVK__VIDEO_MAX_BYTES ((size_t)4 << 30)

static double evk__fps(const evk_video_options *o) { return o && o->fps != 0 ? o->fps : 8.0; }

static evk_status evk__check_options(const char *what, const evk_video_options *o) {
    double fps = evk__fps(o);
    if (!(fps > 0 && fps <= 1000)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: frame rate %g is not in (0, 1000]", what, fps);
    float quality = o ? o->quality : 0.0f;
    if (!(quality >= 0 && quality <= 100)) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: WebP quality %g is outside 0..100", what, (double)quality);
    return EVK_OK;
}

static evk_status evk__check_frames(const char *what, const uint8_t *rgb, uint32_t frames, uint32_t width, uint32_t height) {
    if (!frames || !width || !height)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: empty video (%u frames of %ux%u)", what, frames, width, height);
    if (frames > EVK__VIDEO_MAX_FRAMES || width > EVK__VIDEO_MAX_SIDE || height > EVK__VIDEO_MAX_SIDE)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %u frames of %ux%u exceed the limits (%u frames, %u pixels a side)", what,
                        frames, width, height, EVK__VIDEO_MAX_FRAMES, EVK__VIDEO_MAX_SIDE);
    if (!rgb) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: no pixels", what);
    return EVK_OK;
}

/* ---- XMP metadata ---------------------------------------------------------------------------- */

static void evk__xml_escape(char **p, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': memcpy(*p, "&amp;", 5), *p += 5; break;
        case '<': memcpy(*p, "&lt;", 4), *p += 4; break;
        case '>': memcpy(*p, "&gt;", 4), *p += 4; break;
        case '"': memcpy(*p, "&quot;", 6), *p += 6; break;
        default: *(*p)++ = *s;
        }
    }
}

static const char evk__xmp_head[] =
    "<?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?><x:xmpmeta xmlns:x=\"adobe:ns:meta/\">"
    "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
    "<rdf:Description rdf:about=\"\" xmlns:evoke=\"urn:evoke:metadata:1\">";
static const char evk__xmp_tail[] = "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>";

static char *evk__xmp_build(const char *prompt, const char *parameters) {
    size_t n = sizeof evk__xmp_head + sizeof evk__xmp_tail + 64 + 6 * ((prompt ? strlen(prompt) : 0) + (parameters ? strlen(parameters) : 0));
    char *x = malloc(n), *p = x;
    if (!x) return NULL;
    p += sprintf(p, "%s", evk__xmp_head);
    if (prompt) p += sprintf(p, "<evoke:prompt>"), evk__xml_escape(&p, prompt), p += sprintf(p, "</evoke:prompt>");
    if (parameters) p += sprintf(p, "<evoke:parameters>"), evk__xml_escape(&p, parameters), p += sprintf(p, "</evoke:parameters>");
    sprintf(p, "%s", evk__xmp_tail);
    return x;
}

/* The unescaped text of <evoke:TAG>…</evoke:TAG> in xmp[0..n), or NULL. */
static char *evk__xmp_find(const char *xmp, size_t n, const char *tag) {
    char open[64], close[64];
    snprintf(open, sizeof open, "<evoke:%s>", tag);
    snprintf(close, sizeof close, "</evoke:%s>", tag);
    const char *a = memmem(xmp, n, open, strlen(open));
    if (!a) return NULL;
    a += strlen(open);
    const char *b = memmem(a, n - (size_t)(a - xmp), close, strlen(close));
    if (!b) return NULL;
    char *out = malloc((size_t)(b - a) + 1), *o = out;
    if (!out) return NULL;
    static const struct { const char *e; char c; } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    while (a < b) {
        size_t k = 0;
        for (; k < sizeof ents / sizeof ents[0]; k++) {
            size_t l = strlen(ents[k].e);
            if ((size_t)(b - a) >= l && !memcmp(a, ents[k].e, l)) {
                *o++ = ents[k].c;
                a += l;
                break;
            }
        }
        if (k == sizeof ents / sizeof ents[0]) *o++ = *a++;
    }
    *o = 0;
    return out;
}

/* ---- WebP ------------------------------------------------------------------------------------ */

evk_status evk_webp_encode(const uint8_t *rgb, uint32_t frames, uint32_t width, uint32_t height,
                           const evk_video_options *options, uint8_t **webp, size_t *size) {
    *webp = NULL;
    *size = 0;
    evk_status s = evk__check_frames("WebP encoding", rgb, frames, width, height);
    if (!s) s = evk__check_options("WebP encoding", options);
    if (s) return s;
    float quality = options ? options->quality : 0.0f;
    double fps = evk__fps(options);

    WebPAnimEncoderOptions eo;
    WebPConfig cfg;
    WebPPicture pic;
    if (!WebPAnimEncoderOptionsInit(&eo) || !WebPConfigInit(&cfg) || !WebPPictureInit(&pic))
        return evk_fail(EVK_ERROR_UNSUPPORTED, "libwebp: version mismatch between headers and library");
    eo.anim_params.loop_count = 0; /* loop forever */
    if (quality == 0) {
        cfg.lossless = 1;
        cfg.quality = 75; /* effort, in lossless mode */
        cfg.exact = 1;
        eo.allow_mixed = 0;
    } else {
        cfg.quality = quality;
    }
    WebPAnimEncoder *enc = WebPAnimEncoderNew((int)width, (int)height, &eo);
    if (!enc) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "libwebp: cannot create an encoder for %ux%u", width, height);
    pic.width = (int)width;
    pic.height = (int)height;
    pic.use_argb = 1;
    size_t frame_bytes = (size_t)width * height * 3;
    int timestamp = 0;
    for (uint32_t f = 0; !s && f < frames; f++) {
        if (!WebPPictureImportRGB(&pic, rgb + f * frame_bytes, (int)width * 3) ||
            !WebPAnimEncoderAdd(enc, &pic, timestamp, &cfg))
            s = evk_fail(EVK_ERROR_IO, "libwebp: encoding frame %u failed: %s", f, WebPAnimEncoderGetError(enc));
        WebPPictureFree(&pic);
        timestamp = (int)lround((f + 1) * 1000.0 / fps);
    }
    WebPData anim;
    WebPDataInit(&anim);
    if (!s && (!WebPAnimEncoderAdd(enc, NULL, timestamp, NULL) || !WebPAnimEncoderAssemble(enc, &anim)))
        s = evk_fail(EVK_ERROR_IO, "libwebp: assembling the animation failed: %s", WebPAnimEncoderGetError(enc));
    WebPAnimEncoderDelete(enc);
    if (s) {
        WebPDataClear(&anim);
        return s;
    }

    WebPData out;
    WebPDataInit(&out);
    const char *prompt = options ? options->prompt : NULL, *params = options ? options->parameters : NULL;
    if (prompt || params) {
        char *xmp = evk__xmp_build(prompt, params);
        WebPMux *mux = xmp ? WebPMuxCreate(&anim, 1) : NULL;
        WebPData chunk = {(const uint8_t *)xmp, xmp ? strlen(xmp) : 0};
        if (!mux || WebPMuxSetChunk(mux, "XMP ", &chunk, 1) != WEBP_MUX_OK || WebPMuxAssemble(mux, &out) != WEBP_MUX_OK)
            s = evk_fail(EVK_ERROR_IO, "libwebp: adding the metadata chunk failed");
        WebPMuxDelete(mux);
        free(xmp);
        WebPDataClear(&anim);
    } else {
        out = anim;
    }
    if (s) {
        WebPDataClear(&out);
        return s;
    }
    /* hand out a malloc'd copy: WebPData memory belongs to libwebp's allocator */
    *webp = malloc(out.size);
    if (!*webp) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a %zu-byte WebP", out.size);
    else memcpy(*webp, out.bytes, out.size), *size = out.size;
    WebPDataClear(&out);
    return s;
}

evk_status evk_webp_decode(const uint8_t *webp, size_t size, const char *what, evk_video *out) {
    memset(out, 0, sizeof *out);
    WebPData data = {webp, size};
    WebPAnimDecoderOptions dopt;
    if (!WebPAnimDecoderOptionsInit(&dopt)) return evk_fail(EVK_ERROR_UNSUPPORTED, "libwebp: version mismatch between headers and library");
    dopt.color_mode = MODE_RGBA;
    dopt.use_threads = 0;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &dopt);
    if (!dec) return evk_fail(EVK_ERROR_FORMAT, "%s: not a valid WebP file (or truncated)", what);
    WebPAnimInfo info;
    evk_status s = EVK_OK;
    if (!WebPAnimDecoderGetInfo(dec, &info)) s = evk_fail(EVK_ERROR_FORMAT, "%s: unreadable WebP header", what);
    else if (!info.frame_count || info.frame_count > EVK__VIDEO_MAX_FRAMES || !info.canvas_width || !info.canvas_height)
        s = evk_fail(EVK_ERROR_FORMAT, "%s: %u frames of %ux%u is not a video evoke reads", what, info.frame_count, info.canvas_width,
                     info.canvas_height);
    size_t frame_bytes = s ? 0 : (size_t)info.canvas_width * info.canvas_height * 3;
    if (!s && frame_bytes * info.frame_count > EVK__VIDEO_MAX_BYTES)
        s = evk_fail(EVK_ERROR_FORMAT, "%s: %u frames of %ux%u exceed 4 GiB", what, info.frame_count, info.canvas_width, info.canvas_height);
    if (!s && !(out->rgb = malloc(frame_bytes * info.frame_count)))
        s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for %u frames", what, info.frame_count);
    int last_ts = 0;
    uint32_t f = 0;
    while (!s && WebPAnimDecoderHasMoreFrames(dec)) {
        uint8_t *rgba;
        int ts;
        if (f == info.frame_count || !WebPAnimDecoderGetNext(dec, &rgba, &ts)) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: frame %u cannot be decoded (damaged or truncated file)", what, f);
            break;
        }
        uint8_t *dst = out->rgb + f * frame_bytes;
        for (size_t i = 0; i < (size_t)info.canvas_width * info.canvas_height; i++) memcpy(dst + 3 * i, rgba + 4 * i, 3);
        last_ts = ts;
        f++;
    }
    if (!s && f != info.frame_count) s = evk_fail(EVK_ERROR_FORMAT, "%s: %u of %u frames decoded", what, f, info.frame_count);
    WebPAnimDecoderDelete(dec);
    if (s) {
        evk_video_free(out);
        return s;
    }
    out->frames = f;
    out->width = info.canvas_width;
    out->height = info.canvas_height;
    out->fps = f > 1 && last_ts > 0 ? f * 1000.0 / last_ts : 0.0;
    return EVK_OK;
}

evk_status evk_webp_decode_text(const uint8_t *webp, size_t size, const char *what, char **prompt, char **parameters) {
    if (prompt) *prompt = NULL;
    if (parameters) *parameters = NULL;
    WebPData data = {webp, size};
    WebPMux *mux = WebPMuxCreate(&data, 0);
    if (!mux) return evk_fail(EVK_ERROR_FORMAT, "%s: not a valid WebP file (or truncated)", what);
    WebPData chunk;
    if (WebPMuxGetChunk(mux, "XMP ", &chunk) == WEBP_MUX_OK) {
        if (prompt) *prompt = evk__xmp_find((const char *)chunk.bytes, chunk.size, "prompt");
        if (parameters) *parameters = evk__xmp_find((const char *)chunk.bytes, chunk.size, "parameters");
    }
    WebPMuxDelete(mux);
    return EVK_OK;
}

/* ---- MP4 through ffmpeg --------------------------------------------------------------------- */

static int evk__find_program(const char *name, char *path, size_t n) {
    const char *env = getenv("PATH");
    if (!env || !*env) env = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = env; *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && len + strlen(name) + 2 < n) {
            snprintf(path, n, "%.*s/%s", (int)len, p, name);
            if (access(path, X_OK) == 0) return 1;
        }
        p += len + (e ? 1 : 0);
    }
    return 0;
}

int evk_video_have_ffmpeg(void) {
    char path[PATH_MAX];
    return evk__find_program("ffmpeg", path, sizeof path);
}

static int evk__temp_file(char *path, size_t n, const char *suffix) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(path, n, "%s/evoke-video-XXXXXX%s", dir, suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

/* The first line of a small text file (ffmpeg's error log), for the message. */
static void evk__first_line(const char *path, char *line, size_t n) {
    line[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(line, (int)n, f)) line[strcspn(line, "\r\n")] = 0;
    fclose(f);
}

static evk_status evk__mp4_write(const char *path, const uint8_t *rgb, uint32_t frames, uint32_t width, uint32_t height,
                                 const evk_video_options *options) {
    char ffmpeg[PATH_MAX];
    if (!evk__find_program("ffmpeg", ffmpeg, sizeof ffmpeg))
        return evk_fail(EVK_ERROR_UNSUPPORTED, "writing '%s': MP4 needs the ffmpeg program, which is not on PATH (install ffmpeg, or write .webp)",
                        path);
    char raw[PATH_MAX], mp4[PATH_MAX], log[PATH_MAX];
    int fr = evk__temp_file(raw, sizeof raw, ".rgb"), fm = evk__temp_file(mp4, sizeof mp4, ".mp4"), fl = evk__temp_file(log, sizeof log, ".log");
    evk_status s = EVK_OK;
    if (fr < 0 || fm < 0 || fl < 0) s = evk_fail(EVK_ERROR_IO, "writing '%s': cannot create a temporary file: %s", path, strerror(errno));
    size_t total = (size_t)frames * width * height * 3;
    for (size_t done = 0; !s && done < total;) {
        ssize_t w = write(fr, rgb + done, total - done > (1u << 30) ? (1u << 30) : total - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) s = evk_fail(EVK_ERROR_IO, "writing '%s': temporary frames file: %s", path, strerror(errno));
        else done += (size_t)w;
    }
    char size_arg[32], rate_arg[32], comment[1024] = "", description[4096] = "";
    snprintf(size_arg, sizeof size_arg, "%ux%u", width, height);
    snprintf(rate_arg, sizeof rate_arg, "%.6g", evk__fps(options));
    snprintf(comment, sizeof comment, "comment=%s", options && options->prompt ? options->prompt : "");
    snprintf(description, sizeof description, "description=%s", options && options->parameters ? options->parameters : "");
    char *argv[] = {ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size_arg,
                    "-framerate", rate_arg, "-i", raw, "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p",
                    "-movflags", "+faststart", "-metadata", comment, "-metadata", description, "-f", "mp4", mp4, NULL};
    if (!s) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, fl, 1);
        posix_spawn_file_actions_adddup2(&fa, fl, 2);
        pid_t pid;
        int rc = posix_spawn(&pid, ffmpeg, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        int wst = 0;
        if (rc) s = evk_fail(EVK_ERROR_IO, "writing '%s': cannot run %s: %s", path, ffmpeg, strerror(rc));
        else {
            while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {}
            if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
                char line[300];
                evk__first_line(log, line, sizeof line);
                s = evk_fail(EVK_ERROR_IO, "writing '%s': ffmpeg failed (%s %d)%s%s", path, WIFEXITED(wst) ? "exit status" : "signal",
                             WIFEXITED(wst) ? WEXITSTATUS(wst) : WTERMSIG(wst), *line ? ": " : "", line);
            }
        }
    }
    uint8_t *bytes = NULL;
    size_t n = 0;
    if (!s) s = evk_file_read(mp4, EVK__VIDEO_MAX_BYTES, &bytes, &n);
    if (!s) s = evk_file_write_atomic(path, bytes, n);
    free(bytes);
    for (int i = 0; i < 3; i++) {
        int fd = i == 0 ? fr : i == 1 ? fm : fl;
        const char *p = i == 0 ? raw : i == 1 ? mp4 : log;
        if (fd >= 0) close(fd), unlink(p);
    }
    return s;
}

/* ---- dispatch by extension ------------------------------------------------------------------ */

static int evk__has_ext(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

evk_status evk_video_write(const char *path, const uint8_t *rgb, uint32_t frames, uint32_t width, uint32_t height,
                           const evk_video_options *options) {
    if (!path || !*path) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_video_write: empty path");
    evk_status s = evk__check_frames(path, rgb, frames, width, height);
    if (!s) s = evk__check_options(path, options);
    if (s) return s;
    if (evk__has_ext(path, ".mp4")) return evk__mp4_write(path, rgb, frames, width, height, options);
    if (!evk__has_ext(path, ".webp"))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "'%s': videos are written as .webp or .mp4", path);
    uint8_t *webp;
    size_t n;
    s = evk_webp_encode(rgb, frames, width, height, options, &webp, &n);
    if (!s) s = evk_file_write_atomic(path, webp, n);
    free(webp);
    return s;
}

evk_status evk_video_read(const char *path, evk_video *out) {
    memset(out, 0, sizeof *out);
    if (!path || !*path) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_video_read: empty path");
    if (evk__has_ext(path, ".png")) {
        evk_status s = evk_png_read_rgb8(path, &out->rgb, &out->width, &out->height);
        if (!s) out->frames = 1;
        return s;
    }
    if (!evk__has_ext(path, ".webp")) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "'%s': videos are read from .webp (or .png frames)", path);
    uint8_t *bytes;
    size_t n;
    evk_status s = evk_file_read(path, EVK__VIDEO_MAX_BYTES, &bytes, &n);
    if (s) return s;
    s = evk_webp_decode(bytes, n, path, out);
    free(bytes);
    return s;
}

void evk_video_free(evk_video *v) {
    if (!v) return;
    free(v->rgb);
    memset(v, 0, sizeof *v);
}
