#!/usr/bin/env python3
"""Fixtures for the ModelScope text-to-video family (tests/data/nets/modelscope/), made by the
real diffusers code on tiny random weights.

Reference: diffusers v0.28.2 (commit de9528ebc7725012cf097e43f565aeff24940eda, the first release
whose UNet3DConditionModel takes time_cond_proj_dim, as T2V-Turbo's ModelScope student needs):
UNet3DConditionModel, AutoencoderKL, DDIMScheduler and TextToVideoSDPipeline's own denoising
loop and decode. The text encoder is transformers' CLIPTextModel as tools/ref/clip.py computes
it (last_hidden_state, what TextToVideoSDPipeline.encode_prompt hands the UNet) with the
tokenizer of tools/ref/clip_tokenizer.py over the tiny vocabulary in tests/data/tokenizer/;
the pipeline receives those encodings as prompt_embeds / negative_prompt_embeds.

Run (diffusers is not in the repository and has dependencies this machine lacks):

    git --git-dir=<diffusers mirror> archive v0.28.2 src | tar -x -C /tmp/d28
    EVK_DIFFUSERS=/tmp/d28/src /usr/bin/python3 tools/ref/fixtures_modelscope.py

EVK_DIFFUSERS is diffusers' src folder. huggingface_hub, safetensors, filelock, tqdm and
transformers are replaced by empty stand-in modules (nothing here downloads, locks, shows
progress, or runs transformers code); everything torch computes is diffusers' own code.

Writes (seeded, deterministic on one machine):
  tests/data/nets/modelscope/         a diffusers TextToVideoSDPipeline folder: model_index.json,
                                      unet/ text_encoder/ tokenizer/ vae/ scheduler/ (the VAE
                                      without its encoder, which text-to-video never runs)
  .../modelscope/unet_lcm/            a UNet3DConditionModel with time_cond_proj_dim 256 (the
                                      T2V-Turbo "MS" student's w-embedding projection)
  .../modelscope/fixture.safetensors  inputs and expected outputs (below)
  .../modelscope/latents.npy          the pipeline's initial latents [1, 4, F, h, w]
  .../modelscope/video.npy            the pipeline's video, f32 [F, H, W, 3] in [0, 1]

fixture.safetensors:
  input_ids, uncond_input_ids [1,77] I32        tokens of PROMPT and of ""
  text / uncond_text [1,77,32]                 text encoder last_hidden_state
  unet.sample [2,4,F,h,w], unet.timestep [2] (999, 301), unet.context [2,77,32],
  unet.out [2,4,F,h,w]                          one UNet3DConditionModel call
  lcm.timestep_cond [2,256] (T2V-Turbo's w-embedding of w = 7.5 and 3), lcm.out   the same call
                                               through unet_lcm with timestep_cond
  timesteps [S] I32, noise_pred.i (guided), latents.i (after step i), per DDIM step (η = 0)
  video_raw [1,3,F,H,W]                         decode_latents' output before postprocessing
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from clip import CLIPTextModel  # noqa: E402
from clip_tokenizer import CLIPTokenizer  # noqa: E402
from safetensors_io import save_file  # noqa: E402

OUT = os.path.join(ROOT, "tests", "data", "nets", "modelscope")
PROMPT = "a red circle on the left"
FRAMES, LAT = 4, 8           # 4 frames of 8x8 latents -> 16x16 pixels
STEPS, GUIDANCE = 3, 7.5
SEQ = 77

UNET = {
    "_class_name": "UNet3DConditionModel", "_diffusers_version": "0.28.2",
    "act_fn": "silu", "attention_head_dim": 4, "block_out_channels": [8, 16],
    "cross_attention_dim": 32, "down_block_types": ["CrossAttnDownBlock3D", "DownBlock3D"],
    "downsample_padding": 1, "in_channels": 4, "layers_per_block": 1, "mid_block_scale_factor": 1,
    "norm_eps": 1e-05, "norm_num_groups": 4, "out_channels": 4, "sample_size": LAT,
    "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D"],
}
VAE = {
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.28.2", "act_fn": "silu",
    "block_out_channels": [8, 16], "down_block_types": ["DownEncoderBlock2D"] * 2,
    "in_channels": 3, "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 4,
    "out_channels": 3, "sample_size": 2 * LAT, "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 2,
}
TEXT = {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": 979,
        "hidden_size": 32, "intermediate_size": 64, "projection_dim": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "max_position_embeddings": SEQ, "layer_norm_eps": 1e-05,
        "hidden_act": "quick_gelu", "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
# ali-vilab/text-to-video-ms-1.7b's scheduler
SCHEDULER = {
    "_class_name": "DDIMScheduler", "_diffusers_version": "0.28.2", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
    "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
}
INDEX = {
    "_class_name": "TextToVideoSDPipeline", "_diffusers_version": "0.28.2",
    "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet3DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def install_stand_ins():
    """Empty modules for the dependencies diffusers imports but this run never calls."""
    import importlib.abc
    import importlib.machinery
    import importlib.metadata as md
    import types
    shimmed = ("huggingface_hub", "safetensors", "filelock", "tqdm", "transformers")

    class Anything:
        def __init__(self, *a, **k): pass
        def __call__(self, *a, **k): return Anything()
        def __getattr__(self, n): return Anything()
        def __iter__(self): return iter(())
        def __bool__(self): return False

    class Module(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            if name.isupper():
                return "/nonexistent"
            if name[:1].isupper():
                cls = type(name, (Exception,), {"__init__": lambda self, *a, **k: None})
                setattr(self, name, cls)
                return cls
            return Anything()

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname, path, target=None):
            if fullname.split(".")[0] in shimmed:
                return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            return None

        def create_module(self, spec):
            m = Module(spec.name)
            m.__path__, m.__version__ = [], "99.0.0"
            return m

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, Finder())
    version = md.version
    md.version = lambda name: "99.0.0" if name.replace("-", "_") in shimmed else version(name)


def randomize(model, gen):
    """Fan-in-scaled normal weights (the zero-initialised temporal convs too, so every tensor
    matters); randomised biases, norm affines and embeddings."""
    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv3d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) / m.weight[0].numel() ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, (nn.GroupNorm, nn.LayerNorm)) and m.weight is not None:
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, nn.Embedding):
                m.weight.copy_(0.5 * torch.randn(m.weight.shape, generator=gen))


def w_embedding(w, dim=256):
    """T2V-Turbo's get_w_embedding (pipeline/t2v_turbo_ms_pipeline.py): [sin, cos] of w·1000."""
    w = w * 1000.0
    half = dim // 2
    e = torch.exp(torch.arange(half, dtype=torch.float32) * -(torch.log(torch.tensor(10000.0)) / (half - 1)))
    e = w[:, None] * e[None, :]
    return torch.cat([torch.sin(e), torch.cos(e)], dim=1)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def save_component(folder, name, config, model, weights="diffusion_pytorch_model.safetensors"):
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    write_json(os.path.join(folder, name, "config.json" if name != "scheduler" else "scheduler_config.json"), config)
    if model is not None:
        # the VAE's encoder is left out: text-to-video only decodes (and the fixture stays small)
        sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()
              if not (name == "vae" and (k.startswith("encoder.") or k.startswith("quant_conv.")))}
        save_file(sd, os.path.join(folder, name, weights))


