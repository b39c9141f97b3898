"""Write the network fixtures of tests/models/test_unet.c, test_clip.c and test_vae.c: small random-weight
models built from the PyTorch references in tools/ref/ (diffusers UNet2DConditionModel and
AutoencoderKL decoder, transformers CLIPTextModel / CLIPModel, the DDIM scheduler), each saved as
one safetensors file holding the weights under their real diffusers/transformers names plus the
inputs and expected outputs under names starting with "fixture.", and the model's config JSON
beside it.

    /usr/bin/python3 tools/ref/make_fixtures.py [tests/data/nets]

Models keep the structure of the real configs (block types, per-block head counts, projections,
activations, eos conventions) with much smaller widths, so that every case together stays under
4 MB. Everything is seeded: re-running writes identical files. Weights are random with
fan-in-scaled normals (activations stay O(1)); norm gains/biases and biases are randomised too so
that a swapped or ignored parameter shows. Each output is checked for NaN and for a sane spread
before it is written. Cases are listed in tests/data/nets/README.md.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402
from clip import CLIPModel, CLIPTextModel  # noqa: E402
from ddim import DDIM, sample_cfg  # noqa: E402
from unet import UNet2DConditionModel  # noqa: E402
from vae import AutoencoderKLDecoder  # noqa: E402

VOCAB = 1000  # ids 0..999; the tiny vocabularies have no text, only the special-id conventions
SEQ = 77

# ---- configs (real keys and structure, small widths) ---------------------------------------
UNET_SD15 = {
    "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.21.4",
    "act_fn": "silu", "attention_head_dim": 4, "block_out_channels": [16, 32],
    "center_input_sample": False, "cross_attention_dim": 32,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "downsample_padding": 1,
    "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 1,
    "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 8, "out_channels": 4,
    "sample_size": 8, "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
}
UNET_SD21 = {
    "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.21.4",
    "act_fn": "silu", "attention_head_dim": [2, 4, 4], "block_out_channels": [16, 16, 32],
    "center_input_sample": False, "cross_attention_dim": 48,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "dual_cross_attention": False, "flip_sin_to_cos": True, "freq_shift": 0,
    "in_channels": 4, "layers_per_block": 1, "mid_block_scale_factor": 1, "norm_eps": 1e-05,
    "norm_num_groups": 8, "num_class_embeds": None, "only_cross_attention": False, "out_channels": 4,
    "sample_size": 16, "transformer_layers_per_block": 1,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "upcast_attention": True, "use_linear_projection": True,
}
VAE = {
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.21.4", "act_fn": "silu",
    "block_out_channels": [24, 48], "down_block_types": ["DownEncoderBlock2D"] * 2,
    "in_channels": 3, "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 8,
    "out_channels": 3, "sample_size": 16, "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 2,
}
_TEXT = {"vocab_size": VOCAB, "hidden_size": 32, "intermediate_size": 64, "projection_dim": 24,
         "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": SEQ,
         "layer_norm_eps": 1e-05}
# SD 1.x text encoder: quick_gelu, the legacy eos_token_id 2 (pooled at the argmax of the ids).
CLIP_TEXT_SD15 = dict(_TEXT, architectures=["CLIPTextModel"], model_type="clip_text_model",
                      hidden_act="quick_gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1)
# SD 2.x-style (OpenCLIP ViT-H converted: gelu; fewer layers here): a new-style config whose
# eos_token_id (998) is NOT the highest id, so argmax and first-eos give different positions.
CLIP_TEXT_SD21 = dict(_TEXT, architectures=["CLIPTextModel"], model_type="clip_text_model",
                      hidden_act="gelu", bos_token_id=997, eos_token_id=998, pad_token_id=0)
CLIPMODEL = {
    "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 24,
    "logit_scale_init_value": 2.6592,
    "text_config": dict(_TEXT, hidden_act="quick_gelu", bos_token_id=998, eos_token_id=999, pad_token_id=1),
    "vision_config": {"hidden_size": 32, "intermediate_size": 64, "projection_dim": 24,
                      "num_hidden_layers": 2, "num_attention_heads": 4, "num_channels": 3,
                      "image_size": 32, "patch_size": 8, "hidden_act": "quick_gelu",
                      "layer_norm_eps": 1e-05},
}
SCHEDULER = {
    "_class_name": "DDIMScheduler", "_diffusers_version": "0.21.4", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
    "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False,
    "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": None,
}
PIPE_STEPS, PIPE_GUIDANCE = 4, 7.5


def randomize(model, gen):
    """Fan-in-scaled normal weights; randomised biases, norm affines and embeddings."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) / fan_in ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, (nn.GroupNorm, nn.LayerNorm)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, nn.Embedding):
                m.weight.copy_(0.5 * torch.randn(m.weight.shape, generator=gen))
        for name, p in model.named_parameters(recurse=True):
            if name.endswith("class_embedding"):
                p.copy_(torch.randn(p.shape, generator=gen))
    return model.eval()


