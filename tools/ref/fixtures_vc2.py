#!/usr/bin/env python3
"""fixtures_vc2.py — the VideoCrafter2 / T2V-Turbo (VC2) fixtures of tests/models/test_vc2.c and
tests/cli/cli_vc2.sh, computed by T2V-Turbo's own lvdm code on a tiny random-weight model.

The reference is the upstream code itself, run from a scratch folder outside this repository:

  T2V-Turbo   github.com/Ji4chenLi/t2v-turbo  eaae323f10d136796a33e8f5304ed50e40def570
              (lvdm.models.ddpm3d.LatentDiffusion, lvdm.modules.networks.openaimodel3d.UNetModel,
              lvdm.modules.encoders.condition.FrozenOpenCLIPEmbedder, lvdm.models.samplers.ddim.DDIMSampler,
              scheduler.t2v_turbo_scheduler.T2VTurboScheduler, T2VTurboVC2Pipeline.get_w_embedding)
  open_clip   github.com/mlfoundations/open_clip v2.22.0 (1f0b5bb6db6b60896e122c7fa20e1c12ce03af1d,
              the version VideoCrafter2 pins)
  einops      github.com/arogozhnikov/einops ccb89f27599f26d7140a1bd2703305309fe3a3bd

Packages the code imports but the reference does not run (torchvision, kornia, transformers, cv2,
pytorch_lightning, tqdm, ftfy, diffusers' config/logging helpers) are replaced by small stand-ins in
SHIM (LightningModule = nn.Module; diffusers' register_to_config stores the arguments as .config;
randn_tensor = torch.randn with the generator). Usage:

  PYTHONPATH=SHIM:EINOPS:OPEN_CLIP/src:T2V_TURBO /usr/bin/python3 tools/ref/fixtures_vc2.py [tests/data/nets/vc2]

The model: VideoCrafter2's inference_t2v_512_v2.0.yaml with tiny widths (model_channels 32,
channel_mult [1, 1], one res block per level, attention at the first level only, head dim 8,
context 8, 4 frames of 8×8 latents; use_scale false so that lvdm's DDIM is plain DDIM), a tiny
OpenCLIP text tower given as the open_clip model config VC2Tiny.json beside the yaml (width 8,
2 heads, 2 layers, full 49,408-token vocabulary), and a tiny VAE (ch 32, ch_mult [1, 1]: ×2
upscale). Written (seeded, identical on re-runs):

  vc2_tiny.yaml, VC2Tiny.json   the config as VideoCrafter2 ships it (+ the arch json)
  vc2_tiny.ckpt                 torch.save({"state_dict": LatentDiffusion.state_dict()}), the
                                weights stored f16 (their values are f16-exact) to stay small
  vc2_tiny_turbo_unet.pt        T2V-Turbo's UNet state dict (no prefix) with time_cond_proj [32, 256]
  vc2_tiny_motion.safetensors   T2V-Turbo-v2's motion_cond_proj [32, 256] and combine_proj [32, 64]
                                (a v2 UNet is vc2_tiny_turbo_unet.pt plus these)
  vc2_tiny_ref.safetensors      inputs and outputs of every stage (names below)
  ddim_latents.npy, ddim_video.npy   the CLI case: initial latents [1, 4, 4, 8, 8] and the video
                                [4, 16, 16, 3] in [0, 1] of lvdm's DDIMSampler, 4 steps, η 0, CFG 5 with
                                the empty prompt as unconditional, fps 16
  vc2_tiny_scale.yaml, ddim_scale_video.npy   the same DDIM case with use_scale true, scale_b 0.7
                                (VideoCrafter2's x̂0 rescaling in lvdm's DDIM)
  lcm_latents.npy, lcm_noise.npy, lcm_video.npy   the T2V-Turbo LCM case: 4 steps from 50 origin
                                steps, w 7.5, fps 16: initial latents, the noise injected after each
                                step [4, 1, 4, 4, 8, 8] and the decoded video [4, 16, 16, 3]
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402

import open_clip  # noqa: E402
from lvdm.models.samplers.ddim import DDIMSampler  # noqa: E402
from pipeline.t2v_turbo_vc2_pipeline import T2VTurboVC2Pipeline  # noqa: E402
import scheduler.t2v_turbo_scheduler as sched_mod  # noqa: E402
from utils.utils import instantiate_from_config  # noqa: E402

PROMPT = "a red fox running through snow, cinematic"
F, LAT = 4, 8

ARCH = {
    "embed_dim": 8,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 8, "head_width": 4, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 8, "heads": 2, "layers": 2},
}

UNET = {
    "in_channels": 4, "out_channels": 4, "model_channels": 32, "attention_resolutions": [1], "num_res_blocks": 1,
    "channel_mult": [1, 1], "num_head_channels": 8, "transformer_depth": 1, "context_dim": 8, "use_linear": True,
    "use_checkpoint": False, "temporal_conv": True, "temporal_attention": True, "temporal_selfatt_only": True,
    "use_relative_position": False, "use_causal_attention": False, "temporal_length": F, "addition_attention": True,
    "fps_cond": True,
}

CONFIG = {"model": {"target": "lvdm.models.ddpm3d.LatentDiffusion", "params": {
    "linear_start": 0.00085, "linear_end": 0.012, "num_timesteps_cond": 1, "timesteps": 1000, "first_stage_key": "video",
    "cond_stage_key": "caption", "cond_stage_trainable": False, "conditioning_key": "crossattn", "image_size": [LAT, LAT],
    "channels": 4, "scale_by_std": False, "scale_factor": 0.18215, "use_ema": False, "uncond_type": "empty_seq",
    "use_scale": False,
    "unet_config": {"target": "lvdm.modules.networks.openaimodel3d.UNetModel", "params": UNET},
    "first_stage_config": {"target": "lvdm.models.autoencoder.AutoencoderKL", "params": {
        "embed_dim": 4, "monitor": "val/rec_loss",
        "ddconfig": {"double_z": True, "z_channels": 4, "resolution": 16, "in_channels": 3, "out_ch": 3, "ch": 32,
                     "ch_mult": [1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0},
        "lossconfig": {"target": "torch.nn.Identity"}}},
    "cond_stage_config": {"target": "lvdm.modules.encoders.condition.FrozenOpenCLIPEmbedder", "params": {
        "freeze": True, "layer": "penultimate", "arch": "VC2Tiny", "device": "cpu"}},
}}}


class Attr(dict):
    """A dict with attribute access (what OmegaConf gives lvdm)."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError as e:
            raise AttributeError(k) from e


