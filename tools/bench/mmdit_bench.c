/* mmdit_bench.c — times one SD3Transformer2DModel (MMDiT / MMDiT-X) call on the device and
 * measures its memory.
 *
 * Loads a diffusers transformer config and its weights: a safetensors file (linear and patch
 * weights in the storage dtype asked for, f16 or f32) or a GGUF file ("as stored": quantised
 * matrices stay quantised on the device; diffusers names or the original MMDiT ones), reads the
 * call's inputs (sample, timestep, encoder_hidden_states, pooled_projections) from a small
 * safetensors file, and runs and reports the call with the shared benchmark loop of net_bench.h
 * (one warm-up, `reps` timed calls, raw f32 output and a JSON summary). Built and run by
 * tools/bench/bench_mmdit.py; not part of the CMake build.
 *   mmdit_bench CONFIG.json WEIGHTS INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32|quant] */
#include "net_bench.h"

#include "formats/config.h"
#include "models/mmdit/mmdit.h"

typedef struct call { evk_mmdit *m; net_bench *b; } call;

static evk_status record(void *user, evk_stream *s) {
    call *c = user;
    evk_tensor *in = c->b->in;
    return evk_mmdit_forward(c->m, s, &in[0], &in[1], &in[2], &in[3], &c->b->out);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s CONFIG.json WEIGHTS INPUTS.safetensors OUT.f32 SUMMARY.json [reps] [f16|f32|quant]\n", argv[0]);
        return 2;
    }
    const char *sname = argc > 7 ? argv[7] : "f16";
    const evk_dtype storage = !strcmp(sname, "f32") ? EVK_DTYPE_F32 : !strcmp(sname, "quant") ? EVK_DTYPE_QUANT : EVK_DTYPE_F16;
    net_bench b;
    nb_init(&b, "mmdit_bench", argc > 6 ? argv[6] : NULL, sname);
    evk_mmdit_config cfg;
    NB_CHECK(evk_mmdit_config_load(argv[1], &cfg));
    /* the latent size comes from the inputs file's sample tensor */
    evk_weights *in;
    NB_CHECK(evk_weights_open(NULL, argv[3], &in));
    int64_t xs[EVK_ST_MAX_DIMS], cs[EVK_ST_MAX_DIMS];
    nb_input_shape(in, "sample", 4, xs);
    nb_input_shape(in, "encoder_hidden_states", 3, cs);

    double t0 = nb_now_ms();
    evk_weights *ws;
    NB_CHECK(evk_weights_open(b.ctx, argv[2], &ws));
    evk_mmdit *m;
    if (evk_mmdit_is_original(ws)) {
        NB_CHECK(evk_mmdit_use_original_names(ws));
        NB_CHECK(evk_mmdit_load_original(b.ctx, &cfg, ws, storage, (int)xs[2], (int)xs[3], &m));
    } else {
        NB_CHECK(evk_mmdit_load(b.ctx, &cfg, ws, storage, (int)xs[2], (int)xs[3], &m));
    }
    nb_loaded(&b, t0);

    const int64_t ts[1] = {xs[0]}, ps[2] = {xs[0], cfg.pooled_projection_dim}, os[4] = {xs[0], cfg.out_channels, xs[2], xs[3]};
    nb_input(&b, in, "sample", 4, xs);
    nb_input(&b, in, "timestep", 1, ts);
    nb_input(&b, in, "encoder_hidden_states", 3, cs);
    nb_input(&b, in, "pooled_projections", 2, ps);
    NB_CHECK(evk_tensor_alloc(b.ctx, EVK_DTYPE_F32, 4, os, &b.out));

    call c = {m, &b};
    nb_run(&b, record, &c);
    nb_write(&b, argv[4], argv[5]);
    evk_mmdit_destroy(m);
    evk_weights_close(in);
    evk_weights_close(ws);
    nb_done(&b);
    return 0;
}
