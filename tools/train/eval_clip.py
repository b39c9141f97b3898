"""How well does the tiny CLIP reward agree with the pixel checker?  ROC AUC per claim.

The reward of (image, prompt) is the cosine of the normalised CLIP embeddings (what
`evoke score` / the searches maximise).  The label is check.py's verdict (the C verifier's
twin).  The checker only labels here: it is never a training target and never a reward.

1. Held-out renders (seed 2026, never drawn in training): for each claim (colour, shape,
   size, position, relation, swap = the two objects exchanged, rounded = a square drawn with
   rounded corners, which the checker calls a circle) N scenes are rendered twice with the
   same background and geometry: as captioned, and with that one claim changed (a minimal
   pair).  Both images are scored against the caption; AUC of the reward for the checker's
   `ok` over those 2N (image, caption) pairs, pooled over captions (so it also needs the
   reward to be comparable across prompts), plus `paired`, the fraction of pairs ranked the
   right way round (what a search over one prompt needs).  `all` pools every claim.
2. Model samples (--samples N): N samples for each of P held-out prompts (seed 555 prompts,
   not the t2i eval's) from an exported text-to-image folder, DDIM 8 steps, eta 1, guidance 2
   (the searches' setting), cached in OUT/reward_eval/.  AUC of the reward for each checker
   verdict (colour, shape, position, size, ok), pooled over all samples and, `within`, the mean
   over prompts whose samples both pass and fail (the Best-of-N view).

    /usr/bin/python3 tools/train/eval_clip.py [--clip assets/tiny-clip | CKPT.pt]
        [--n 300] [--samples 8 --prompts 40 --sd assets/tiny-sd] [--json FILE]
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

import common
from check import check
from dataset import caption, claims, negative_scene, random_scene, render, render_twin, rounded_scene

CLAIM_ROWS = ("colour", "shape", "size", "position", "relation", "swap", "rounded")
VERDICTS = ("colour", "shape", "position", "size", "ok")


def auc(scores, labels):
    """ROC AUC (Mann-Whitney U with ties counted 1/2); nan if one class is empty."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ss = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and ss[j + 1] == ss[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def load_clip(path):
    """An exported CLIPModel folder or a train_clip.py checkpoint -> (model, tokenizer)."""
    from clip import CLIPModel
    from clip_tokenizer import CLIPTokenizer
    if os.path.isdir(path):
        m = CLIPModel(common.load_json(os.path.join(path, "config.json")))
        m.load_state_dict(common.load_weights(os.path.join(path, "model.safetensors")))
        tok = CLIPTokenizer(path)
    else:
        ck = torch.load(path, map_location="cpu")
        m = CLIPModel(ck["config"])
        m.load_state_dict(ck["model"])
        tok = common.tokenizer()
    return m.float().eval(), tok


@torch.no_grad()
def reward(model, tok, imgs, caps, batch=256):
    from train_clip import preprocess
    out = []
    tcache = {}
    for c in set(caps):
        tcache[c] = F.normalize(model.get_text_features(torch.tensor([tok(c)])), dim=-1)[0]
    for i in range(0, len(imgs), batch):
        ie = F.normalize(model.get_image_features(preprocess(np.asarray(imgs[i:i + batch]))), dim=-1)
        te = torch.stack([tcache[c] for c in caps[i:i + batch]])
        out.append((ie * te).sum(-1))
    return torch.cat(out).numpy()


def render_pairs(n, seed=2026):
    """-> {claim: (images (2n,32,32,3), captions, checker ok)}; rows 0..n-1 as captioned,
    n..2n-1 the same scene with the claim changed."""
    rng = np.random.default_rng(seed)
    res = {}
    for claim in CLAIM_ROWS:
        pos, neg, caps = [], [], []
        while len(caps) < n:
            sc = random_scene(rng, full=True)
            if claim == "rounded":
                bad = rounded_scene(sc, rng)
                if bad is None:
                    continue
            else:
                if claim not in claims(sc):
                    continue
                bad = negative_scene(sc, rng, claim)[0]
            twin = render_twin(sc, rng)
            pos.append(render(sc, rng))
            neg.append(render(bad, twin))
            caps.append(caption(sc))
        imgs = np.stack(pos + neg)
        caps = caps + caps
        ok = np.array([check(i, c)["ok"] for i, c in zip(imgs, caps)])
        res[claim] = (imgs, caps, ok)
    return res


_PAIRS = {}