def check(name, t, lo=0.05, hi=50.0):
    t = t.detach().float()
    if not torch.isfinite(t).all():
        raise SystemExit(f"{name}: non-finite values")
    s = t.std().item()
    if not (lo <= s <= hi):
        raise SystemExit(f"{name}: degenerate output (std {s:g})")
    return s


def save(outdir, case, model, fixture, config, metadata=None):
    tensors = {} if model is None else {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    for k, v in fixture.items():
        tensors["fixture." + k] = v.detach().contiguous() if torch.is_tensor(v) else v
    meta = {"case": case, "generator": "tools/ref/make_fixtures.py"}
    meta.update(metadata or {})
    st.save_file(tensors, os.path.join(outdir, case + ".safetensors"), meta)
    if config is not None:
        with open(os.path.join(outdir, case + ".json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")


def ids_batch(rows, pad):
    """Token rows (bos .. eos) padded to SEQ with `pad` -> int64 [B, SEQ]."""
    out = torch.full((len(rows), SEQ), pad, dtype=torch.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out


@torch.no_grad()
def case_unet(outdir, case, cfg, batch, hw, timesteps, gen):
    m = randomize(UNet2DConditionModel(cfg), gen)
    x = torch.randn((batch, cfg["in_channels"], hw, hw), generator=gen)
    t = torch.tensor(timesteps, dtype=torch.float32)
    ctx = torch.randn((batch, SEQ, cfg["cross_attention_dim"]), generator=gen)
    out = m(x, t, ctx)
    s = check(case, out)
    save(outdir, case, m, {"sample": x, "timestep": t, "encoder_hidden_states": ctx, "out": out}, cfg)
    return m, s


@torch.no_grad()
def text_model(cfg, gen):
    return randomize(CLIPTextModel({k: v for k, v in cfg.items() if k not in ("architectures",)}), gen)


@torch.no_grad()
def case_clip_text(outdir, case, cfg, ids, gen):
    m = text_model(cfg, gen)
    last, pooled = m(ids)
    s = check(case, last)
    check(case + " pooled", pooled)
    save(outdir, case, m, {"input_ids": ids.to(torch.int32), "last_hidden_state": last, "pooler_output": pooled},
         cfg, {"input_ids": "I32"})
    return m, s


@torch.no_grad()
def case_clipmodel(outdir, gen):
    m = randomize(CLIPModel(CLIPMODEL), gen)
    with torch.no_grad():  # a trained CLIP's value (ln 100), not the config's init value
        m.logit_scale.fill_(math.log(100.0))
    tc = CLIPMODEL["text_config"]
    ids = ids_batch([[998, 17, 402, 999], [998, 5, 6, 7, 8, 9, 999], [998, 999]], tc["pad_token_id"])
    px = torch.randn((2, 3, 32, 32), generator=gen)
    text_embeds = m.get_text_features(ids)
    image_embeds = m.get_image_features(px)
    logits_per_image, _, _ = m(ids, px)
    vis_last, vis_pooled = m.vision_model(px)
    txt_last, txt_pooled = m.text_model(ids)
    for n, t in (("text_embeds", text_embeds), ("image_embeds", image_embeds), ("logits", logits_per_image)):
        check("clipmodel " + n, t)
    save(outdir, "clipmodel", m,
         {"input_ids": ids.to(torch.int32), "pixel_values": px, "text_embeds": text_embeds,
          "image_embeds": image_embeds, "logits_per_image": logits_per_image,
          "logits_per_text": logits_per_image.t().contiguous(), "text_last_hidden_state": txt_last,
          "vision_last_hidden_state": vis_last, "vision_pooler_output": vis_pooled},
         CLIPMODEL, {"input_ids": "I32"})
    return check("clipmodel", logits_per_image)


@torch.no_grad()
def case_vae(outdir, gen):
    m = randomize(AutoencoderKLDecoder(VAE), gen)
    # latents at the scale a pipeline hands over (unit-variance z times scaling_factor)
    lat = torch.randn((2, 4, 8, 8), generator=gen) * VAE["scaling_factor"]
    img = m.decode(lat)
    s = check("vae", img)
    save(outdir, "vae", m, {"latents": lat, "image": img}, VAE)
    return m, s


@torch.no_grad()
def case_pipeline(outdir, unet, text, vae, gen):
    """SD pipeline: CFG batch [uncond..., cond...], DDIM eta 0, decode through the vae case."""
    ddim = DDIM(SCHEDULER)
    eos = 999
    cond_ids = ids_batch([[998, 311, 47, 902, eos], [998, 12, 650, 33, 71, 888, eos]], eos)
    uncond_ids = ids_batch([[998, eos], [998, eos]], eos)  # "" as SD 1.x's tokenizer pads it
    cond, _ = text(cond_ids)
    uncond, _ = text(uncond_ids)
    B = cond.shape[0]
    x = torch.randn((B, 4, 8, 8), generator=gen)  # DDIM's init_noise_sigma is 1
    noise = x.clone()
    ctx = torch.cat([uncond, cond], 0)
    ts = ddim.timesteps(PIPE_STEPS)
    fx = {"input_ids": cond_ids.to(torch.int32), "uncond_input_ids": uncond_ids.to(torch.int32),
          "encoder_hidden_states": ctx, "noise": noise, "timesteps": torch.tensor(ts, dtype=torch.int32)}
    for i, t in enumerate(ts):
        o = unet(torch.cat([x, x], 0), torch.full((2 * B,), float(t)), ctx)
        ou, oc = o.chunk(2)
        eps = ou + PIPE_GUIDANCE * (oc - ou)
        x, _ = ddim.step(eps, t, x, PIPE_STEPS)
        fx[f"noise_pred.{i}"] = eps
        fx[f"latents.{i}"] = x
    same = sample_cfg(unet, ddim, cond, uncond, steps=PIPE_STEPS, guidance=PIPE_GUIDANCE, x=noise.clone())
    assert torch.allclose(same, x, rtol=0, atol=0), "loop differs from tools/ref/ddim.sample_cfg"
    img = vae.decode(x)
    fx["final_latents"] = x
    fx["image"] = img
    check("pipeline latents", x)
    s = check("pipeline image", img)
    save(outdir, "sd_pipeline_ddim", None, fx, SCHEDULER,
         {"unet": "unet_sd15", "text_encoder": "clip_text_sd15", "vae": "vae", "steps": str(PIPE_STEPS),
          "guidance_scale": str(PIPE_GUIDANCE), "eta": "0", "input_ids": "I32", "timesteps": "I32",
          "cfg_order": "uncond,cond"})
    return s


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "tests", "data", "nets")
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20240611)
    stats = {}
    unet15, stats["unet_sd15"] = case_unet(outdir, "unet_sd15", UNET_SD15, 2, 8, [999.0, 301.0], gen)
    _, stats["unet_sd21"] = case_unet(outdir, "unet_sd21", UNET_SD21, 3, 16, [999.0, 500.0, 1.0], gen)
    # SD 1.x: prompts end in eos (999, the highest id) and pad with eos, as its tokenizer does
    ids15 = ids_batch([[998, 320, 1, 7, 999], [998, 55, 999]], 999)
    text15, stats["clip_text_sd15"] = case_clip_text(outdir, "clip_text_sd15", CLIP_TEXT_SD15, ids15, gen)
    # SD 2.x: pad with 0 ("!"); id 999 sits before the eos (998) so argmax would pick it
    ids21 = ids_batch([[997, 999, 14, 998], [997, 3, 4, 5, 998]], 0)
    _, stats["clip_text_sd21"] = case_clip_text(outdir, "clip_text_sd21", CLIP_TEXT_SD21, ids21, gen)
    stats["clipmodel"] = case_clipmodel(outdir, gen)
    vae, stats["vae"] = case_vae(outdir, gen)
    stats["sd_pipeline_ddim"] = case_pipeline(outdir, unet15, text15, vae, gen)
    total = sum(os.path.getsize(os.path.join(outdir, f)) for f in os.listdir(outdir))
    for k, v in stats.items():
        print(f"{k:18s} output std {v:.3f}")
    print(f"total {total / 1e6:.2f} MB in {outdir}")


if __name__ == "__main__":
    main()
