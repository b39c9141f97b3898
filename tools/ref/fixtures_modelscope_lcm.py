#!/usr/bin/env python3
"""fixtures_modelscope_lcm.py — T2V-Turbo's own ModelScope ("MS") LCM sampling on the tiny
ModelScope fixture (tests/data/nets/modelscope, written by fixtures_modelscope.py: run that first),
for tests/models/test_modelscope.c (every step) and tests/cli/cli_video.sh (the CLI run).

Reference: T2V-Turbo eaae323f10d136796a33e8f5304ed50e40def570 — pipeline/t2v_turbo_ms_pipeline.py
(T2VTurboMSPipeline.__call__: its w-embedding, sampling loop and frame-by-frame decode) and
scheduler/t2v_turbo_scheduler.py — over diffusers v0.28.2's UNet3DConditionModel and AutoencoderKL,
all run from scratch folders outside this repository. The stand-ins of fixtures_modelscope.py apply
(transformers, safetensors, tqdm, ... as empty modules); DiffusionPipeline's device and progress bar
are given directly (cpu, no bar) and register_modules stores the parts. The prompt's encoding is
fixture.safetensors' "text" (the tiny CLIP tower's output for fixtures_modelscope.PROMPT), handed
to the pipeline as prompt_embeds.

Usage:
  EVK_DIFFUSERS=<diffusers v0.28.2>/src EVK_T2V_TURBO=<t2v-turbo> /usr/bin/python3 tools/ref/fixtures_modelscope_lcm.py

The run: the unet_lcm student, w 7.5, 4 steps from 50 origin steps (999, 759, 519, 279), 4 frames of
8×8 latents. Written to tests/data/nets/modelscope/: lcm_ref.safetensors (lcm.timesteps; per step i:
lcm.x.i (the state entering), lcm.pred.i (the UNet output), lcm.noise.i (the scheduler's draw),
lcm.denoised.i; lcm.video [F, H, W, 3] in [0, 1]), lcm_latents.npy, lcm_noise.npy [4, 1, 4, 4, 8, 8],
lcm_video.npy.
"""
import contextlib
import importlib.util
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fixtures_modelscope as fm  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main():
    t2v = fm.use_diffusers(need_t2v_turbo=True)
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_3d_condition import UNet3DConditionModel
    import json

    sched_mod = load_module("t2v_turbo_scheduler", os.path.join(t2v, "scheduler", "t2v_turbo_scheduler.py"))
    sys.modules["scheduler.t2v_turbo_scheduler"] = sched_mod
    pipe_mod = load_module("t2v_turbo_ms_pipeline", os.path.join(t2v, "pipeline", "t2v_turbo_ms_pipeline.py"))

    def component(cls, folder):
        d = os.path.join(fm.OUT, folder)
        with open(os.path.join(d, "config.json")) as f:
            cfg = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
        m = cls(**cfg).eval()
        sd = load_file(os.path.join(d, "diffusion_pytorch_model.safetensors"), as_torch=True)
        missing, unexpected = m.load_state_dict(sd, strict=False)  # the fixture's VAE has no encoder
        assert not unexpected and all(k.startswith(("encoder.", "quant_conv.")) for k in missing), (missing, unexpected)
        return m

    unet, vae = component(UNet3DConditionModel, "unet_lcm"), component(AutoencoderKL, "vae")

    class Pipeline(pipe_mod.T2VTurboMSPipeline):
        _execution_device = torch.device("cpu")

        def register_modules(self, **kw):
            for k, v in kw.items():
                setattr(self, k, v)

        @contextlib.contextmanager
        def progress_bar(self, total=None):
            yield type("Bar", (), {"update": lambda self: None})()

    # what the pipeline hands the UNet and the scheduler, and what they give back
    fx = {}
    real_unet_forward, real_step = unet.forward, None
    calls = {"unet": 0}

    def unet_forward(x, t, **kw):
        i = calls["unet"]
        fx[f"lcm.x.{i}"] = x.clone()
        o = real_unet_forward(x, t, **kw)
        fx[f"lcm.pred.{i}"] = o.sample.clone()
        calls["unet"] += 1
        return o

    unet.forward = unet_forward
    sch = sched_mod.T2VTurboScheduler(linear_start=0.00085, linear_end=0.012)
    drawn = []
    real_randn = sched_mod.randn_tensor

    def record(*a, **k):
        z = real_randn(*a, **k)
        drawn.append(z.clone())
        return z

    sched_mod.randn_tensor = record
    pipe = Pipeline(unet, vae, None, None, sch)
    text = load_file(os.path.join(fm.OUT, "fixture.safetensors"), as_torch=True)["text"]
    gen = torch.Generator().manual_seed(20261208)
    lat = torch.randn(1, 4, fm.FRAMES, fm.LAT, fm.LAT, generator=gen)
    real_step = sch.step

    def step(pred, i, t, x, **kw):
        nxt, den = real_step(pred, i, t, x, **kw)
        fx[f"lcm.denoised.{i}"] = den.clone()
        return nxt, den

    sch.step = step
    torch.manual_seed(20261209)  # the scheduler draws its injected noise from the global generator
    with torch.no_grad():
        vid = pipe(prompt_embeds=text, height=fm.LAT * 8, width=fm.LAT * 8, frames=fm.FRAMES, guidance_scale=7.5,
                   latents=lat.clone(), num_inference_steps=4, lcm_origin_steps=50)
    sched_mod.randn_tensor = real_randn
    assert calls["unet"] == 4 and len(drawn) == 4, (calls, len(drawn))
    for i, z in enumerate(drawn):
        fx[f"lcm.noise.{i}"] = z
    fx["lcm.timesteps"] = sch.timesteps.float()
    video = ((vid[0].permute(1, 2, 3, 0) + 1) / 2).clamp(0, 1).contiguous()
    assert torch.isfinite(video).all() and video.std() > 0.01
    fx["lcm.video"] = video
    save_file({k: v.detach().contiguous() for k, v in fx.items()}, os.path.join(fm.OUT, "lcm_ref.safetensors"))
    np.save(os.path.join(fm.OUT, "lcm_latents.npy"), lat.numpy())
    np.save(os.path.join(fm.OUT, "lcm_noise.npy"), torch.stack(drawn).numpy())
    np.save(os.path.join(fm.OUT, "lcm_video.npy"), video.numpy())
    print(f"timesteps {sch.timesteps.tolist()}, video {tuple(video.shape)}")
    for f in ("lcm_ref.safetensors", "lcm_latents.npy", "lcm_noise.npy", "lcm_video.npy"):
        print(f"{f}: {os.path.getsize(os.path.join(fm.OUT, f))} bytes")


if __name__ == "__main__":
    main()
