#!/usr/bin/env python3
"""fixtures_vc2_v2.py — the T2V-Turbo v1 LoRA-list and T2V-Turbo-v2 motion-guidance fixtures of
tests/models/test_vc2.c and tests/cli/cli_vc2.sh, computed by T2V-Turbo's own code on a tiny
random-weight student (run fixtures_vc2.py first: the text tower and VAE come from vc2_tiny.ckpt).

Why another UNet: with model_channels 32 every ResBlock's GroupNorm(32, 32) normalises each channel
on its own, which removes the per-channel time embedding exactly; the fixtures_vc2.py UNet's output
therefore does not depend on t, w or the motion scale. This student has channel_mult [1, 2] (its
64-channel level has two channels per group), so w, the motion scale and every embedding layer
show in the output. It holds time_cond_proj and v2's motion_cond_proj / combine_proj.

Reference: T2V-Turbo eaae323f10d136796a33e8f5304ed50e40def570, run from a scratch folder outside this
repository with the stand-ins of fixtures_vc2.py, plus: diffusers' DiffusionPipeline as a stand-in
giving only what T2VTurboVC2Pipeline calls (register_modules, _execution_device = cpu, dtype f32, a
no-op progress bar), and a safetensors stand-in (utils/lora.py imports safe_open / save_file, which
these paths never call).

  LoRA list: utils/lora.py save_lora_weight (what train_t2v_turbo_v1_lora.py saves) after
    LoraHandler.add_lora_to_model injected rank-2 LoRAs into the student (pairs randomised,
    f16-exact); read back as app.py does for a "lora" --unet_dir: a fresh UNetModel,
    load_state_dict(base, strict=False), LoraHandler(version="cloneofsimo",
    unet_replace_modules=["UNetModel"]).add_lora_to_model(..., lora_path=LIST, dropout=0.1, r=64),
    collapse_lora, monkeypatch_remove_lora; one call at fps 16 with w 7.5 and 3 for the two items.
  Motion guidance: T2VTurboVC2Pipeline.__call__ with the student, prompt PROMPT, 64×64 pixels
    (8×8 latents), 4 frames, fps 16, w 7.5, 4 LCM steps from 50 origin steps, use_motion_cond with
    motion_gs 0.1 and percentage 0.3 (steps 999 and 759 see 0.1, 519 and 279 see 0); the noise the
    scheduler draws is recorded. The same with w 3 and no motion guidance, same latents and noise.

Usage:
  PYTHONPATH=SHIM:EINOPS:OPEN_CLIP/src:T2V_TURBO /usr/bin/python3 tools/ref/fixtures_vc2_v2.py [tests/data/nets/vc2]

Written: vc2_tiny_v2.yaml (vc2_tiny.yaml with channel_mult [1, 2]), vc2_tiny_v2_unet.safetensors
(the student, f16, lvdm names), vc2_tiny_lora.pt (the list), vc2_tiny_v2_ref.safetensors (lora.x,
lora.t, lora.context, lora.w, lora.out), mg_latents.npy [1, 4, 4, 8, 8], mg_noise.npy
[4, 1, 4, 4, 8, 8], mg_video.npy [4, 16, 16, 3] (motion 0.1, w 7.5), w3_video.npy and w75_video.npy
(w 3 and 7.5, no motion).
"""
import json
import os
import sys

import numpy as np
import open_clip
import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402
from fixtures_vc2 import CONFIG, PROMPT, UNET, F, LAT, attr, check, randomize, video01  # noqa: E402

import scheduler.t2v_turbo_scheduler as sched_mod  # noqa: E402
from pipeline.t2v_turbo_vc2_pipeline import T2VTurboVC2Pipeline  # noqa: E402
from utils.lora import collapse_lora, extract_lora_ups_down, monkeypatch_remove_lora, save_lora_weight  # noqa: E402
from utils.lora_handler import LoraHandler  # noqa: E402
from utils.utils import instantiate_from_config  # noqa: E402

