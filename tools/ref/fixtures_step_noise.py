"""Write tests/data/step_noise/: the shipped tiny-sd (assets/tiny-sd) sampled with the noise of
every step given from outside, as `evoke generate --latents L.npy --noise N.npy` does, computed by
the PyTorch references in tools/ref/ (CLIP text encoder, UNet, DDIM) and an LCM multistep loop
written here as diffusers' LCMScheduler computes it (timesteps from the origin steps, boundary
scalings c_skip = σ_d²/((10t)² + σ_d²), c_out = 10t/√((10t)² + σ_d²), σ_d = 0.5; between steps
x ← √ᾱ_prev·denoised + √(1−ᾱ_prev)·z; the last step returns denoised).

    /usr/bin/python3 tools/ref/fixtures_step_noise.py [tests/data/step_noise]

Files (all f32 .npy; seeded, re-running writes identical files):
  latents.npy   [1, 3, 32, 32]     the initial noise x_T
  noise.npy     [4, 1, 3, 32, 32]  z of steps 0..3 (the LCM run does not read the last)
  ddim.npy      [32, 32, 3]        DDIM η = 1, 4 steps, guidance 2: the decoded image, HWC in [0, 1]
  lcm.npy       [32, 32, 3]        LCM, 4 steps from 50 origin steps, guidance 2: the same
The prompt is PROMPT below, the negative prompt empty.
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clip import CLIPTextModel  # noqa: E402
from clip_tokenizer import CLIPTokenizer  # noqa: E402
from ddim import DDIM  # noqa: E402
from safetensors_io import load_file  # noqa: E402
from unet import UNet2DConditionModel  # noqa: E402

PROMPT = "a red circle on the left"
STEPS, GUIDANCE, ORIGIN = 4, 2.0, 50


def npy_save(path, a):
    np.save(path, np.ascontiguousarray(a, dtype=np.float32))


@torch.no_grad()
def main():
    root = os.path.join(HERE, "..", "..")
    model = os.path.join(root, "assets", "tiny-sd")
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "data", "step_noise")
    os.makedirs(out, exist_ok=True)

    def cfg(p):
        with open(os.path.join(model, p)) as f:
            return json.load(f)
    tok = CLIPTokenizer(os.path.join(model, "tokenizer"))
    te = CLIPTextModel(cfg("text_encoder/config.json"))
    te.load_state_dict({k: v.float() for k, v in load_file(os.path.join(model, "text_encoder/model.safetensors"), as_torch=True).items()})
    un = UNet2DConditionModel(cfg("unet/config.json"))
    un.load_state_dict({k: v.float() for k, v in
                        load_file(os.path.join(model, "unet/diffusion_pytorch_model.safetensors"), as_torch=True).items()})
    te.float().eval()
    un.float().eval()
    sched = cfg("scheduler/scheduler_config.json")
    ddim = DDIM(sched)
    hid, _ = te(torch.tensor([tok(PROMPT), tok("")]))
    cond, uncond = hid[:1], hid[1:]
    g = torch.Generator().manual_seed(11)
    x_T = torch.randn(1, 3, 32, 32, generator=g)
    z = torch.randn(STEPS, 1, 3, 32, 32, generator=g)

    def guided(x, t):
        o = un(torch.cat([x, x], 0), torch.full((2,), float(t)), torch.cat([uncond, cond], 0))
        ou, oc = o.chunk(2)
        return ou + GUIDANCE * (oc - ou)

    # DDIM, eta 1, the scheduler config's spacing
    x = x_T.clone()
    for i, t in enumerate(ddim.timesteps(STEPS)):
        x, _ = ddim.step(guided(x, t), t, x, STEPS, 1.0, z[i])
    ddim_img = (x / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0)

    # LCM multistep (diffusers LCMScheduler, v_prediction as the config says)
    ac = ddim.alphas_cumprod
    N = ddim.N
    c, skip = N // ORIGIN, ORIGIN // STEPS
    ts = [(ORIGIN - i * skip) * c - 1 for i in range(STEPS)]
    x = x_T.clone()
    for i, t in enumerate(ts):
        a, b = ac[t], 1 - ac[t]
        v = guided(x, t)
        assert sched["prediction_type"] == "v_prediction"
        x0 = a.sqrt() * x - b.sqrt() * v
        s = 10.0 * t
        c_skip, c_out = 0.25 / (s * s + 0.25), s / (s * s + 0.25) ** 0.5
        den = c_out * x0 + c_skip * x
        if i + 1 < STEPS:
            ap = ac[ts[i + 1]]
            x = ap.sqrt() * den + (1 - ap).sqrt() * z[i]
        else:
            x = den
    lcm_img = (x / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0)

    npy_save(os.path.join(out, "latents.npy"), x_T.numpy())
    npy_save(os.path.join(out, "noise.npy"), z.numpy())
    npy_save(os.path.join(out, "ddim.npy"), ddim_img.numpy())
    npy_save(os.path.join(out, "lcm.npy"), lcm_img.numpy())
    print("ddim timesteps", ddim.timesteps(STEPS), "lcm timesteps", ts,
          "image means %.4f %.4f" % (ddim_img.mean(), lcm_img.mean()))


if __name__ == "__main__":
    main()
