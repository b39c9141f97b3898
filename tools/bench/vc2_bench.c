/* vc2_bench.c — times one call of lvdm's 3-D UNet (VideoCrafter2 / T2V-Turbo, openaimodel3d.UNetModel)
 * on the device and measures its memory.
 *
 * Reads the UNet's configuration from an lvdm yaml (model.params.unet_config.params, the keys and
 * defaults the vc2 model family reads), its weights from a safetensors file under lvdm's names
 * (bare or below "model.diffusion_model."; time_cond_proj present iff the file holds it, as the
 * family decides), and the call's inputs from a small safetensors file: x [B, 4, F, H, W],
 * t [B], context [B, L, context_dim], and the scalars fps [1] and guidance [1] (the w given to
 * T2V-Turbo's w-embedding; used when the UNet has time_cond_proj). Runs and reports the call with
 * the shared benchmark loop of net_bench.h (one warm-up unless "nowarmup", `reps` timed calls,
 * raw f32 output and a JSON summary). Built and run by tools/bench/bench_vc2.py; not part of the
 * CMake build.
 *   vc2_bench CONFIG.yaml WEIGHTS.safetensors INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32] [warmup|nowarmup] */
#include "net_bench.h"

#include "formats/yaml.h"
#include "models/video/vc2.h"

typedef struct call { evk_vc2_unet *u; net_bench *b; evk_vc2_unet_input ui; } call;

static evk_status record(void *user, evk_stream *s) {
    call *c = user;
    return evk_vc2_unet_forward(c->u, s, &c->ui, &c->b->out);
}

/* unet_config.params of the yaml over lvdm's defaults, through the vc2 loader's own reader. */
static void read_config(const char *path, evk_vc2_unet_config *c) {
    evk_yaml *y;
    NB_CHECK(evk_yaml_load(path, &y));
    char target[160] = "";
    NB_CHECK(evk_yaml_get_str(y, NULL, "model.params.unet_config.target", target, sizeof target));
    if (!strstr(target, "openaimodel3d.UNetModel")) {
        fprintf(stderr, "%s: unet_config.target is \"%s\", not lvdm's openaimodel3d.UNetModel\n", path, target);
        exit(2);
    }
    NB_CHECK(evk_vc2_unet_config_from_yaml(y, c));
    evk_yaml_free(y);
}

/* One scalar input of the file (shape [1]). */
static float read_scalar(evk_weights *in, const char *name) {
    const int64_t one[1] = {1};
    float v;
    NB_CHECK(evk_weights_read_f32(in, name, 1, one, &v));
    return v;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s CONFIG.yaml WEIGHTS.safetensors INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32] [warmup|nowarmup]\n",
                argv[0]);
        return 2;
    }
    const bool f32 = argc > 7 && !strcmp(argv[7], "f32");
    net_bench b;
    nb_init(&b, "vc2_bench", argc > 6 ? argv[6] : NULL, f32 ? "f32" : "f16");
    b.no_warmup = argc > 8 && !strcmp(argv[8], "nowarmup");
    evk_vc2_unet_config cfg;
    read_config(argv[1], &cfg);

    double t0 = nb_now_ms();
    evk_weights *ws;
    NB_CHECK(evk_weights_open(b.ctx, argv[2], &ws));
    if (evk_weights_count(ws) && !strncmp(evk_weights_at(ws, 0)->name, "model.diffusion_model.", 22))
        NB_CHECK(evk_weights_set_prefix(ws, "model.diffusion_model."));
    /* time_cond_proj (T2V-Turbo's student): present iff the weights hold it */
    if (evk_weights_has(ws, "time_cond_proj.weight")) {
        int nd;
        int64_t sh[EVK_ST_MAX_DIMS];
        NB_CHECK(evk_weights_shape(ws, "time_cond_proj.weight", &nd, sh));
        if (nd != 2) { fprintf(stderr, "time_cond_proj.weight has %d dimensions\n", nd); return 2; }
        cfg.time_cond_proj_dim = (int)sh[1];
    } else {
        cfg.time_cond_proj_dim = 0;
    }
    evk_vc2_unet *u;
    NB_CHECK(evk_vc2_unet_load(b.ctx, &cfg, ws, f32 ? EVK_DTYPE_F32 : EVK_DTYPE_F16, &u));
    nb_loaded(&b, t0);

    /* inputs: batch, frames and latent size come from the file's x tensor */
    evk_weights *in;
    NB_CHECK(evk_weights_open(NULL, argv[3], &in));
    int64_t xs[EVK_ST_MAX_DIMS], cs[EVK_ST_MAX_DIMS];
    nb_input_shape(in, "x", 5, xs);
    nb_input_shape(in, "context", 3, cs);
    const int64_t ts[1] = {xs[0]}, os[5] = {xs[0], cfg.out_channels, xs[2], xs[3], xs[4]};
    call c = {.u = u, .b = &b};
    c.ui.x = nb_input(&b, in, "x", 5, xs);
    c.ui.t = nb_input(&b, in, "t", 1, ts);
    c.ui.context = nb_input(&b, in, "context", 3, cs);
    c.ui.fps = read_scalar(in, "fps");
    c.ui.has_guidance = cfg.time_cond_proj_dim > 0;
    c.ui.guidance = read_scalar(in, "guidance");
    NB_CHECK(evk_tensor_alloc(b.ctx, EVK_DTYPE_F32, 5, os, &b.out));
    fprintf(stderr, "vc2_bench: x [%lld, %lld, %lld, %lld, %lld], fps %g%s\n", (long long)xs[0], (long long)xs[1], (long long)xs[2],
            (long long)xs[3], (long long)xs[4], c.ui.fps, c.ui.has_guidance ? ", w-embedding (time_cond_proj)" : "");

    nb_run(&b, record, &c);
    nb_write(&b, argv[4], argv[5]);
    evk_vc2_unet_destroy(u);
    evk_weights_close(in);
    evk_weights_close(ws);
    nb_done(&b);
    return 0;
}
