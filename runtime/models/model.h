/* model.h — the model interface: one call that maps a batch of states to the model's output, and
 * what a program needs around it (prompt encoding, decoding to pixels, the default sampler).
 *
 * A model is an object with one forward call: given states x_t [B, ...sample shape], the noise
 * level of each batch item (the timestep the network is told, and the signal and noise scales
 * a, b of x_t = a·x0 + b·ε) and optional conditioning [B, ...], it RECORDS into a stream the
 * computation of its output — ε, v, x0 or the flow velocity ε − x0, as the model declares.
 * Samplers turn that output into x̂0 and ε̂; the search engine never looks inside a model.
 * Classifier-free guidance is two forward calls (cond and uncond, counted as 2 NFE by searches)
 * combined as ε̂ = ε_u + w·(ε_c − ε_u).
 *
 * Families (models/<family>/) wrap their networks with evk_model_create and a table of callbacks;
 * models/registry.c lists them, and evk_model_load picks the family whose probe accepts a path,
 * so a program — the `evoke` CLI first — loads and drives any model without naming its family. */
#ifndef EVK_MODEL_H
#define EVK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stream.h"
#include "core/tensor.h"
#include "formats/diffusion.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_model evk_model;
struct evk_sampler_config; /* samplers/sampler.h (which includes this header) */

typedef struct evk_model_input {
    const evk_tensor *x;        /* f32 [B, ...sample shape]: the states x_t */
    const evk_tensor *timestep; /* f32 [B]: the timestep told to the network (VP: 0..999, flow: 1000·σ) */
    const evk_tensor *alpha;    /* f32 [B]: signal scale a */
    const evk_tensor *sigma;    /* f32 [B]: noise scale b */
    const evk_tensor *cond;     /* [B, ...] or [1, ...] (shared) conditioning, or NULL (unconditional) */
    float guidance;             /* guidance-embedded models (info.guidance_embedded): the scale w the
                                   network is told, for the whole batch; ignored by other models */
    const float *guidance_items;/* guidance-embedded models: [B] on the host, each item's own w
                                   (overrides `guidance`); NULL: `guidance` for all */
    /* T2V-Turbo-v2's motion guidance (models whose info.motion_guidance is set): `motion` on tells
     * the network the motion scale `motion_guidance` this call (the caller applies the schedule,
     * e.g. 0 below the percentage threshold); off: no motion condition, as upstream without it. */
    bool motion;
    float motion_guidance;
} evk_model_input;

typedef struct evk_model_info {
    const char *family;          /* "gmm", "sd", ... */
    evk_schedule schedule;
    evk_model_output prediction;
    int sample_ndim;             /* shape of one sample (without the batch dimension) */
    int64_t sample_shape[EVK_MAX_DIMS - 1];
    bool conditional;            /* reads cond */
    uint64_t scratch_per_item;   /* device bytes a forward (and decode) needs per batch item (chunk
                                    sizing); video models: per clip, all its frames */
    /* Decoded samples are RGB images [3, height, width] in [0, 1]; 0: they are not images. */
    uint32_t image_width, image_height;
    /* Video models: decoded samples are clips of `frames` RGB images, [frames, 3, height, width]
     * in [0, 1] (image_width/height are the frame size); 0: images (or not pictures at all). */
    uint32_t frames;
    /* Video models: the frame rate clips are made for (the fps a model is conditioned on), what
     * video files are written at; 0: not known (writers take 8). */
    uint32_t fps;
    /* The network takes the guidance scale w as an input (a distilled model's w-embedding, e.g.
     * T2V-Turbo's time_cond_proj): guided sampling is ONE forward call per step with
     * evk_model_input.guidance = w, no unconditional half, and counts 1 NFE. */
    bool guidance_embedded;
    /* The network also takes a motion-guidance scale (T2V-Turbo-v2's motion_cond_proj). */
    bool motion_guidance;
} evk_model_info;

/* What a model family provides. `impl` is the family's own state. */
typedef struct evk_model_ops {
    /* Record out[B, ...] = model output for in (shapes already checked). */
    evk_status (*forward)(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *out);
    /* Optional: record guided output out = ε_u + w·(ε_c − ε_u) in one batched pass (cond and
     * uncond halves of one call); NULL: two forward calls. */
    evk_status (*forward_guided)(void *impl, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond, float w,
                                 const evk_tensor *out);
    /* Record the decoded sample a reward sees (e.g. a VAE decode); NULL: the sample itself. */
    evk_status (*decode)(void *impl, evk_stream *s, const evk_tensor *x0, const evk_tensor *out);
    /* Shape of one decoded sample; used only when decode is set. */
    int decoded_ndim;
    int64_t decoded_shape[EVK_MAX_DIMS - 1];
    /* Optional: encode a prompt into conditioning `out` (allocated here, on the model's context;
     * a prompt longer than the model's context is truncated and *truncated set). NULL: the model
     * takes no prompt. */
    evk_status (*encode_prompt)(void *impl, const char *prompt, evk_tensor *out, bool *truncated);
    /* Optional: free the prompt encoder's weights (evk_model_release_prompt_encoder); NULL: the
     * model keeps them. */
    void (*release_prompt_encoder)(void *impl);
    /* The family's default sampler for `steps` steps (every field of out set): schedule, prediction,
     * timestep spacing and offsets as the model was trained; η = 1, the stochastic sampler
     * searches need. NULL: evk_model_sampler_config fails. */
    evk_status (*sampler_config)(void *impl, uint32_t steps, struct evk_sampler_config *out);
    void (*destroy)(void *impl);
} evk_model_ops;

