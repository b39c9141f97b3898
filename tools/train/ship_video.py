#!/usr/bin/env python3
"""Make assets/tiny-video/ (the shipped video default) from training checkpoints:

  model.ckpt + model.yaml + tokenizer/   the teacher in VideoCrafter2's format (train_video.py export;
                                         evoke finds <checkpoint>.yaml and the tokenizer/ beside it)
  unet_mg.pt                             the T2V-Turbo student's UNet (train_student.py export), loaded
                                         with --diffusion-model over model.ckpt
  hpsv2/open_clip_pytorch_model.bin      the per-frame image-text reward (HPSv2's place), config.json,
                                         tokenizer/
  viclip/ViClip-tiny.pth                 the video-text reward (ViCLIP's place), config.json, tokenizer/
  reward.json                            T2V-Turbo's mixed reward: 1 x hpsv2 (mean over frames) + 2 x viclip
  README.md                              what was trained, how long, from which checkpoints

Every floating-point tensor is stored as float16 (half the size; evoke computes in f32 after
loading, as it does for HPS_v2.1_compressed.pt). Written to a temporary folder beside the
destination, then renamed over it.

  /usr/bin/python3 tools/train/ship_video.py --teacher T/ema_3000.pt --student S/ckpt.pt \
      --frame-reward F/ckpt.pt --video-reward V/ckpt.pt [--dest assets/tiny-video] [--note TEXT]
"""
import argparse
import json
import os
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import train_student as ts  # noqa: E402
import train_video as tv  # noqa: E402
import video_model as vm  # noqa: E402
import video_reward as vr  # noqa: E402

FIXTURE_PROMPT = "a red circle moving left"


