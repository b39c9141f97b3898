/* cmd_verify.c — `evoke verify --prompt TEXT FILE... [--json]`: check images of the shipped
 * shapes model (PNG) against their caption with the pixel-level verifier (tools/cli/verifier.h),
 * and clips of the shipped video model (animated WebP) with the video verifier
 * (tools/cli/video_verifier.h); print each claim, whether it holds and what was measured. Without
 * --prompt, each file's own prompt is read from its metadata (as evoke writes it). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/file.h"
#include "formats/png.h"
#include "formats/video.h"
#include "verifier.h"
#include "video_verifier.h"

static const char *verify_help =
    "usage: evoke verify [--prompt TEXT] [--json] IMAGE.png|VIDEO.webp...\n"
    "\n"
    "Check images of the shipped shapes model against a caption of its grammar, from pixels alone:\n"
    "  a [small|large] <colour> <shape> on the left|on the right|at the top|at the bottom|in the center\n"
    "  a <colour> <shape> left of|right of|above|below a <colour> <shape>\n"
    "colours: red green blue yellow purple cyan white orange; shapes: circle square triangle.\n"
    "Objects are found by colour (nearest of the data set's colours, connected regions, specks\n"
    "under 6 px ignored), their shape from the bounding box (corners, top/bottom balance), size\n"
    "from its extent and position from the centroid; every claim of the caption is checked.\n"
    "Videos (.webp) of the shipped video model, captions \"a <colour> <shape> moving left|right|up|down\"\n"
    "(optionally \"and a <colour> <shape> moving <dir>\"): per object its colour in at least 5 of 8\n"
    "frames, its shape the majority of the shapes read, and its direction from a least-squares\n"
    "line through the centroids.\n"
    "The verifiers are for evaluation only; they are never used as a search reward.\n"
    "\n"
    "  --prompt TEXT  the caption (default: each image's \"prompt\" text chunk)\n"
    "  --json         print one JSON document\n"
    "  -h, --help     this text\n"
    "\n"
    "exit status: 0 every image passes, 1 some image fails (or cannot be read), 2 bad usage,\n"
    "a caption outside the grammar, or a file that is not a PNG (images) or WebP (videos).\n";

static void add_objects_json(cJSON *arr, const verifier_object *objects) {
    for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++) {
        const verifier_object *o = &objects[c];
        if (!o->present) continue;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "colour", verifier_colour_name((verifier_colour)c));
        cJSON_AddStringToObject(j, "shape", verifier_shape_name(o->shape));
        cJSON_AddStringToObject(j, "size", verifier_size_name(o->size));
        cJSON_AddNumberToObject(j, "area", o->area);
        cJSON_AddNumberToObject(j, "cx", o->cx);
        cJSON_AddNumberToObject(j, "cy", o->cy);
        cJSON_AddNumberToObject(j, "width", o->width);
        cJSON_AddNumberToObject(j, "height", o->height);
        cJSON_AddItemToArray(arr, j);
    }
}

static const char *claim_kind(verifier_claim_kind k) {
    switch (k) {
    case VERIFIER_CLAIM_COLOUR: return "colour";
    case VERIFIER_CLAIM_SHAPE: return "shape";
    case VERIFIER_CLAIM_POSITION: return "position";
    case VERIFIER_CLAIM_SIZE: return "size";
    }
    return "?";
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Verify one clip (.webp); returns the status of reading it (a failed check is not an error). */
static evk_status verify_video(const char *path, const char *prompt_arg, bool json, cJSON *images, bool *passed) {
    *passed = false;
    char *embedded = NULL;
    const char *prompt = prompt_arg;
    if (!prompt) {
        uint8_t *bytes;
        size_t size;
        EVK_TRY(evk_file_read(path, (size_t)1 << 30, &bytes, &size));
        evk_status s = evk_webp_decode_text(bytes, size, path, &embedded, NULL);
        free(bytes);
        EVK_TRY(s);
        if (!embedded) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "'%s' carries no prompt; give the caption with --prompt", path);
        prompt = embedded;
    }
    video_verifier_caption cap;
    evk_status s = video_verifier_parse(prompt, &cap);
    evk_video v = {0};
    if (!s) s = evk_video_read(path, &v);
    size_t px = (size_t)v.width * v.height;
    float *clip = s ? NULL : malloc((size_t)v.frames * px * 3 * sizeof *clip);
    if (!s && !clip) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t f = 0; !s && f < v.frames; f++) /* [F, H, W, 3] bytes -> [F, 3, H, W] in [0, 1] */
        for (size_t i = 0; i < px; i++)
            for (size_t c = 0; c < 3; c++) clip[(f * 3 + c) * px + i] = v.rgb[(f * px + i) * 3 + c] / 255.0f;
    video_verifier_result r;
    if (!s) s = video_verifier_check_clip(clip, v.frames, v.width, v.height, prompt, &r);
    free(clip);
    evk_video_free(&v);
    if (s) {
        free(embedded);
        return evk_fail_context(s, "'%s'", path);
    }
    *passed = r.ok;
    char canonical[200];
    video_verifier_caption_format(&cap, canonical, sizeof canonical);
    cJSON *j = json ? cJSON_CreateObject() : NULL;
    if (j) {
        cJSON_AddStringToObject(j, "path", path);
        cJSON_AddStringToObject(j, "prompt", prompt);
        cJSON_AddStringToObject(j, "parsed", canonical);
        cJSON_AddNumberToObject(j, "frames", r.frames);
        cJSON_AddBoolToObject(j, "pass", r.ok);
        cJSON *cats = cJSON_AddObjectToObject(j, "categories");
        cJSON_AddBoolToObject(cats, "colour", r.colour);
        cJSON_AddBoolToObject(cats, "shape", r.shape);
        cJSON_AddBoolToObject(cats, "motion", r.motion);
        cJSON_AddItemToArray(images, j);
    } else {
        printf("%s: %s  \"%s\"\n", path, r.ok ? "PASS" : "FAIL", canonical);
    }
    cJSON *objs = j ? cJSON_AddArrayToObject(j, "objects") : NULL;
    for (uint32_t o = 0; o < cap.count; o++) {
        const video_verifier_track *t = &r.objects[o];
        const char *shape = t->has_shape ? verifier_shape_name(t->shape) : "none";
        if (objs) {
            cJSON *oj = cJSON_CreateObject();
            cJSON_AddStringToObject(oj, "colour", verifier_colour_name(cap.colour[o]));
            cJSON_AddNumberToObject(oj, "frames_present", t->frames_present);
            cJSON_AddStringToObject(oj, "shape", shape);
            cJSON_AddNumberToObject(oj, "vx", t->vx);
            cJSON_AddNumberToObject(oj, "vy", t->vy);
            cJSON_AddStringToObject(oj, "direction", video_verifier_dir_name(t->dir));
            cJSON_AddItemToArray(objs, oj);
        } else {
            printf("  %s: in %u of %u frames, shape %s (%s), moving %s (%s; v = %.2f, %.2f px/frame)\n",
                   verifier_colour_name(cap.colour[o]), t->frames_present, r.frames, shape,
                   verifier_shape_name(cap.shape[o]), video_verifier_dir_name(t->dir), video_verifier_dir_name(cap.dir[o]), t->vx, t->vy);
        }
    }
    free(embedded);
    return EVK_OK;
}