def renders_auc(model, tok, n=300, seed=2026):
    """AUC per claim on held-out minimal pairs -> dict (auc_<claim>, paired_<claim>, auc_all)."""
    if (n, seed) not in _PAIRS:
        _PAIRS[(n, seed)] = render_pairs(n, seed)
    out, S, Y = {}, [], []
    for claim, (imgs, caps, ok) in _PAIRS[(n, seed)].items():
        s = reward(model, tok, imgs, caps)
        out[f"auc_{claim}"] = auc(s, ok)
        out[f"paired_{claim}"] = float(np.mean(s[:n] > s[n:]))
        S.append(s)
        Y.append(ok)
    out["auc_all"] = auc(np.concatenate(S), np.concatenate(Y))
    return out


@torch.no_grad()
def model_samples(sd, prompts, n, steps=8, guidance=2.0, seed=0):
    from clip import CLIPTextModel
    from clip_tokenizer import CLIPTokenizer
    from ddim import DDIM, sample_cfg
    from unet import UNet2DConditionModel
    tok = CLIPTokenizer(os.path.join(sd, "tokenizer"))
    te = CLIPTextModel(common.load_json(os.path.join(sd, "text_encoder/config.json")))
    te.load_state_dict(common.load_weights(os.path.join(sd, "text_encoder/model.safetensors")))
    un = UNet2DConditionModel(common.load_json(os.path.join(sd, "unet/config.json")))
    un.load_state_dict(common.load_weights(os.path.join(sd, "unet/diffusion_pytorch_model.safetensors")))
    te.eval()
    un.eval()
    ddim = DDIM(common.load_json(os.path.join(sd, "scheduler/scheduler_config.json")))
    g = torch.Generator().manual_seed(seed)
    uncond = te(torch.tensor([tok("")]))[0]
    imgs, caps = [], []
    for p in prompts:
        cond = te(torch.tensor([tok(p)] * n))[0]
        x = sample_cfg(un, ddim, cond, uncond.expand_as(cond), steps=steps, guidance=guidance, eta=1.0, generator=g)
        imgs.append(((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy())
        caps += [p] * n
    return np.concatenate(imgs), caps


def samples_auc(model, tok, imgs, caps, verdicts):
    s = reward(model, tok, imgs, caps)
    out = {}
    for k in VERDICTS:
        y = np.array([v[k] for v in verdicts])
        out[f"auc_{k}"] = auc(s, y)
        per = []
        for p in dict.fromkeys(caps):
            m = np.array([c == p for c in caps])
            a = auc(s[m], y[m])
            if a == a:
                per.append(a)
        out[f"within_{k}"] = float(np.mean(per)) if per else float("nan")
        out[f"within_n_{k}"] = len(per)
        out[f"rate_{k}"] = float(y.mean())
    return out


def main():
    from dataset import heldout_prompts
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default=os.path.join(common.ASSETS, "tiny-clip"))
    ap.add_argument("--n", type=int, default=300, help="minimal pairs per claim")
    ap.add_argument("--samples", type=int, default=0, help="model samples per prompt (0: renders only)")
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--sd", default=os.path.join(common.ASSETS, "tiny-sd"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, tok = load_clip(a.clip)
    res = {"clip": a.clip, "renders": renders_auc(model, tok, a.n)}
    r = res["renders"]
    print("held-out renders (minimal pairs, %d per claim): AUC / paired accuracy" % a.n)
    for c in CLAIM_ROWS:
        print(f"  {c:9s} {r['auc_' + c]:.3f} / {r['paired_' + c]:.3f}")
    print(f"  all       {r['auc_all']:.3f}")
    if a.samples:
        from safetensors_io import read_header
        step = read_header(os.path.join(a.sd, "unet", "diffusion_pytorch_model.safetensors"))[1].get("step", "?")
        cache = os.path.join(common.OUT, "reward_eval", f"samples_step{step}_p{a.prompts}_n{a.samples}.npz")
        if os.path.exists(cache):
            z = np.load(cache)
            imgs, caps = z["imgs"], [str(c) for c in z["caps"]]
        else:
            imgs, caps = model_samples(a.sd, heldout_prompts(a.prompts, seed=555), a.samples)
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            np.savez_compressed(cache, imgs=imgs, caps=np.array(caps))
        verdicts = [check(i, c) for i, c in zip(imgs, caps)]
        s = samples_auc(model, tok, imgs, caps, verdicts)
        res["samples"] = dict(s, sd=a.sd, sd_step=step, n=len(caps))
        print(f"model samples ({a.sd} step {step}, {a.prompts} prompts x {a.samples}, DDIM 8 eta 1 cfg 2): "
              "pass rate, AUC pooled, AUC within prompt (prompts)")
        for k in VERDICTS:
            print(f"  {k:9s} {s['rate_' + k]:.3f}  {s['auc_' + k]:.3f}  {s['within_' + k]:.3f} ({s['within_n_' + k]})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
