/* config.h — the JSON configs that come with diffusers and transformers models, parsed into C
 * structs with the same defaults the Python libraries apply when a key is absent.
 *
 * Covered: model_index.json (pipeline components), unet/config.json (UNet2DConditionModel and
 * UNet3DConditionModel),
 * vae/config.json (AutoencoderKL), text_encoder/config.json (CLIPTextConfig), a transformers
 * CLIPModel config.json (text + vision towers) and its preprocessor_config.json
 * (CLIPImageProcessor), scheduler/scheduler_config.json (the diffusers scheduler classes, each
 * with its own defaults), and tokenizer_config.json + special_tokens_map.json. Keys the runtime
 * does not use are ignored, as the libraries ignore them; a used key with the wrong JSON type, or
 * an enumerated key with a value the runtime cannot honour (an attention processor, an embedding
 * type, an activation it has no kernel for), is EVK_ERROR_FORMAT with a message naming the file,
 * the key and the value — never a model that silently computes something else.
 *
 * Each parser has a _parse form taking the JSON text (`label` names it in messages) and a _load
 * form taking a path. Lists are per block in diffusers' order (down blocks); the up path uses
 * them reversed, as diffusers does. */
#ifndef EVK_CONFIG_H
#define EVK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "formats/diffusion.h"
#include "ops/activation.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVK_CONFIG_MAX_BLOCKS 8
#define EVK_CONFIG_MAX_NAME 96


/* ---- model_index.json ------------------------------------------------------------------- */
#define EVK_MODEL_INDEX_MAX 16
typedef struct evk_model_index {
    char class_name[EVK_CONFIG_MAX_NAME];        /* "StableDiffusionPipeline" */
    char diffusers_version[32];
    int count;
    struct {
        char name[EVK_CONFIG_MAX_NAME];          /* "unet" */
        char library[EVK_CONFIG_MAX_NAME];       /* "diffusers", "transformers"; "" for null */
        char class_name[EVK_CONFIG_MAX_NAME];    /* "UNet2DConditionModel"; "" for null */
    } components[EVK_MODEL_INDEX_MAX];
} evk_model_index;
evk_status evk_model_index_parse(const char *json, const char *label, evk_model_index *out);
evk_status evk_model_index_load(const char *path, evk_model_index *out);
/* The component entry, or NULL (also when its class is null). */
const char *evk_model_index_class(const evk_model_index *mi, const char *component);

/* ---- unet/config.json: UNet2DConditionModel ------------------------------------------------ */
typedef enum evk_unet_block {
    EVK_UNET_DOWN_BLOCK = 0,        /* DownBlock2D */
    EVK_UNET_CROSS_ATTN_DOWN_BLOCK, /* CrossAttnDownBlock2D */
    EVK_UNET_UP_BLOCK,              /* UpBlock2D */
    EVK_UNET_CROSS_ATTN_UP_BLOCK,   /* CrossAttnUpBlock2D */
    EVK_UNET_MID_CROSS_ATTN,        /* UNetMidBlock2DCrossAttn */
    EVK_UNET_MID_PLAIN,             /* UNetMidBlock2D */
    EVK_UNET_MID_NONE,              /* null */
} evk_unet_block;
const char *evk_unet_block_name(evk_unet_block b);