/* Verify one image; returns the status of reading it (a failed check is not an error). */
static evk_status verify_one(const char *path, const char *prompt_arg, bool json, cJSON *images, bool *passed) {
    if (ends_with(path, ".webp")) return verify_video(path, prompt_arg, json, images, passed);
    *passed = false;
    char *embedded = NULL;
    const char *prompt = prompt_arg;
    if (!prompt) {
        EVK_TRY(evk_png_read_text(path, EVK_PNG_KEY_PROMPT, &embedded));
        if (!embedded)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "'%s' has no \"%s\" text chunk; give the caption with --prompt", path,
                            EVK_PNG_KEY_PROMPT);
        prompt = embedded;
    }
    verifier_caption cap;
    evk_status s = verifier_parse(prompt, &cap);
    if (s) {
        free(embedded);
        return evk_fail_context(s, "'%s'", path);
    }
    uint8_t *rgb;
    uint32_t w, h;
    s = evk_png_read_rgb8(path, &rgb, &w, &h);
    if (s) {
        free(embedded);
        return s;
    }
    verifier_object objects[VERIFIER_COLOUR_COUNT];
    s = verifier_find_objects(rgb, w, h, objects);
    free(rgb);
    if (s) {
        free(embedded);
        return s;
    }
    verifier_result r;
    verifier_check(&cap, objects, &r);
    *passed = r.ok;
    char canonical[160];
    verifier_caption_format(&cap, canonical, sizeof canonical);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "path", path);
        cJSON_AddStringToObject(j, "prompt", prompt);
        cJSON_AddStringToObject(j, "parsed", canonical);
        cJSON_AddNumberToObject(j, "width", w);
        cJSON_AddNumberToObject(j, "height", h);
        cJSON_AddBoolToObject(j, "pass", r.ok);
        cJSON *cats = cJSON_AddObjectToObject(j, "categories");
        cJSON_AddBoolToObject(cats, "colour", r.colour);
        cJSON_AddBoolToObject(cats, "shape", r.shape);
        cJSON_AddBoolToObject(cats, "position", r.position);
        cJSON_AddBoolToObject(cats, "size", r.size);
        cJSON *claims = cJSON_AddArrayToObject(j, "claims");
        for (uint32_t i = 0; i < r.claim_count; i++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "kind", claim_kind(r.claims[i].kind));
            cJSON_AddStringToObject(c, "claim", r.claims[i].text);
            cJSON_AddBoolToObject(c, "pass", r.claims[i].pass);
            cJSON_AddStringToObject(c, "found", r.claims[i].found);
            cJSON_AddItemToArray(claims, c);
        }
        add_objects_json(cJSON_AddArrayToObject(j, "objects"), objects);
        cJSON_AddItemToArray(images, j);
    } else {
        printf("%s: %s  \"%s\"\n", path, r.ok ? "PASS" : "FAIL", canonical);
        for (uint32_t i = 0; i < r.claim_count; i++)
            printf("  [%s] %-44s %s\n", r.claims[i].pass ? "pass" : "FAIL", r.claims[i].text, r.claims[i].found);
        printf("  objects:");
        int any = 0;
        for (int c = 0; c < VERIFIER_COLOUR_COUNT; c++)
            if (objects[c].present) {
                printf("%s %s %s %s at (%.1f, %.1f)", any++ ? ";" : "", verifier_size_name(objects[c].size),
                       verifier_colour_name((verifier_colour)c), verifier_shape_name(objects[c].shape), objects[c].cx,
                       objects[c].cy);
            }
        printf("%s\n", any ? "" : " none");
    }
    free(embedded);
    return EVK_OK;
}