def attr(o):
    if isinstance(o, dict):
        return Attr({k: attr(v) for k, v in o.items()})
    if isinstance(o, list):
        return [attr(v) for v in o]
    return o


def randomize(model, gen):
    """Fan-in-scaled normal weights; randomised biases, norm affines and embeddings (zero-initialised
    layers included, so that every parameter shows in the output)."""
    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) / fan_in ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, (nn.GroupNorm, nn.LayerNorm)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, nn.Embedding):
                m.weight.copy_(0.5 * torch.randn(m.weight.shape, generator=gen))
            elif isinstance(m, nn.MultiheadAttention):
                m.in_proj_weight.copy_(torch.randn(m.in_proj_weight.shape, generator=gen) / m.in_proj_weight.shape[1] ** 0.5)
                m.in_proj_bias.copy_(0.1 * torch.randn(m.in_proj_bias.shape, generator=gen))
        for name, p in model.named_parameters():
            if name.endswith("positional_embedding"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        for p in model.parameters():  # f16-exact values: the checkpoints store them as f16
            p.copy_(p.half().float())
    return model.eval()


def check(name, t):
    t = t.detach().float()
    if not torch.isfinite(t).all():
        raise SystemExit(f"{name}: non-finite values")
    s = t.std().item()
    if not 0.01 <= s <= 100:
        raise SystemExit(f"{name}: degenerate output (std {s:g})")


def video01(v):
    """lvdm video [1, 3, F, H, W] in [-1, 1] -> [F, H, W, 3] in [0, 1] (what evoke writes)."""
    return ((v[0].permute(1, 2, 3, 0) + 1) / 2).clamp(0, 1).contiguous()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "tests", "data", "nets", "vc2")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20261206)
    arch_path = os.path.join(out, "VC2Tiny.json")
    with open(arch_path, "w") as f:
        json.dump(ARCH, f, indent=2)
        f.write("\n")
    open_clip.add_model_config(arch_path)
    cfg = attr(json.loads(json.dumps(CONFIG)))
    with open(os.path.join(out, "vc2_tiny.yaml"), "w") as f:
        save = json.loads(json.dumps(CONFIG))
        del save["model"]["params"]["cond_stage_config"]["params"]["device"]
        yaml.safe_dump(save, f, sort_keys=False)

    model = instantiate_from_config(cfg["model"])
    randomize(model, gen)
    model.eval()
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    for k in sd:  # float weights stored f16 (their values are f16-exact), the schedule buffers f32
        if k.startswith(("model.", "first_stage_model.", "cond_stage_model.")):
            sd[k] = sd[k].half()
    torch.save({"state_dict": sd}, os.path.join(out, "vc2_tiny.ckpt"))

    unet = model.model.diffusion_model
    # T2V-Turbo's student: the same UNet with time_cond_proj (Linear 256 -> model_channels, no bias)
    tparams = dict(UNET, time_cond_proj_dim=256)
    turbo = instantiate_from_config({"target": "lvdm.modules.networks.openaimodel3d.UNetModel", "params": tparams})
    tsd = dict(unet.state_dict())
    tsd["time_cond_proj.weight"] = (torch.randn(32, 256, generator=gen) / 16.0).half().float()
    turbo.load_state_dict(tsd)
    turbo.eval()
    torch.save({k: v.half().contiguous() for k, v in turbo.state_dict().items()}, os.path.join(out, "vc2_tiny_turbo_unet.pt"))

    fx = {}
    with torch.no_grad():
        # text: open_clip.tokenize + FrozenOpenCLIPEmbedder (penultimate layer, ln_final)
        ids = open_clip.tokenize([PROMPT, ""])
        text = model.cond_stage_model.encode([PROMPT, ""])
        check("text", text)
        fx["text.ids"] = ids.to(torch.int32)
        fx["text.out"] = text

        # one UNet call, base model (no time_cond_proj), fps 8
        x = torch.randn(2, 4, F, LAT, LAT, generator=gen)
        t = torch.tensor([999, 301])
        ctx = torch.randn(2, 77, 8, generator=gen)
        o = unet(x, t, context=ctx, fps=8)
        check("unet", o)
        fx.update({"unet.x": x, "unet.t": t.float(), "unet.context": ctx, "unet.out_fps8": o})
        # the T2V-Turbo student: w-embedding of w = 7.5 (and 3.0 for the second item), fps 16
        wemb = T2VTurboVC2Pipeline.get_w_embedding(None, torch.tensor([7.5, 3.0]), embedding_dim=256)
        o = turbo(x, t, context=ctx, fps=16, timestep_cond=wemb)
        check("turbo", o)
        fx["unet.w"] = torch.tensor([7.5, 3.0])
        fx["unet.w_embedding"] = wemb
        fx["unet.out_turbo"] = o
        # T2V-Turbo-v2's motion guidance: motion_cond_proj + combine_proj over the student
        # (tensors in vc2_tiny_motion.safetensors, to be read beside vc2_tiny_turbo_unet.pt)
        mparams = dict(UNET, time_cond_proj_dim=256, motion_cond_proj_dim=256)
        v2 = instantiate_from_config({"target": "lvdm.modules.networks.openaimodel3d.UNetModel", "params": mparams})
        msd = dict(turbo.state_dict())
        extra = {"motion_cond_proj.weight": (torch.randn(32, 256, generator=gen) / 16.0).half().float(),
                 "combine_proj.weight": (torch.randn(32, 64, generator=gen) / 8.0).half().float()}
        msd.update(extra)
        v2.load_state_dict(msd)
        v2.eval()
        memb = T2VTurboVC2Pipeline.get_w_embedding(None, torch.tensor([0.1, 0.0]), embedding_dim=256)
        o = v2(x, t, context=ctx, fps=16, timestep_cond=wemb, motion_cond=memb)
        check("motion", o)
        fx["unet.motion_gs"] = torch.tensor([0.1, 0.0])
        fx["unet.out_motion"] = o
        st.save_file(extra, os.path.join(out, "vc2_tiny_motion.safetensors"))

        # decode: LatentDiffusion.decode_first_stage_2DAE (frame by frame, 1 / scale_factor)
        z = torch.randn(1, 4, F, LAT, LAT, generator=gen)
        v = model.decode_first_stage_2DAE(z)
        check("decode", v)
        fx["decode.z"] = z
        fx["decode.video"] = v

        # T2V-Turbo's LCM loop (T2VTurboVC2Pipeline.__call__ with the UNet and scheduler above)
        sch = sched_mod.T2VTurboScheduler(linear_start=0.00085, linear_end=0.012, beta_schedule="scaled_linear",
                                          num_train_timesteps=1000)
        sch.set_timesteps(4, 50)
        drawn = []
        real = sched_mod.randn_tensor

        def record(*a, **k):
            n = real(*a, **k)
            drawn.append(n.clone())
            return n

        sched_mod.randn_tensor = record
        cond = text[:1]
        w = torch.tensor([7.5])
        wemb = T2VTurboVC2Pipeline.get_w_embedding(None, w, embedding_dim=256)
        lat = torch.randn(1, 4, F, LAT, LAT, generator=gen)
        fx["lcm.latents"] = lat.clone()
        fx["lcm.timesteps"] = sch.timesteps.float()
        for i, ts in enumerate(sch.timesteps):
            tt = torch.full((1,), int(ts), dtype=torch.long)
            pred = turbo(lat, tt, context=cond, fps=16, timestep_cond=wemb)
            fx[f"lcm.x.{i}"] = lat.clone()
            fx[f"lcm.pred.{i}"] = pred
            lat, den = sch.step(pred, i, ts, lat, generator=gen, return_dict=False)
            fx[f"lcm.denoised.{i}"] = den
        sched_mod.randn_tensor = real
        vid = model.decode_first_stage_2DAE(den)
        check("lcm video", vid)
        fx["lcm.video"] = video01(vid)
        np.save(os.path.join(out, "lcm_latents.npy"), fx["lcm.latents"].numpy())
        np.save(os.path.join(out, "lcm_noise.npy"), torch.stack(drawn).numpy())
        np.save(os.path.join(out, "lcm_video.npy"), fx["lcm.video"].numpy())
        for i, n in enumerate(drawn):
            fx[f"lcm.noise.{i}"] = n

        # lvdm's DDIMSampler with classifier-free guidance (the teacher), η 0, 4 steps, CFG 5
        sampler = DDIMSampler(model)
        sampler.register_buffer = lambda name, a: setattr(sampler, name, a)  # upstream moves buffers to CUDA
        x_T = torch.randn(1, 4, F, LAT, LAT, generator=gen)
        samples, _ = sampler.sample(S=4, conditioning=text[:1], batch_size=1, shape=[4, F, LAT, LAT], verbose=False,
                                    unconditional_guidance_scale=5.0, unconditional_conditioning=text[1:], eta=0.0,
                                    x_T=x_T.clone(), fps=16)
        vid = model.decode_first_stage_2DAE(samples)
        check("ddim video", vid)
        fx["ddim.latents"] = x_T
        fx["ddim.samples"] = samples
        fx["ddim.video"] = video01(vid)
        np.save(os.path.join(out, "ddim_latents.npy"), x_T.numpy())
        np.save(os.path.join(out, "ddim_video.npy"), fx["ddim.video"].numpy())

        # the same with VideoCrafter2's use_scale (scale_b 0.7): lvdm's DDIM rescales x̂0
        scfg = json.loads(json.dumps(CONFIG))
        scfg["model"]["params"].update({"use_scale": True, "scale_b": 0.7})
        with open(os.path.join(out, "vc2_tiny_scale.yaml"), "w") as f:
            save = json.loads(json.dumps(scfg))
            del save["model"]["params"]["cond_stage_config"]["params"]["device"]
            yaml.safe_dump(save, f, sort_keys=False)
        model2 = instantiate_from_config(attr(scfg)["model"])
        missing, unexpected = model2.load_state_dict(model.state_dict(), strict=False)
        assert set(missing) <= {"scale_arr"} and not unexpected, (missing, unexpected)
        model2.eval()
        sampler = DDIMSampler(model2)
        sampler.register_buffer = lambda name, a: setattr(sampler, name, a)
        samples, _ = sampler.sample(S=4, conditioning=text[:1], batch_size=1, shape=[4, F, LAT, LAT], verbose=False,
                                    unconditional_guidance_scale=5.0, unconditional_conditioning=text[1:], eta=0.0,
                                    x_T=x_T.clone(), fps=16)
        vid = model2.decode_first_stage_2DAE(samples)
        check("ddim scale video", vid)
        fx["ddim_scale.video"] = video01(vid)
        np.save(os.path.join(out, "ddim_scale_video.npy"), fx["ddim_scale.video"].numpy())

    st.save_file({k: v.detach().contiguous() for k, v in fx.items()}, os.path.join(out, "vc2_tiny_ref.safetensors"),
                 metadata={"prompt": PROMPT})
    for f in sorted(os.listdir(out)):
        print(f"{f}: {os.path.getsize(os.path.join(out, f))} bytes")


if __name__ == "__main__":
    main()