def use_diffusers(need_t2v_turbo=False):
    """Make diffusers (EVK_DIFFUSERS, its src folder) importable with the stand-ins; with
    need_t2v_turbo also require EVK_T2V_TURBO (the t2v-turbo checkout) and return it."""
    src, t2v = os.environ.get("EVK_DIFFUSERS"), os.environ.get("EVK_T2V_TURBO")
    if not src or not os.path.isdir(os.path.join(src, "diffusers")):
        sys.exit("set EVK_DIFFUSERS to diffusers' src folder (v0.28.2; see the header)")
    if need_t2v_turbo and not t2v:
        sys.exit("set EVK_T2V_TURBO (the t2v-turbo checkout); see the header")
    install_stand_ins()
    # diffusers' AttnProcessor computes scores as baddbmm(torch.empty(...), q, kᵀ, beta=0); this
    # machine's torch 1.13 build lets NaNs of that uninitialised input through, against the
    # documented beta = 0 semantics ("input is ignored"), which is restored here.
    baddbmm = torch.baddbmm
    torch.baddbmm = lambda inp, b1, b2, *, beta=1, alpha=1, out=None: (
        alpha * torch.bmm(b1, b2) if beta == 0 and out is None else baddbmm(inp, b1, b2, beta=beta, alpha=alpha, out=out))
    sys.path.insert(0, src)
    return t2v


