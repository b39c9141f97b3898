/* unet_bench.c — times one UNet2DConditionModel call on the device and measures its memory.
 *
 * Loads a diffusers unet config and its safetensors weights (conv and linear weights in the
 * storage dtype asked for), reads the call's inputs (sample, timestep, encoder_hidden_states)
 * from a small safetensors file, and runs and reports the call with the shared benchmark loop of
 * net_bench.h (one warm-up, `reps` timed calls, raw f32 output and a JSON summary). Built and run
 * by tools/bench/bench_unet.py; not part of the CMake build.
 *   unet_bench CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32] */
#include "net_bench.h"

#include "formats/config.h"
#include "models/sd/unet.h"

typedef struct call { evk_unet *u; net_bench *b; } call;

static evk_status record(void *user, evk_stream *s) {
    call *c = user;
    return evk_unet_forward(c->u, s, &c->b->in[0], &c->b->in[1], &c->b->in[2], &c->b->out);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32]\n", argv[0]);
        return 2;
    }
    const bool f32 = argc > 7 && !strcmp(argv[7], "f32");
    net_bench b;
    nb_init(&b, "unet_bench", argc > 6 ? argv[6] : NULL, f32 ? "f32" : "f16");
    evk_unet_config cfg;
    NB_CHECK(evk_unet_config_load(argv[1], &cfg));

    double t0 = nb_now_ms();
    evk_weights *ws;
    NB_CHECK(evk_weights_open(b.ctx, argv[2], &ws));
    evk_unet *u;
    NB_CHECK(evk_unet_load(b.ctx, &cfg, ws, f32 ? EVK_DTYPE_F32 : EVK_DTYPE_F16, &u));
    nb_loaded(&b, t0);

    /* inputs: the batch and spatial size come from the file's sample tensor */
    evk_weights *in;
    NB_CHECK(evk_weights_open(NULL, argv[3], &in));
    int64_t xs[EVK_ST_MAX_DIMS], cs[EVK_ST_MAX_DIMS];
    nb_input_shape(in, "sample", 4, xs);
    nb_input_shape(in, "encoder_hidden_states", 3, cs);
    const int64_t ts[1] = {xs[0]}, os[4] = {xs[0], cfg.out_channels, xs[2], xs[3]};
    nb_input(&b, in, "sample", 4, xs);
    nb_input(&b, in, "timestep", 1, ts);
    nb_input(&b, in, "encoder_hidden_states", 3, cs);
    NB_CHECK(evk_tensor_alloc(b.ctx, EVK_DTYPE_F32, 4, os, &b.out));

    call c = {u, &b};
    nb_run(&b, record, &c);
    nb_write(&b, argv[4], argv[5]);
    evk_unet_destroy(u);
    evk_weights_close(in);
    evk_weights_close(ws);
    nb_done(&b);
    return 0;
}
