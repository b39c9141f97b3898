/* cmd_score.c — `evoke score --reward FILE --prompt TEXT FILE...`: each image's or video's
 * reward, computed by the same code path searches use (so pictures made elsewhere can be
 * compared). Images are PNGs (or .npy [H, W, 3]); videos are animated WebP, .npy [F, H, W, 3] f32
 * in [0, 1], or a folder of PNG frames (in name order), scored with the reward's video form (an
 * image reward's mean over the frames, rewards/frames.h). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "formats/png.h"
#include "formats/video.h"
#include "rewards/reward.h"
#include "core/file.h"
#include "core/stream.h"

static const char *score_help =
    "usage: evoke score --reward FILE [--prompt TEXT] [--json] FILE...\n"
    "\n"
    "Score images or videos with a reward (e.g. {\"type\":\"clip_score\",\"model\":DIR}) and print one\n"
    "line per file: the reward and the file. Images: .png, or .npy f32 [H, W, 3] in [0, 1]. Videos:\n"
    "animated .webp, .npy f32 [F, H, W, 3] in [0, 1] (as `evoke generate --output-raw` writes them),\n"
    "or a folder of .png frames (name order); a video's reward is the image reward's mean over its\n"
    "frames (or over max_frames of them: {\"type\":\"frame_mean\",\"reward\":{...},\"max_frames\":K}); a\n"
    "video-text reward ({\"type\":\"viclip\",\"model\":FILE.pth}) scores the clip whole, and a sum mixes both\n"
    "(T2V-Turbo's: 1.0 x hpsv2 + 2.0 x viclip).\n"
    "Without --prompt, each file's own prompt (the PNG text chunk or the WebP metadata `evoke generate\n"
    "-o` writes) is used; .npy files and folders need --prompt.\n"
    "\n"
    "  --reward FILE   reward file (JSON; types: {rewards})\n"
    "  --prompt TEXT   the prompt the images are scored against\n"
    "  --json          print a JSON document instead\n"
    "  --device N      Vulkan device index\n"
    "  -h, --help      this text\n";

static const char *cmd = "score";

/* One picture's score (its own prompt may differ from the others', so rewards are per file): rgb
 * holds `frames` frames [H, W, 3] (frames 0: one image). */
static evk_status score_one(evk_context *ctx, const char *reward_path, const char *prompt, const float *rgb, uint32_t frames, uint32_t w,
                            uint32_t h, double *out) {
    evk_reward_options ro = {.prompt = prompt, .image_height = h, .image_width = w, .frames = frames};
    uint32_t nf = frames ? frames : 1;
    evk_reward *reward = NULL;
    evk_stream *s = NULL;
    evk_tensor x, r;
    memset(&x, 0, sizeof x);
    memset(&r, 0, sizeof r);
    size_t px = (size_t)w * h;
    float *chw = malloc(3 * px * nf * sizeof *chw);
    if (!chw) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t f = 0; f < nf; f++)
        for (size_t i = 0; i < px; i++)
            for (int c = 0; c < 3; c++) chw[(f * 3 + c) * px + i] = rgb[(f * px + i) * 3 + c];
    evk_status st = evk_reward_load_with(ctx, reward_path, &ro, &reward);
    if (!st) st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, (int64_t)(3 * px * nf)}, &x);
    if (!st) st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 1, (int64_t[]){1}, &r);
    if (!st) st = evk_tensor_upload_f32(ctx, &x, chw);
    if (!st) st = evk_stream_create(ctx, &s);
    if (!st) st = evk_stream_begin(s);
    if (!st) st = evk_reward_evaluate(reward, s, &x, &r);
    if (!st) st = evk_stream_run(s);
    float v = 0;
    if (!st) st = evk_tensor_download_f32(ctx, &r, &v);
    *out = v;
    evk_stream_destroy(s);
    evk_tensor_free(ctx, &x);
    evk_tensor_free(ctx, &r);
    evk_reward_destroy(reward);
    free(chw);
    return st;
}