def main():
    use_diffusers()
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_3d_condition import UNet3DConditionModel
    from diffusers.pipelines.text_to_video_synthesis.pipeline_text_to_video_synth import TextToVideoSDPipeline
    from diffusers.schedulers.scheduling_ddim import DDIMScheduler

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20261207)
    cfg = {k: v for k, v in UNET.items() if not k.startswith("_")}
    unet = UNet3DConditionModel(**cfg).eval()
    randomize(unet, gen)
    unet_lcm = UNet3DConditionModel(**cfg, time_cond_proj_dim=256).eval()
    randomize(unet_lcm, gen)
    vae = AutoencoderKL(**{k: v for k, v in VAE.items() if not k.startswith("_")}).eval()
    randomize(vae, gen)
    text = CLIPTextModel(TEXT).eval()
    randomize(text, gen)
    sched = DDIMScheduler(**{k: v for k, v in SCHEDULER.items() if not k.startswith("_") and k != "skip_prk_steps"})

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    tok_src = os.path.join(ROOT, "tests", "data", "tokenizer")
    os.makedirs(os.path.join(OUT, "tokenizer"))
    for f in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(tok_src, f), os.path.join(OUT, "tokenizer", f))
    tok = CLIPTokenizer(os.path.join(OUT, "tokenizer"))
    write_json(os.path.join(OUT, "model_index.json"), INDEX)
    save_component(OUT, "unet", UNET, unet)
    save_component(OUT, "unet_lcm", dict(UNET, time_cond_proj_dim=256), unet_lcm)
    save_component(OUT, "vae", VAE, vae)
    save_component(OUT, "text_encoder", TEXT, text, "model.safetensors")
    save_component(OUT, "scheduler", SCHEDULER, None)

    fx = {}
    with torch.no_grad():
        ids = torch.tensor([tok(PROMPT)], dtype=torch.int64)
        uids = torch.tensor([tok("")], dtype=torch.int64)
        cond, _ = text(ids)
        uncond, _ = text(uids)
        fx["input_ids"], fx["uncond_input_ids"] = ids.int(), uids.int()
        fx["text"], fx["uncond_text"] = cond, uncond

        # one UNet call: two clips, two timesteps, two contexts
        sample = torch.randn(2, 4, FRAMES, LAT, LAT, generator=gen)
        t = torch.tensor([999, 301])
        ctx = torch.cat([cond, torch.randn(1, SEQ, 32, generator=gen)])
        fx["unet.sample"], fx["unet.timestep"], fx["unet.context"] = sample, t.float(), ctx
        fx["unet.out"] = unet(sample, t, encoder_hidden_states=ctx).sample
        wc = w_embedding(torch.tensor([7.5, 3.0]))
        fx["lcm.timestep_cond"] = wc
        fx["lcm.out"] = unet_lcm(sample, t, timestep_cond=wc, encoder_hidden_states=ctx).sample

        # the pipeline: DDIM (η = 0) with classifier-free guidance, then the frame-wise decode
        pipe = TextToVideoSDPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=sched)
        latents = torch.randn(1, 4, FRAMES, LAT, LAT, generator=gen)
        steps = []
        orig_step = sched.step

        def step(model_output, timestep, sample, **kw):
            out = orig_step(model_output, timestep, sample, **kw)
            steps.append((int(timestep), model_output.clone(), out.prev_sample.clone()))
            return out
        sched.step = step
        class Bar:
            def __enter__(self): return self
            def __exit__(self, *a): return False
            def update(self, *a): pass
        pipe.progress_bar = lambda **k: Bar()
        raw = []
        orig_decode = pipe.decode_latents
        pipe.decode_latents = lambda l: raw.append(orig_decode(l)) or raw[-1]
        video = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, num_frames=FRAMES, height=2 * LAT,
                     width=2 * LAT, num_inference_steps=STEPS, guidance_scale=GUIDANCE, eta=0.0,
                     latents=latents.clone(), output_type="np", return_dict=False)[0]
    fx["timesteps"] = torch.tensor([s[0] for s in steps], dtype=torch.int32)
    for i, (_, eps, lat) in enumerate(steps):
        # the scheduler saw frames folded into the batch: back to [B, C, F, h, w]
        fx[f"noise_pred.{i}"] = eps.reshape(1, FRAMES, 4, LAT, LAT).permute(0, 2, 1, 3, 4)
        fx[f"latents.{i}"] = lat.reshape(1, FRAMES, 4, LAT, LAT).permute(0, 2, 1, 3, 4)
    fx["latents"] = latents
    fx["video_raw"] = raw[0]
    save_file({k: v.contiguous() for k, v in fx.items()}, os.path.join(OUT, "fixture.safetensors"))
    np.save(os.path.join(OUT, "latents.npy"), latents.numpy().astype(np.float32))
    video = np.asarray(video, dtype=np.float32)[0]  # [F, H, W, 3]
    np.save(os.path.join(OUT, "video.npy"), video)
    print("timesteps", fx["timesteps"].tolist(), "video", video.shape, float(video.min()), float(video.max()))
    for k in ("unet.out", "lcm.out", "latents.%d" % (STEPS - 1)):
        print(k, tuple(fx[k].shape), float(fx[k].abs().mean()))


if __name__ == "__main__":
    main()