int cmd_verify(int argc, char **argv) {
    static const struct option options[] = {{"prompt", required_argument, 0, 'p'},
                                            {"json", no_argument, 0, 'j'},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    const char *prompt = NULL;
    bool json = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hp:", options, NULL)) != -1) {
        if (c == 'p') prompt = optarg;
        else if (c == 'j') json = true;
        else if (c == 'h') {
            fputs(verify_help, stdout);
            return CLI_EXIT_OK;
        } else if (optopt == 'p' || (optind > 0 && !strcmp(argv[optind - 1], "--prompt")))
            return cli_usage_error("verify", "--prompt needs a caption");
        else
            return cli_usage_error("verify", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind >= argc) return cli_usage_error("verify", "no image given");
    for (int i = optind; i < argc; i++)
        if (!cli_input_exists("verify", "image", argv[i])) return CLI_EXIT_USAGE;
    if (prompt) { /* a caption outside the grammar is bad input whatever the files are */
        bool videos = false, stills = false;
        for (int i = optind; i < argc; i++) videos |= ends_with(argv[i], ".webp"), stills |= !ends_with(argv[i], ".webp");
        verifier_caption cap;
        video_verifier_caption vcap;
        evk_status s = stills ? verifier_parse(prompt, &cap) : EVK_OK;
        if (!s && videos) s = video_verifier_parse(prompt, &vcap);
        if (s) return cli_report(s);
    }
    cJSON *root = json ? cJSON_CreateObject() : NULL, *images = NULL;
    if (json) {
        if (prompt) cJSON_AddStringToObject(root, "prompt", prompt);
        images = cJSON_AddArrayToObject(root, "images");
    }
    int total = argc - optind, passed = 0, rc = CLI_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        bool ok;
        evk_status s = verify_one(argv[i], prompt, json, images, &ok);
        if (s) {
            int e = cli_report(s);
            rc = e > rc ? e : rc;
            if (json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "path", argv[i]);
                cJSON_AddBoolToObject(j, "pass", false);
                cJSON_AddStringToObject(j, "error", evk_error_message());
                cJSON_AddItemToArray(images, j);
            }
            continue;
        }
        passed += ok;
        if (!ok && rc == CLI_EXIT_OK) rc = CLI_EXIT_FAILURE;
    }
    if (json) {
        cJSON_AddNumberToObject(root, "passed", passed);
        cJSON_AddNumberToObject(root, "total", total);
        char *text = cJSON_Print(root);
        cJSON_Delete(root);
        if (!text) {
            fprintf(stderr, "evoke verify: out of memory printing JSON\n");
            return CLI_EXIT_FAILURE;
        }
        puts(text);
        free(text);
    } else if (total > 1) {
        printf("%d of %d images pass\n", passed, total);
    }
    return rc;
}