static bool ends_with(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A folder of PNG frames, in name order, all of one size. */
static evk_status read_frame_folder(const char *dir, float **rgb, uint32_t *frames, uint32_t *w, uint32_t *h) {
    DIR *d = opendir(dir);
    if (!d) return evk_fail(EVK_ERROR_IO, "cannot read the folder %s", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    evk_status st = EVK_OK;
    for (struct dirent *e; !st && (e = readdir(d));) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".png")) continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *nn);
            if (!nn) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            else names = nn;
        }
        if (!st && !(names[n++] = strdup(e->d_name))) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    closedir(d);
    if (!st && !n) st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s holds no .png frames", dir);
    if (!st && n > 65536) st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s holds %zu frames, at most 65536", dir, n);
    if (!st) qsort(names, n, sizeof *names, name_cmp);
    float *all = NULL;
    for (size_t i = 0; !st && i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        float *f = NULL;
        uint32_t fw, fh;
        st = evk_png_read(path, &f, &fw, &fh);
        if (!st && i && (fw != *w || fh != *h))
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s is %ux%u, the frames before it %ux%u", path, fw, fh, *w, *h);
        if (!st && !i) {
            *w = fw, *h = fh;
            if (!(all = malloc(n * 3 * (size_t)fw * fh * sizeof *all))) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        if (!st) memcpy(all + i * 3 * (size_t)fw * fh, f, 3 * (size_t)fw * fh * sizeof *f);
        free(f);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (st) {
        free(all);
        return st;
    }
    *rgb = all, *frames = (uint32_t)n;
    return EVK_OK;
}

/* A picture from a file or folder: f32 RGB [frames or 1, H, W, 3] in [0, 1] (*frames 0: an image),
 * and its own prompt when it carries one. */
static evk_status read_picture(const char *path, float **rgb, uint32_t *frames, uint32_t *w, uint32_t *h, char **prompt) {
    *rgb = NULL, *frames = 0, *prompt = NULL;
    struct stat sb;
    if (!stat(path, &sb) && S_ISDIR(sb.st_mode)) return read_frame_folder(path, rgb, frames, w, h);
    if (ends_with(path, ".npy")) {
        evk_npy a = {0};
        EVK_TRY(evk_npy_read_f32(path, &a));
        evk_status st = EVK_OK;
        bool video = a.ndim == 4;
        if (!(a.ndim == 3 || a.ndim == 4) || a.shape[a.ndim - 1] != 3 || !a.shape[0] || a.shape[a.ndim - 2] > 65536 ||
            a.shape[a.ndim - 3] > 65536 || (video && a.shape[0] > 65536))
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: expected an image [H, W, 3] or a video [F, H, W, 3] (f32 in [0, 1]), got %u dimensions", path,
                          a.ndim);
        for (uint64_t i = 0; !st && i < a.count; i++)
            if (!(a.data[i] >= 0.0f && a.data[i] <= 1.0f))
                st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: value %llu is %g, outside [0, 1]", path, (unsigned long long)i, (double)a.data[i]);
        if (st) {
            evk_npy_free(&a);
            return st;
        }
        *w = (uint32_t)a.shape[a.ndim - 2], *h = (uint32_t)a.shape[a.ndim - 3], *frames = video ? (uint32_t)a.shape[0] : 0;
        *rgb = a.data; /* handed over: evk_npy_free frees only data */
        return EVK_OK;
    }
    if (ends_with(path, ".webp")) {
        evk_video v = {0};
        EVK_TRY(evk_video_read(path, &v));
        size_t n = (size_t)v.frames * v.width * v.height * 3;
        float *f = malloc(n * sizeof *f);
        if (!f) {
            evk_video_free(&v);
            return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        for (size_t i = 0; i < n; i++) f[i] = v.rgb[i] / 255.0f;
        *rgb = f, *frames = v.frames, *w = v.width, *h = v.height;
        evk_video_free(&v);
        /* the prompt `evoke generate` stored in the XMP metadata */
        uint8_t *bytes = NULL;
        size_t size = 0;
        evk_status st = evk_file_read(path, (size_t)1 << 30, &bytes, &size);
        if (!st) st = evk_webp_decode_text(bytes, size, path, prompt, NULL);
        free(bytes);
        if (st) {
            free(*rgb);
            *rgb = NULL;
        }
        return st;
    }
    EVK_TRY(evk_png_read(path, rgb, w, h));
    evk_status st = evk_png_read_text(path, EVK_PNG_KEY_PROMPT, prompt);
    if (st) free(*rgb), *rgb = NULL;
    return st;
}

int cmd_score(int argc, char **argv) {
    enum { O_REWARD = 256, O_PROMPT, O_JSON, O_DEVICE };
    static const struct option opts[] = {{"reward", required_argument, 0, O_REWARD}, {"prompt", required_argument, 0, O_PROMPT},
                                         {"json", no_argument, 0, O_JSON}, {"device", required_argument, 0, O_DEVICE},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *reward_path = NULL, *prompt = NULL;
    bool json = false, have_device = false;
    uint32_t device = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_print_help(score_help); return CLI_EXIT_OK;
        case O_REWARD: reward_path = optarg; break;
        case O_PROMPT: prompt = optarg; break;
        case O_JSON: json = true; break;
        case O_DEVICE: if (!cli_parse_u32(cmd, "--device", optarg, 0, &device)) return CLI_EXIT_USAGE; have_device = true; break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!reward_path) return cli_usage_error(cmd, "--reward is required");
    if (optind >= argc) return cli_usage_error(cmd, "no images or videos given");
    if (!cli_input_exists(cmd, "--reward", reward_path)) return CLI_EXIT_USAGE;
    for (int i = optind; i < argc; i++)
        if (!cli_input_exists(cmd, "image", argv[i])) return CLI_EXIT_USAGE;
    evk_context_config cc = {.pick_device = have_device, .device_index = device};
    evk_context *ctx = NULL;
    evk_status st = evk_context_create(&cc, &ctx);
    if (st) return cli_report(st);
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "images");
    int rc = CLI_EXIT_OK;
    for (int i = optind; i < argc && rc == CLI_EXIT_OK; i++) {
        float *rgb = NULL;
        uint32_t w = 0, h = 0, frames = 0;
        char *own_prompt = NULL;
        st = read_picture(argv[i], &rgb, &frames, &w, &h, &own_prompt);
        if (!st && !prompt && !own_prompt)
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, ends_with(argv[i], ".png") ? "'%s' has no \"prompt\" text chunk; give the caption with --prompt"
                                                                             : "'%s' carries no prompt; give the caption with --prompt", argv[i]);
        double v = 0;
        if (!st) st = score_one(ctx, reward_path, prompt ? prompt : own_prompt, rgb, frames, w, h, &v);
        if (st) {
            rc = cli_report(st);
        } else if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "file", argv[i]);
            cJSON_AddStringToObject(o, "prompt", prompt ? prompt : own_prompt);
            cJSON_AddNumberToObject(o, "reward", v);
            if (frames) cJSON_AddNumberToObject(o, "frames", frames);
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%.6f  %s\n", v, argv[i]);
        }
        free(rgb);
        free(own_prompt);
    }
    if (json && rc == CLI_EXIT_OK) {
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
    }
    cJSON_Delete(root);
    evk_context_destroy(ctx);
    return rc;
}