V2 = dict(UNET, channel_mult=[1, 2])
STUDENT = {"target": "lvdm.modules.networks.openaimodel3d.UNetModel", "params": dict(V2, time_cond_proj_dim=256, motion_cond_proj_dim=256)}


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "tests", "data", "nets", "vc2")
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20261207)
    open_clip.add_model_config(os.path.join(out, "VC2Tiny.json"))
    cfg = json.loads(json.dumps(CONFIG))
    cfg["model"]["params"]["unet_config"]["params"] = V2
    with open(os.path.join(out, "vc2_tiny_v2.yaml"), "w") as f:
        save = json.loads(json.dumps(cfg))
        del save["model"]["params"]["cond_stage_config"]["params"]["device"]
        yaml.safe_dump(save, f, sort_keys=False)
    cfg = attr(cfg)
    model = instantiate_from_config(cfg["model"])
    sd = torch.load(os.path.join(out, "vc2_tiny.ckpt"))["state_dict"]
    missing, _ = model.load_state_dict({k: v.float() for k, v in sd.items() if not k.startswith("model.")}, strict=False)
    assert all(k.startswith("model.") for k in missing)
    model.eval()

    student = randomize(instantiate_from_config(STUDENT), gen)
    base = {k: v.detach().clone() for k, v in student.state_dict().items()}
    st.save_file({k: v.half().contiguous() for k, v in base.items()}, os.path.join(out, "vc2_tiny_v2_unet.safetensors"))

    # ---- the LoRA list, as training writes it, and read back as app.py does
    list_path = os.path.join(out, "vc2_tiny_lora.pt")
    src = instantiate_from_config(STUDENT)
    src.load_state_dict(base)
    handler = LoraHandler(version="cloneofsimo", use_unet_lora=True, save_for_webui=True, unet_replace_modules=["UNetModel"])
    handler.add_lora_to_model(True, src, handler.unet_replace_modules, dropout=0.1, r=2)
    with torch.no_grad():
        for up, down in extract_lora_ups_down(src, target_replace_module=["UNetModel"]):
            for m in (up, down):
                m.weight.copy_((torch.randn(m.weight.shape, generator=gen) / m.weight[0].numel() ** 0.5 * 0.5).half().float())
    save_lora_weight(src, list_path, ["UNetModel"])
    unet = instantiate_from_config(STUDENT)
    unet.load_state_dict(base, strict=False)
    handler = LoraHandler(version="cloneofsimo", use_unet_lora=True, save_for_webui=True, unet_replace_modules=["UNetModel"])
    handler.add_lora_to_model(True, unet, handler.unet_replace_modules, lora_path=list_path, dropout=0.1, r=64)
    collapse_lora(unet, handler.unet_replace_modules)
    monkeypatch_remove_lora(unet)
    unet.eval()
    fx = {}
    with torch.no_grad():
        x = torch.randn(2, 4, F, LAT, LAT, generator=gen)
        t = torch.tensor([999, 301])
        ctx = torch.randn(2, 77, 8, generator=gen)
        w = torch.tensor([7.5, 3.0])
        wemb = T2VTurboVC2Pipeline.get_w_embedding(None, w, embedding_dim=256)
        o = unet(x, t, context=ctx, fps=16, timestep_cond=wemb)
        check("lora", o)
        o0 = student(x, t, context=ctx, fps=16, timestep_cond=wemb)
        o75 = unet(x, t, context=ctx, fps=16, timestep_cond=T2VTurboVC2Pipeline.get_w_embedding(None, w[:1].repeat(2), embedding_dim=256))
        print(f"the LoRA moves the output by {rel(o, o0):.3g}; w 3 vs 7.5 moves item 2 by {rel(o[1], o75[1]):.3g}")
        assert rel(o, o0) > 0.05 and rel(o[1], o75[1]) > 1e-3
        fx.update({"lora.x": x, "lora.t": t.float(), "lora.context": ctx, "lora.w": w, "lora.out": o})
    st.save_file({k: v.detach().contiguous() for k, v in fx.items()}, os.path.join(out, "vc2_tiny_v2_ref.safetensors"))
    n = len(torch.load(list_path))
    print(f"{n} tensors ({n // 2} pairs) in the list")

    # ---- motion guidance through the upstream pipeline
    model.model.diffusion_model = student  # as app.py does
    sch = sched_mod.T2VTurboScheduler(linear_start=0.00085, linear_end=0.012)
    pipe = T2VTurboVC2Pipeline(model, sch, cfg["model"])
    lat = torch.randn(1, 4, F, LAT, LAT, generator=gen)
    drawn = []
    real = sched_mod.randn_tensor

    def record(*a, **k):
        z = real(*a, **k)
        drawn.append(z.clone())
        return z

    sched_mod.randn_tensor = record
    common = dict(prompt=PROMPT, height=LAT * 8, width=LAT * 8, frames=F, fps=16, generator=gen, num_inference_steps=4,
                  lcm_origin_steps=50)
    with torch.no_grad():
        vid = pipe(guidance_scale=7.5, motion_gs=0.1, use_motion_cond=True, percentage=0.3, latents=lat.clone(), **common)
        noise = torch.stack(drawn)
        replay = iter(list(drawn))
        sched_mod.randn_tensor = lambda *a, **k: next(replay)
        w3 = pipe(guidance_scale=3.0, use_motion_cond=False, latents=lat.clone(), **common)
        replay = iter(list(drawn))
        plain = pipe(guidance_scale=7.5, use_motion_cond=False, latents=lat.clone(), **common)
    sched_mod.randn_tensor = real
    check("motion video", vid)
    a, b, c = video01(vid), video01(plain), video01(w3)
    print(f"timesteps {sch.timesteps.tolist()}; motion guidance moves the video by {rel(a, b):.3g}, w 3 by {rel(c, b):.3g}")
    assert rel(a, b) > 1e-3 and rel(c, b) > 1e-3
    np.save(os.path.join(out, "mg_latents.npy"), lat.numpy())
    np.save(os.path.join(out, "mg_noise.npy"), noise.numpy())
    np.save(os.path.join(out, "mg_video.npy"), a.numpy())
    np.save(os.path.join(out, "w3_video.npy"), c.numpy())
    np.save(os.path.join(out, "w75_video.npy"), b.numpy())
    for f in ("vc2_tiny_v2.yaml", "vc2_tiny_v2_unet.safetensors", "vc2_tiny_lora.pt", "vc2_tiny_v2_ref.safetensors", "mg_latents.npy",
              "mg_noise.npy", "mg_video.npy", "w3_video.npy", "w75_video.npy"):
        print(f"{f}: {os.path.getsize(os.path.join(out, f))} bytes")


if __name__ == "__main__":
    main()