typedef struct evk_unet_config {
    int in_channels, out_channels;   /* 4, 4 */
    int sample_size;                 /* 0 when null (the default) */
    bool center_input_sample;        /* false */
    bool flip_sin_to_cos;            /* true */
    float freq_shift;                /* 0 */
    int num_blocks;                  /* len(down_block_types) */
    evk_unet_block down_block_types[EVK_CONFIG_MAX_BLOCKS];
    evk_unet_block up_block_types[EVK_CONFIG_MAX_BLOCKS];   /* in up order (deepest first) */
    evk_unet_block mid_block_type;   /* UNetMidBlock2DCrossAttn */
    int block_out_channels[EVK_CONFIG_MAX_BLOCKS];          /* 320, 640, 1280, 1280 */
    int layers_per_block[EVK_CONFIG_MAX_BLOCKS];            /* 2 (up blocks have one more) */
    int transformer_layers_per_block[EVK_CONFIG_MAX_BLOCKS]; /* 1 */
    /* diffusers' naming quirk: `attention_head_dim` in SD configs is the number of heads.
     * num_attention_heads = the config's num_attention_heads, else attention_head_dim. */
    int attention_head_dim[EVK_CONFIG_MAX_BLOCKS];          /* as written (8) */
    int num_attention_heads[EVK_CONFIG_MAX_BLOCKS];         /* heads per block */
    int cross_attention_dim[EVK_CONFIG_MAX_BLOCKS];         /* 1280 */
    bool only_cross_attention[EVK_CONFIG_MAX_BLOCKS];       /* false */
    int mid_block_only_cross_attention; /* 0/1; null means: only_cross_attention if that was a bool, else 0 */
    bool dual_cross_attention;       /* false (true rejected) */
    bool use_linear_projection;      /* false */
    bool upcast_attention;           /* false */
    int norm_num_groups;             /* 32; 0 for null */
    float norm_eps;                  /* 1e-5 */
    int downsample_padding;          /* 1 */
    float mid_block_scale_factor;    /* 1 */
    evk_activation act_fn;                  /* silu */
    bool resnet_scale_shift;         /* resnet_time_scale_shift: "default" false, "scale_shift" true */
    bool resnet_skip_time_act;       /* false */
    float resnet_out_scale_factor;   /* 1 */
    int time_embedding_dim;          /* block_out_channels[0] * 4 when null */
    evk_activation time_embedding_act_fn;   /* none */
    evk_activation timestep_post_act;       /* none */
    int time_cond_proj_dim;          /* 0 when null (LCM-distilled UNets set it) */
    int conv_in_kernel, conv_out_kernel; /* 3, 3 */
} evk_unet_config;
evk_status evk_unet_config_parse(const char *json, const char *label, evk_unet_config *out);
evk_status evk_unet_config_load(const char *path, evk_unet_config *out);
void evk_unet_config_default(evk_unet_config *out);

/* ---- unet/config.json: UNet3DConditionModel (ModelScope text-to-video) ------------------- */
/* diffusers builds every 3-D block from a few keys (no projection, attention or time-embedding
 * variants): the mid block is always UNetMidBlock3DCrossAttn, layers_per_block and
 * cross_attention_dim are single ints, and attention_head_dim is the width of each head (heads =
 * channels / attention_head_dim), also for `transformer_in`, which has 8 such heads. */
typedef struct evk_unet3d_config {
    int in_channels, out_channels;   /* 4, 4 */
    int sample_size;                 /* 0 when null (the default) */
    int num_blocks;
    /* CrossAttnDownBlock3D / DownBlock3D as EVK_UNET_CROSS_ATTN_DOWN_BLOCK / EVK_UNET_DOWN_BLOCK;
     * CrossAttnUpBlock3D / UpBlock3D likewise */
    evk_unet_block down_block_types[EVK_CONFIG_MAX_BLOCKS];
    evk_unet_block up_block_types[EVK_CONFIG_MAX_BLOCKS];
    int block_out_channels[EVK_CONFIG_MAX_BLOCKS]; /* 320, 640, 1280, 1280 */
    int layers_per_block;            /* 2 (up blocks have one more) */
    int attention_head_dim;          /* 64: channels per head */
    int cross_attention_dim;         /* 1024 */
    int norm_num_groups;             /* 32 (null is refused) */
    float norm_eps;                  /* 1e-5 */
    int downsample_padding;          /* 1 */
    float mid_block_scale_factor;    /* 1 */
    int time_cond_proj_dim;          /* 0 when null; T2V-Turbo's ModelScope student: 256 */
} evk_unet3d_config;
evk_status evk_unet3d_config_parse(const char *json, const char *label, evk_unet3d_config *out);
evk_status evk_unet3d_config_load(const char *path, evk_unet3d_config *out);

/* ---- vae/config.json: AutoencoderKL ------------------------------------------------------ */
typedef struct evk_vae_config {
    int in_channels, out_channels;   /* 3, 3 */
    int num_blocks;                  /* len(block_out_channels); every block is Down/UpDecoderBlock2D */
    int block_out_channels[EVK_CONFIG_MAX_BLOCKS]; /* (64,) */
    int layers_per_block;            /* 1 */
    evk_activation act_fn;                  /* silu */
    int latent_channels;             /* 4 */
    int norm_num_groups;             /* 32 */
    int sample_size;                 /* 32 */
    float scaling_factor;            /* 0.18215 */
    bool has_shift_factor;
    float shift_factor;              /* null -> 0 */
    bool force_upcast;               /* true */
    bool use_quant_conv, use_post_quant_conv; /* true, true */
    bool mid_block_add_attention;    /* true */
} evk_vae_config;
evk_status evk_vae_config_parse(const char *json, const char *label, evk_vae_config *out);
evk_status evk_vae_config_load(const char *path, evk_vae_config *out);
void evk_vae_config_default(evk_vae_config *out);

