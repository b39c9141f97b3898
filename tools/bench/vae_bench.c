/* vae_bench.c — times one decode of diffusers' AutoencoderKL decoder (SD's VAE, which
 * VideoCrafter2 applies frame by frame) on the device and measures its memory.
 *
 * Loads a diffusers vae config and its safetensors weights (the decoder half: post_quant_conv.*,
 * decoder.*; conv and linear weights in the storage dtype asked for), reads the latents
 * [B, 4, h, w] from a small safetensors file, and runs and reports evk_vae_decode with the
 * shared benchmark loop of net_bench.h (one warm-up unless "nowarmup", `reps` timed calls, raw
 * f32 output [B, out_channels, 8h, 8w] and a JSON summary). Built and run by tools/bench/bench_vc2.py
 * (--decode-frames); not part of the CMake build.
 *   vae_bench CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32] [warmup|nowarmup] */
#include "net_bench.h"

#include "formats/config.h"
#include "models/sd/vae.h"

typedef struct call { evk_vae_decoder *d; net_bench *b; } call;

static evk_status record(void *user, evk_stream *s) {
    call *c = user;
    return evk_vae_decode(c->d, s, &c->b->in[0], &c->b->out);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32] [warmup|nowarmup]\n",
                argv[0]);
        return 2;
    }
    const bool f32 = argc > 7 && !strcmp(argv[7], "f32");
    net_bench b;
    nb_init(&b, "vae_bench", argc > 6 ? argv[6] : NULL, f32 ? "f32" : "f16");
    b.no_warmup = argc > 8 && !strcmp(argv[8], "nowarmup");
    evk_vae_config cfg;
    NB_CHECK(evk_vae_config_load(argv[1], &cfg));

    double t0 = nb_now_ms();
    evk_weights *ws;
    NB_CHECK(evk_weights_open(b.ctx, argv[2], &ws));
    evk_vae_decoder *d;
    NB_CHECK(evk_vae_decoder_load(b.ctx, &cfg, ws, f32 ? EVK_DTYPE_F32 : EVK_DTYPE_F16, &d));
    nb_loaded(&b, t0);

    evk_weights *in;
    NB_CHECK(evk_weights_open(NULL, argv[3], &in));
    int64_t zs[EVK_ST_MAX_DIMS];
    nb_input_shape(in, "latents", 4, zs);
    const int up = evk_vae_decoder_upscale(d);
    const int64_t os[4] = {zs[0], cfg.out_channels, zs[2] * up, zs[3] * up};
    nb_input(&b, in, "latents", 4, zs);
    NB_CHECK(evk_tensor_alloc(b.ctx, EVK_DTYPE_F32, 4, os, &b.out));

    call c = {d, &b};
    nb_run(&b, record, &c);
    nb_write(&b, argv[4], argv[5]);
    evk_vae_decoder_destroy(d);
    evk_weights_close(in);
    evk_weights_close(ws);
    nb_done(&b);
    return 0;
}