def round_f16(m):
    """The weights as shipped: every float parameter and buffer through float16."""
    with torch.no_grad():
        for t in list(m.parameters()) + list(m.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return m


@torch.no_grad()
def fixtures(a, dest):
    """tests/data/nets/tiny_video: the PyTorch training code's outputs for the shipped (float16)
    weights - the teacher's 10-step DDIM + CFG 7.5 and the student's 4-step LCM (w 7.5) from the
    same initial latents (and, for the student, the noise each step injects), and the frame, video
    and mixed rewards of both clips - for tests/cli/cli_tiny_video.sh."""
    os.makedirs(dest, exist_ok=True)
    t, vae, cfg, _ = tv.load_teacher_ckpt(a.teacher)
    u, _ = ts.load_student(a.student)
    for m in (t, vae, u):
        round_f16(m)
    sched = vm.Schedule(cfg["diffusion"])
    sf = cfg["diffusion"]["scale_factor"]
    lat = cfg["resolution"] // 2 ** (len(cfg["vae"]["ddconfig"]["ch_mult"]) - 1)
    shape = (1, cfg["unet"]["in_channels"], cfg["frames"], lat, lat)
    lat0 = torch.randn(shape, generator=torch.Generator().manual_seed(20261207))
    cond, uncond = t.text([FIXTURE_PROMPT]), t.text([""])
    z_t = vm.ddim_sample(t.unet, sched, cond, uncond, shape, 10, 7.5, 8, noise=lat0.clone())
    g = torch.Generator().manual_seed(7)
    noise = torch.stack([torch.randn(shape, generator=g) for _ in range(4)])
    z_s = ts.lcm_sample(u, sched.acp, cond, lat0.clone(), 4, 50, 7.5, 8, torch.Generator().manual_seed(7))
    clips = {}
    for name, z in (("teacher", z_t), ("student", z_s)):
        x = (vm.decode_video(vae, z, sf) / 2 + 0.5).clamp(0, 1)  # [1, F, 3, H, W]
        clips[name] = x
        np.save(os.path.join(dest, f"{name}_video.npy"), x[0].permute(0, 2, 3, 1).numpy().astype(np.float32))
    np.save(os.path.join(dest, "latents.npy"), lat0.numpy().astype(np.float32))
    np.save(os.path.join(dest, "noise.npy"), noise.numpy().astype(np.float32))
    tok, _ = tv.tokenizer()
    exp = {"prompt": FIXTURE_PROMPT}
    for key, ck in (("hpsv2", a.frame_reward), ("viclip", a.video_reward)):
        _, m, _ = vr.load(ck)
        round_f16(m)
        ids = vr.ids_for(tok, [FIXTURE_PROMPT], m.cfg["text_cfg"]["context_length"])
        exp[key] = [float(m.reward(clips[n], ids)[0]) for n in ("teacher", "student")]
    exp["mixed"] = [h + 2 * v for h, v in zip(exp["hpsv2"], exp["viclip"])]
    with open(os.path.join(dest, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
    print(f"fixtures in {dest}: {exp}")


def halve(path):
    """Rewrite a torch.save'd (nested) dict of tensors with float tensors as float16."""
    obj = torch.load(path, map_location="cpu")

    def h(x):
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            return x.half()
        if isinstance(x, dict):
            return {k: h(v) for k, v in x.items()}
        return x
    torch.save(h(obj), path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", required=True)
    p.add_argument("--student", required=True)
    p.add_argument("--frame-reward", required=True)
    p.add_argument("--video-reward", required=True)
    p.add_argument("--dest", default=os.path.join(os.path.dirname(__file__), "..", "..", "assets", "tiny-video"))
    p.add_argument("--note", default="", help="a paragraph for README.md (training cost, losses)")
    p.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "nets", "tiny_video"),
                   help="where the PyTorch reference outputs of the shipped weights go")
    a = p.parse_args()
    dest = os.path.abspath(a.dest)
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)

    t, vae, cfg, tstep = tv.load_teacher_ckpt(a.teacher)
    tv.export(t, vae, cfg, tmp, tstep)
    os.rename(os.path.join(tmp, "inference.yaml"), os.path.join(tmp, "model.yaml"))
    ts.cmd_export(argparse.Namespace(ckpt=a.student, dest=tmp))
    _, sstate = ts.load_student(a.student)
    steps = {"teacher": tstep, "student": sstate["step"]}
    for name, ck, sub in (("frame reward", a.frame_reward, "hpsv2"), ("video reward", a.video_reward, "viclip")):
        vr.export(ck, os.path.join(tmp, sub))
        steps[name] = vr.load(ck)[2]
        os.remove(os.path.join(tmp, sub, "training.json"))
    for f in ("model.ckpt", "unet_mg.pt", "hpsv2/open_clip_pytorch_model.bin", "viclip/ViClip-tiny.pth"):
        halve(os.path.join(tmp, f))
    reward = {"type": "sum", "terms": [
        {"weight": 1.0, "reward": {"type": "hpsv2", "model": "hpsv2/open_clip_pytorch_model.bin"}},
        {"weight": 2.0, "reward": {"type": "viclip", "model": "viclip/ViClip-tiny.pth"}}]}
    with open(os.path.join(tmp, "reward.json"), "w") as f:
        json.dump(reward, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(tmp) for f in fs)
    with open(os.path.join(tmp, "README.md"), "w") as f:
        f.write(f"""# tiny-video — the shipped video default

Trained on this project's procedural clips (tools/train/video_data.py: coloured shapes moving
left/right/up/down over textured backgrounds, 8 frames of 32x32, captions of the grammar
"a <colour> <shape> moving <dir> [and a <colour> <shape> moving <dir>]"), with tools/train/.
Made by tools/train/ship_video.py on {time.strftime('%Y-%m-%d')}; {size / 1e6:.2f} MB in all, tensors float16.

| file | what | training step |
|---|---|---:|
| `model.ckpt`, `model.yaml`, `tokenizer/` | teacher: VideoCrafter2-architecture 3-D UNet + OpenCLIP-style text tower + VAE, epsilon-prediction, DDIM + CFG | {steps['teacher']} |
| `unet_mg.pt` | T2V-Turbo student UNet (time_cond_proj: w embedded), LCM over 50 origin steps | {steps['student']} |
| `hpsv2/` | per-frame image-text reward, open_clip layout (HPSv2's place) | {steps['frame reward']} |
| `viclip/` | video-text reward, InternVid ViCLIP layout | {steps['video reward']} |
| `reward.json` | T2V-Turbo's mixed reward: 1 x hpsv2 (mean over frames) + 2 x viclip | |

The models are conditioned on 8 fps: `evoke generate --model assets/tiny-video/model.ckpt --fps 8
--frames 8 --prompt "a red circle moving left"` (teacher, 50 DDIM steps, guidance 7.5), add
`--diffusion-model assets/tiny-video/unet_mg.pt --steps 4` for the student; `evoke demo --video`.

{a.note}
""")
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    print(f"shipped {dest} ({size / 1e6:.2f} MB): steps {steps}")
    fixtures(a, os.path.abspath(a.fixtures))


if __name__ == "__main__":
    main()