/* ---- CLIP (transformers) --------------------------------------------------------------- */
typedef struct evk_clip_text_config {
    int vocab_size;                  /* 49408 */
    int hidden_size;                 /* 512 */
    int intermediate_size;           /* 2048 */
    int projection_dim;              /* 512 */
    int num_hidden_layers;           /* 12 */
    int num_attention_heads;         /* 8 */
    int max_position_embeddings;     /* 77 */
    evk_activation hidden_act;              /* quick_gelu */
    float layer_norm_eps;            /* 1e-5 */
    int pad_token_id, bos_token_id, eos_token_id; /* 1, 49406, 49407 */
    /* transformers: eos_token_id == 2 marks legacy configs whose pooled output is taken at the
     * argmax of the ids (the highest id is <|endoftext|>) instead of the first eos. */
    bool legacy_eos;
} evk_clip_text_config;

typedef struct evk_clip_vision_config {
    int hidden_size;                 /* 768 */
    int intermediate_size;           /* 3072 */
    int projection_dim;              /* 512 */
    int num_hidden_layers;           /* 12 */
    int num_attention_heads;         /* 12 */
    int num_channels;                /* 3 */
    int image_size;                  /* 224 */
    int patch_size;                  /* 32 */
    evk_activation hidden_act;              /* quick_gelu */
    float layer_norm_eps;            /* 1e-5 */
} evk_clip_vision_config;

typedef struct evk_clip_config {
    evk_clip_text_config text;
    evk_clip_vision_config vision;
    int projection_dim;              /* 512 */
    float logit_scale_init_value;    /* 2.6592 */
} evk_clip_config;

/* A CLIPTextConfig file (diffusers text_encoder/config.json) — also accepts a full CLIPConfig and
 * takes its text_config. */
evk_status evk_clip_text_config_parse(const char *json, const char *label, evk_clip_text_config *out);
evk_status evk_clip_text_config_load(const char *path, evk_clip_text_config *out);
void evk_clip_text_config_default(evk_clip_text_config *out);
/* A CLIPModel config.json (text_config / vision_config, or the older *_config_dict keys). */
evk_status evk_clip_config_parse(const char *json, const char *label, evk_clip_config *out);
evk_status evk_clip_config_load(const char *path, evk_clip_config *out);
void evk_clip_vision_config_default(evk_clip_vision_config *out);

/* preprocessor_config.json: CLIPImageProcessor (or the older CLIPFeatureExtractor) */
typedef enum evk_resample {
    EVK_RESAMPLE_NEAREST = 0, EVK_RESAMPLE_LANCZOS = 1, EVK_RESAMPLE_BILINEAR = 2,
    EVK_RESAMPLE_BICUBIC = 3, EVK_RESAMPLE_BOX = 4, EVK_RESAMPLE_HAMMING = 5,
} evk_resample;
typedef struct evk_clip_preprocess_config {
    bool do_resize;                  /* true */
    int shortest_edge;               /* size {"shortest_edge": 224} (an int size means this); 0 if none */
    int resize_height, resize_width; /* size {"height", "width"}; 0 if none */
    evk_resample resample;           /* bicubic (3) */
    bool do_center_crop;             /* true */
    int crop_height, crop_width;     /* 224, 224 (an int crop_size means both) */
    bool do_rescale;                 /* true */
    float rescale_factor;            /* 1/255 */
    bool do_normalize;               /* true */
    float image_mean[3], image_std[3]; /* OpenAI CLIP's */
    bool do_convert_rgb;             /* true */
} evk_clip_preprocess_config;
evk_status evk_clip_preprocess_config_parse(const char *json, const char *label, evk_clip_preprocess_config *out);
evk_status evk_clip_preprocess_config_load(const char *path, evk_clip_preprocess_config *out);
void evk_clip_preprocess_config_default(evk_clip_preprocess_config *out);

