/* cmd_score.c — `evoke score --reward FILE --prompt TEXT IMAGE.png...`: each image's reward,
 * computed by the same code path searches use (so images made elsewhere can be compared). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/png.h"
#include "rewards/reward.h"
#include "core/stream.h"

static const char *score_help =
    "usage: evoke score --reward FILE [--prompt TEXT] [--json] IMAGE.png...\n"
    "\n"
    "Score images with a reward (e.g. {\"type\":\"clip_score\",\"model\":DIR}) and print one line per\n"
    "image: the reward and the file. All images must have the same size. Without --prompt, each\n"
    "image's own prompt text chunk (as `evoke generate -o` writes it) is used.\n"
    "\n"
    "  --reward FILE   reward file (JSON; types: {rewards})\n"
    "  --prompt TEXT   the prompt the images are scored against\n"
    "  --json          print a JSON document instead\n"
    "  --device N      Vulkan device index\n"
    "  -h, --help      this text\n";

static const char *cmd = "score";

/* One image's score (its own prompt may differ from the others', so rewards are per image). */
static evk_status score_one(evk_context *ctx, const char *reward_path, const char *prompt, const float *rgb, uint32_t w,
                            uint32_t h, double *out) {
    evk_reward_options ro = {.prompt = prompt, .image_height = h, .image_width = w};
    evk_reward *reward = NULL;
    evk_stream *s = NULL;
    evk_tensor x, r;
    memset(&x, 0, sizeof x);
    memset(&r, 0, sizeof r);
    size_t px = (size_t)w * h;
    float *chw = malloc(3 * px * sizeof *chw);
    if (!chw) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < px; i++)
        for (int c = 0; c < 3; c++) chw[c * px + i] = rgb[i * 3 + c];
    evk_status st = evk_reward_load_with(ctx, reward_path, &ro, &reward);
    if (!st) st = evk_tensor_alloc(ctx, EVK_DTYPE_F32, 2, (int64_t[]){1, (int64_t)(3 * px)}, &x);
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
    if (optind >= argc) return cli_usage_error(cmd, "no images given");
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
        uint32_t w, h;
        char *own_prompt = NULL;
        st = evk_png_read(argv[i], &rgb, &w, &h);
        if (!st && !prompt) st = evk_png_read_text(argv[i], EVK_PNG_KEY_PROMPT, &own_prompt);
        if (!st && !prompt && !own_prompt)
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "'%s' has no \"prompt\" text chunk; give the caption with --prompt", argv[i]);
        double v = 0;
        if (!st) st = score_one(ctx, reward_path, prompt ? prompt : own_prompt, rgb, w, h, &v);
        if (st) {
            rc = cli_report(st);
        } else if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "file", argv[i]);
            cJSON_AddStringToObject(o, "prompt", prompt ? prompt : own_prompt);
            cJSON_AddNumberToObject(o, "reward", v);
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