/* How to load a model. Zero is a valid default for every field. */
typedef struct evk_model_options {
    evk_dtype storage;      /* network weights: f32 (0) or f16 */
    uint32_t width, height; /* image size in pixels; 0: the model's own */
    const char *config_dir; /* single-file checkpoints: a folder of the same model with its configs
                               and tokenizer (its weights are not read) */
    uint32_t vae_tile;      /* latent models: decode in tiles of this many latents; 0: whole images */
    uint32_t frames;        /* video models: frames per clip; 0: the model's own */
    uint32_t fps;           /* video models conditioned on frame rate; 0: the model's default */
    const char *diffusion_model; /* take the denoiser's weights from this file instead of the
                                    model's own (a fine-tuned or distilled UNet / transformer);
                                    SD: GGUF or safetensors, original or diffusers names. A
                                    denoiser file holding quantised GGUF tensors is read as
                                    stored whatever `storage` says: quantised matrices stay
                                    quantised on the device, F16 tensors f16, F32 ones f32 */
    const char *lora;       /* merge this LoRA into the denoiser at load (vc2, modelscope:
                               T2V-Turbo v1's unet_lora.pt, an unnamed list of [up, down] pairs,
                               video/lora_list.h); other families refuse it */
} evk_model_options;

/* A family in the registry: its name, what paths it takes (for help texts), a probe that says
 * whether a path holds one of its models (cheap: headers and configs, no weights), and its loader. */
typedef struct evk_model_family {
    const char *name;
    const char *accepts;
    bool (*probe)(const char *path);
    evk_status (*load)(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out);
} evk_model_family;

/* Wrap a family's implementation (ops and info are copied; impl is owned from now on, also on failure). */
evk_status evk_model_create(evk_context *ctx, const evk_model_ops *ops, const evk_model_info *info, void *impl, evk_model **out);
void evk_model_destroy(evk_model *m);
/* Load the model at `path` (a file or a folder) with the first family whose probe accepts it;
 * options may be NULL. Errors: "no such file or directory: PATH", "PATH is not a model evoke
 * knows (families: ...)", or the family loader's own message naming the file. */
evk_status evk_model_load(evk_context *ctx, const char *path, const evk_model_options *options, evk_model **out);
/* The registry, in probing order. */
const evk_model_family *evk_model_families(size_t *count);

const evk_model_info *evk_model_get_info(const evk_model *m);
/* The state handed to evk_model_create (for a family's own accessors). */
void *evk_model_impl(const evk_model *m);
int64_t evk_model_sample_numel(const evk_model *m);
/* Elements of one decoded sample (what rewards score). */
int64_t evk_model_decoded_numel(const evk_model *m);
bool evk_model_has_decode(const evk_model *m);

/* Record the forward call after checking every shape. */
evk_status evk_model_forward(evk_model *m, evk_stream *s, const evk_model_input *in, const evk_tensor *out);
/* Record classifier-free guidance: out = ε_u + w·(ε_c − ε_u), with ε_c from in->cond and ε_u from
 * `uncond` (either may be NULL for an unconditional model); scratch has out's shape. */
evk_status evk_model_forward_guided(evk_model *m, evk_stream *s, const evk_model_input *in, const evk_tensor *uncond,
                                    float w, const evk_tensor *scratch, const evk_tensor *out);
/* Record the decode (a copy-free no-op is not possible: without a decoder this copies x0 to out). */
evk_status evk_model_decode(evk_model *m, evk_stream *s, const evk_tensor *x0, const evk_tensor *out);
/* Decode `count` samples from host memory ([count, sample numel], as searches return them) into
 * host memory ([count, decoded numel]; images: RGB [3, H, W] in [0, 1]), in one submission. */
evk_status evk_model_decode_host(evk_model *m, const float *samples, uint32_t count, float *out);

/* Whether the model is conditioned on a text prompt (evk_model_encode_prompt works). */
bool evk_model_takes_prompt(const evk_model *m);
/* Encode a prompt (NULL: the empty prompt) into `out` (allocated here; free with evk_tensor_free
 * on the model's context); *truncated (may be NULL) says whether it was cut to the context. */
evk_status evk_model_encode_prompt(evk_model *m, const char *prompt, evk_tensor *out, bool *truncated);
/* Free the prompt encoder's weights once every prompt is encoded (a one-shot generation, as
 * evk_generate: SD 1.5's text encoder is 0.23 GiB that the decode can use instead); a later
 * evk_model_encode_prompt fails with a message. */
void evk_model_release_prompt_encoder(evk_model *m);
/* The family's default sampler configuration for `steps` steps (see evk_model_ops). */
evk_status evk_model_sampler_config(const evk_model *m, uint32_t steps, struct evk_sampler_config *out);
/* Whether decoded samples are RGB images, and their size in pixels (both 0 when not). */
bool evk_model_image_size(const evk_model *m, uint32_t *width, uint32_t *height);
evk_context *evk_model_context(const evk_model *m);

#ifdef __cplusplus
}
#endif
#endif