/* ---- transformer/config.json: SD3Transformer2DModel (MMDiT / MMDiT-X) ----------------------- */
#define EVK_MMDIT_MAX_LAYERS 64
typedef struct evk_mmdit_config {
    int sample_size;                 /* 128 (latent pixels) */
    int patch_size;                  /* 2 */
    int in_channels, out_channels;   /* 16, 16 (null out_channels: in_channels) */
    int num_layers;                  /* 18 */
    int attention_head_dim;          /* 64 */
    int num_attention_heads;         /* 18 */
    int joint_attention_dim;         /* 4096 */
    int caption_projection_dim;      /* 1152 */
    int pooled_projection_dim;       /* 2048 */
    int pos_embed_max_size;          /* 96 */
    bool qk_norm_rms;                /* qk_norm: null or "rms_norm" */
    bool dual_attention[EVK_MMDIT_MAX_LAYERS]; /* dual_attention_layers as flags per layer */
} evk_mmdit_config;
evk_status evk_mmdit_config_parse(const char *json, const char *label, evk_mmdit_config *out);
evk_status evk_mmdit_config_load(const char *path, evk_mmdit_config *out);

/* ---- scheduler/scheduler_config.json ---------------------------------------------------- */

typedef struct evk_scheduler_config {
    char class_name[EVK_CONFIG_MAX_NAME]; /* "DDIMScheduler", ... (defaults depend on it) */
    int num_train_timesteps;         /* 1000 */
    double beta_start, beta_end;     /* 0.0001, 0.02 for most classes */
    evk_beta_schedule beta_schedule;     /* linear for most classes */
    evk_model_output prediction_type;    /* epsilon (eps) */
    evk_spacing timestep_spacing;    /* class default (leading or linspace) */
    int steps_offset;                /* 0 */
    bool set_alpha_to_one;           /* DDIM/LCM true, PNDM false */
    bool clip_sample;                /* DDIM/DDPM true, LCM false, classes without it false */
    double clip_sample_range;        /* 1 */
    bool thresholding;               /* false */
    bool rescale_betas_zero_snr;     /* false */
    int original_inference_steps;    /* LCM: 50 */
    double timestep_scaling;         /* LCM: 10 */
    bool flow;                       /* FlowMatchEulerDiscreteScheduler (the fields above do not apply) */
    double shift;                    /* flow: 1 */
} evk_scheduler_config;
evk_status evk_scheduler_config_parse(const char *json, const char *label, evk_scheduler_config *out);
evk_status evk_scheduler_config_load(const char *path, evk_scheduler_config *out);

/* ---- tokenizer_config.json + special_tokens_map.json -------------------------------------- */
#define EVK_TOKEN_MAX 64
#define EVK_ADDED_TOKENS_MAX 16
typedef struct evk_special_token {
    char content[EVK_TOKEN_MAX];     /* "" when unset */
    bool lstrip, rstrip;             /* strip whitespace left/right of it when splitting */
} evk_special_token;
typedef struct evk_tokenizer_config {
    int model_max_length;            /* 77 */
    bool do_lower_case;              /* true */
    evk_special_token bos, eos, pad, unk; /* <|startoftext|>, <|endoftext|> x3 (CLIPTokenizer's) */
    int added_count;                 /* added_tokens_decoder entries */
    struct { int id; evk_special_token token; } added[EVK_ADDED_TOKENS_MAX];
} evk_tokenizer_config;
void evk_tokenizer_config_default(evk_tokenizer_config *out);
/* Parse tokenizer_config.json text then overlay special_tokens_map.json text (either may be
 * NULL), in the order transformers applies them. */
evk_status evk_tokenizer_config_parse(const char *tokenizer_config, const char *special_tokens_map, const char *label,
                                      evk_tokenizer_config *out);
/* From a tokenizer folder; absent files leave the defaults. */
evk_status evk_tokenizer_config_load(const char *folder, evk_tokenizer_config *out);

/* The config.json beside an OpenCLIP-layout checkpoint (models/clip/openclip.h): what tensor
 * shapes cannot tell. {"vision_heads": H, "text_heads": H, "quick_gelu": bool}, every key optional
 * (fields not named keep the caller's values), any other key refused. */
typedef struct evk_openclip_config {
    int vision_heads, text_heads;
    bool quick_gelu;
} evk_openclip_config;
evk_status evk_openclip_config_parse(const char *json, const char *label, evk_openclip_config *out);

#ifdef __cplusplus
}
#endif
#endif
