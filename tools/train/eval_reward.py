"""Does the tiny CLIP reward pick better samples?  Best-of-N check with the shipped models.

For P held-out prompts, draws N stochastic samples each (DDIM eta 1, 20 steps, CFG g) with
assets/tiny-sd, scores every sample with assets/tiny-clip (cosine of the normalised
embeddings) and with check.py, and reports the checker pass rate of: a random sample,
the CLIP-best sample, and the oracle (any sample passes); plus the mean CLIP score of
passing vs failing samples.  Uses only the exported folders (what the C runtime loads).

    /usr/bin/python3 tools/train/eval_reward.py [--prompts 20] [--n 8] [--guidance 3]
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

import common
from check import check
from clip import CLIPModel, CLIPTextModel
from clip_tokenizer import CLIPTokenizer
from dataset import heldout_prompts
from ddim import DDIM, sample_cfg
from safetensors_io import load_file
from train_clip import preprocess
from unet import UNet2DConditionModel

A = os.path.join(common.ROOT, "assets")


def jload(p):
    with open(p) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sd = os.path.join(A, "tiny-sd")
    tok = CLIPTokenizer(os.path.join(sd, "tokenizer"))
    te = CLIPTextModel(jload(os.path.join(sd, "text_encoder/config.json")))
    te.load_state_dict(load_file(os.path.join(sd, "text_encoder/model.safetensors"), as_torch=True))
    un = UNet2DConditionModel(jload(os.path.join(sd, "unet/config.json")))
    un.load_state_dict(load_file(os.path.join(sd, "unet/diffusion_pytorch_model.safetensors"), as_torch=True))
    ddim = DDIM(jload(os.path.join(sd, "scheduler/scheduler_config.json")))
    cp = os.path.join(A, "tiny-clip")
    cm = CLIPModel(jload(os.path.join(cp, "config.json")))
    cm.load_state_dict(load_file(os.path.join(cp, "model.safetensors"), as_torch=True))
    ctok = CLIPTokenizer(cp)
    for m in (te, un, cm):
        m.float().eval()
    prompts = heldout_prompts(a.prompts, seed=555)
    g = torch.Generator().manual_seed(0)
    rnd, best, orac, sp, sf = [], [], [], [], []
    with torch.no_grad():
        uncond = te(torch.tensor([tok("")]))[0]
        for p in prompts:
            cond = te(torch.tensor([tok(p)] * a.n))[0]
            x = sample_cfg(un, ddim, cond, uncond.expand_as(cond), steps=20, guidance=a.guidance, eta=1.0, generator=g)
            imgs = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
            ok = np.array([check(i, p)["ok"] for i in imgs])
            ie = F.normalize(cm.get_image_features(preprocess(imgs)), dim=-1)
            t = F.normalize(cm.get_text_features(torch.tensor([ctok(p)])), dim=-1)
            s = (ie @ t.t()).squeeze(1).numpy()
            rnd.append(ok.mean())
            best.append(float(ok[s.argmax()]))
            orac.append(float(ok.any()))
            sp += list(s[ok])
            sf += list(s[~ok])
            print(f"{p!r}: pass {ok.mean():.2f}, clip-best pass {ok[s.argmax()]}", flush=True)
    print(f"random {np.mean(rnd):.3f}  clip-best-of-{a.n} {np.mean(best):.3f}  oracle {np.mean(orac):.3f}")
    print(f"mean clip score: passing {np.mean(sp) if sp else float('nan'):.3f}  failing {np.mean(sf) if sf else float('nan'):.3f}")


if __name__ == "__main__":
    main()
