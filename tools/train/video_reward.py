#!/usr/bin/env python3
"""Tiny reward models for the video set: a per-frame CLIP (HPSv2-style, OpenCLIP's state-dict
format) and a ViCLIP-architecture video-text model (InternVid ViCLIP's state-dict format), both
trained contrastively with hard negatives on video_data.py's clips and captions.

Models (our PyTorch code, with the upstream parameter names; tools/ref/check_video_rewards.py
loads the state dicts strictly into the real open_clip / ViCLIP modules and compares outputs):
  FrameCLIP  = open_clip.CLIP (v2.24.0) with a VisionTransformer tower: `visual.conv1` (Conv2d,
      no bias), `visual.class_embedding`, `visual.positional_embedding`, `visual.ln_pre`,
      `visual.transformer.resblocks.N.{ln_1, attn.in_proj_weight/bias, attn.out_proj, ln_2,
      mlp.c_fc, mlp.c_proj}`, `visual.ln_post`, `visual.proj`; the text tower `token_embedding`,
      `positional_embedding`, `transformer.resblocks.N.*`, `ln_final`, `text_projection`;
      `logit_scale`.  GELU (open_clip's default; HPSv2's ViT-H-14 is not quick_gelu).  Image
      features = class token after ln_post @ proj; text features = the <eot> position (the
      largest id, open_clip's argmax pooling) after ln_final @ text_projection.
      Reward (as HPSv2's score_fn): cosine of the normalised image and text features, per frame,
      averaged over the frames.  Input frames in [0, 1] normalised with OpenAI CLIP's mean/std.
  ViCLIP     = InternVid's ViCLIP: `vision_encoder.*` = viclip_vision.VisionTransformer (Conv3d
      `conv1` with kernel (1, p, p), no bias; `class_embedding`, `positional_embedding`,
      `temporal_positional_embedding` [1, 8, width] added to every patch token per frame,
      `ln_pre`, `transformer.resblocks.N.*` with QuickGELU, `ln_post`, `proj`: class token);
      `text_encoder.*` = viclip_text.CLIP_TEXT (QuickGELU, context 32, causal mask, <eot>
      pooling); `temp`.  Reward (as T2V-Turbo's vi_clip score_fn): cosine of the normalised
      video features (8 frames [b, t, 3, H, W] in [0, 1], ImageNet mean/std) and text features.

Training (`frameclip` / `viclip` stages; resumable from $EVOKE_TRAIN_OUT/video/<stage>/ckpt.pt):
each step renders `--pairs` minimal pairs — a clip and the same clip (same seeds for sizes,
speeds, places and background) with exactly one attribute of one object changed (colour, shape,
or for ViCLIP also direction) — so every clip is its twin's hard negative on the video side and
every caption its twin's on the text side; plus one more one-attribute text negative per clip.
Symmetric InfoNCE with soft targets for equal captions (clips -> all texts, captions -> all
clips), learnable logit scale (open_clip: exp(logit_scale) clamped at 100; ViCLIP: 1 / temp,
temp clamped at 0.01 as upstream).  The frame CLIP sees `--frames-per-clip` random frames of
each clip (its negatives are colour and shape only: a single frame cannot show a direction).
AdamW, warm-up + cosine, grad clip 1.  Eval (`eval_reward`): ROC AUC of the reward for the
checker's verdict per attribute on held-out minimal pairs (seed 20261207, never trained on).

Export (`export` stage): DIR/open_clip_pytorch_model.bin (frame CLIP: a torch.save'd open_clip
state dict, as HPSv2's checkpoint holds one) or DIR/ViClip-tiny.pth (torch.save({"model":
state dict}), as the released ViClip-InternVid-10M-FLT.pth), each with DIR/config.json (what
evoke reads and the shapes cannot tell: vision_heads, text_heads, quick_gelu), DIR/training.json
(the model config as trained, its step, the preprocessing) and DIR/tokenizer/ (the domain BPE;
ids <sot> text <eot> then 0), which evoke reads beside the checkpoint.
"""
import argparse
import json
import math
import os
import shutil
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as Fn

import common
import video_check as vc
import video_data as vd
from train_video import VOUT, tokenizer, to_float, lr_at, save_atomic, log_row

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HELDOUT_SEED = 20261207


# ----------------------------------------------------------------------------- transformer parts

class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """open_clip / CLIP / ViCLIP residual block (L N D layout): ln_1, attn, ln_2, mlp.c_fc/c_proj."""

    def __init__(self, width, heads, mlp_ratio=4.0, quick_gelu=False):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        inner = int(width * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, inner)),
                                              ("gelu", QuickGELU() if quick_gelu else nn.GELU()),
                                              ("c_proj", nn.Linear(inner, width))]))

    def forward(self, x, mask=None):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, mlp_ratio=4.0, quick_gelu=False):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, mlp_ratio, quick_gelu)
                                        for _ in range(layers)])

    def forward(self, x, mask=None):
        for r in self.resblocks:
            x = r(x, mask)
        return x


def causal_mask(n):
    return torch.full((n, n), float("-inf")).triu_(1)


class TextTower(nn.Module):
    """CLIP's text transformer: token + position embedding, causal blocks, ln_final, the <eot>
    (argmax id) position @ text_projection.  Same module names in open_clip.CLIP (top level) and
    ViCLIP's CLIP_TEXT."""

    def __init__(self, vocab_size, width, layers, heads, context_length, embed_dim, quick_gelu):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.transformer = Transformer(width, layers, heads, 4.0, quick_gelu)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=width ** -0.5)
        self.register_buffer("attn_mask", causal_mask(context_length), persistent=False)

    def encode(self, ids):
        x = self.token_embedding(ids) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.attn_mask).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection


# ----------------------------------------------------------------------------- frame CLIP (open_clip)

class OpenCLIPVisual(nn.Module):
    """open_clip.transformer.VisionTransformer (class-token pooling, no attentional pool)."""

    def __init__(self, image_size, patch_size, width, layers, heads, mlp_ratio, output_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch_size, patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((image_size // patch_size) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, mlp_ratio, False)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):  # [n, 3, H, W] normalised
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + self.positional_embedding
        x = self.ln_pre(x)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0]) @ self.proj


class FrameCLIP(nn.Module):
    """open_clip.CLIP: `visual.*`, the text tower at the top level, `logit_scale`."""

    def __init__(self, cfg):
        super().__init__()
        v, t = cfg["vision_cfg"], cfg["text_cfg"]
        self.cfg = cfg
        self.visual = OpenCLIPVisual(v["image_size"], v["patch_size"], v["width"], v["layers"],
                                     v["width"] // v["head_width"], v["mlp_ratio"], cfg["embed_dim"])
        txt = TextTower(t["vocab_size"], t["width"], t["layers"], t["heads"], t["context_length"],
                        cfg["embed_dim"], False)
        # open_clip.CLIP keeps the text modules at the top level
        self.token_embedding, self.positional_embedding = txt.token_embedding, txt.positional_embedding
        self.transformer, self.ln_final, self.text_projection = txt.transformer, txt.ln_final, txt.text_projection
        self.register_buffer("attn_mask", txt.attn_mask, persistent=False)
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    encode_ids = TextTower.encode

    def encode_text(self, ids):
        return Fn.normalize(self.encode_ids(ids), dim=-1)

    def encode_image(self, x01):  # [n, 3, H, W] in [0, 1]
        return Fn.normalize(self.visual((x01 - self.mean) / self.std), dim=-1)

    def reward(self, video01, ids):
        """video [b, t, 3, H, W] in [0, 1], ids [b, L] -> mean over frames of the cosine."""
        b, t = video01.shape[:2]
        img = self.encode_image(video01.flatten(0, 1)).view(b, t, -1)
        return (img * self.encode_text(ids)[:, None]).sum(-1).mean(1)

    def scale(self):
        return self.logit_scale.exp().clamp(max=100)


def frameclip_config(vocab_size):
    """open_clip's model-config layout (as ViT-H-14.json) for the tiny frame CLIP."""
    return {"embed_dim": 64, "quick_gelu": False,
            "vision_cfg": {"image_size": 32, "layers": 4, "width": 64, "head_width": 32, "patch_size": 4,
                           "mlp_ratio": 4.0},
            "text_cfg": {"context_length": 77, "vocab_size": vocab_size, "width": 64, "heads": 2, "layers": 3}}


# ----------------------------------------------------------------------------- ViCLIP

class ViCLIPVision(nn.Module):
    """InternVid viclip_vision.VisionTransformer (kernel_size 1, no masking at scoring)."""

    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim, num_frames):
        super().__init__()
        self.conv1 = nn.Conv3d(3, width, (1, patch_size, patch_size), (1, patch_size, patch_size), (0, 0, 0), bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.temporal_positional_embedding = nn.Parameter(torch.zeros(1, num_frames, width))
        self.transformer = Transformer(width, layers, heads, 4.0, True)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, output_dim))
        nn.init.normal_(self.proj, std=scale)

    def forward(self, x):  # [B, 3, T, H, W] normalised
        x = self.conv1(x)
        B, C, T, H, W = x.shape
        x = x.permute(0, 2, 3, 4, 1).reshape(B * T, H * W, C)
        x = x + self.positional_embedding[1:]
        x = x.reshape(B, T, H * W, C) + self.temporal_positional_embedding[:, :, None]
        x = x.permute(0, 2, 1, 3).reshape(B, H * W * T, C)  # '(b n) t m -> b (n t) m'
        cls = (self.class_embedding + self.positional_embedding[0]).expand(B, 1, C)
        x = self.ln_pre(torch.cat([cls, x], 1))
        x = self.transformer(x.permute(1, 0, 2))
        return self.ln_post(x)[0] @ self.proj


class ViCLIP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v, t = cfg["vision_cfg"], cfg["text_cfg"]
        self.cfg = cfg
        self.vision_encoder = ViCLIPVision(v["image_size"], v["patch_size"], v["width"], v["layers"], v["heads"],
                                           cfg["embed_dim"], cfg["num_frames"])
        self.text_encoder = TextTower(t["vocab_size"], t["width"], t["layers"], t["heads"], t["context_length"],
                                      cfg["embed_dim"], True)
        self.temp = nn.Parameter(torch.ones([]) / 100.0 * 7.0)  # upstream init 1/100; start softer
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1), persistent=False)

    def encode_text(self, ids):
        return Fn.normalize(self.text_encoder.encode(ids), dim=-1)

    def encode_video(self, video01):  # [b, t, 3, H, W] in [0, 1]
        x = ((video01 - self.mean) / self.std).permute(0, 2, 1, 3, 4)
        return Fn.normalize(self.vision_encoder(x), dim=-1)

    def reward(self, video01, ids):
        return (self.encode_video(video01) * self.encode_text(ids)).sum(-1)

    def scale(self):
        return 1.0 / self.temp.clamp(min=0.01)


def viclip_config(vocab_size):
    return {"embed_dim": 64, "num_frames": 8,
            "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 4, "heads": 2},
            "text_cfg": {"context_length": 32, "vocab_size": vocab_size, "width": 64, "heads": 2, "layers": 3}}


# ----------------------------------------------------------------------------- data

ATTRS = ("colour", "shape", "direction")


def change_spec(spec, attr, rng):
    """spec with one attribute of one object changed (colours stay distinct)."""
    spec = [list(o) for o in spec]
    i = int(rng.integers(len(spec)))
    k = ATTRS.index(attr)
    used = {o[0] for o in spec}
    pool = ([c for c in vd.CNAMES if c not in used], [s for s in vd.SHAPES if s != spec[i][1]],
            [d for d in vd.DIRS if d != spec[i][2]])[k]
    spec[i][k] = pool[int(rng.integers(len(pool)))]
    return [tuple(o) for o in spec]


def spec_caption(spec):
    return " and ".join(f"a {c} {s} moving {d}" for c, s, d in spec)


def minimal_pair(seed, attrs):
    """-> (clip, caption, twin clip, twin caption): the twin has one attribute changed and is
    drawn with the same seeds (sizes, speeds, places, background, colour jitter)."""
    r = np.random.default_rng(seed)
    spec = vd.random_spec(r)
    attr = attrs[int(r.integers(len(attrs)))]
    spec2 = change_spec(spec, attr, r)
    sa, sb = int(r.integers(1 << 62)), int(r.integers(1 << 62))
    out = []
    for sp in (spec, spec2):
        sc = vd.scene_from_spec(sp, np.random.default_rng(sa))
        out += [vd.render(sc, np.random.default_rng(sb)), spec_caption(sp)]
    return out + [attr]


def batch(seed, n_pairs, attrs, text_negs=True):
    rng = np.random.default_rng(seed)
    clips, caps = [], []
    for k in range(n_pairs):
        c1, t1, c2, t2, _ = minimal_pair([seed, k] if isinstance(seed, int) else list(seed) + [k], attrs)
        clips += [c1, c2]
        caps += [t1, t2]
    texts = list(caps)
    if text_negs:
        for t in caps:
            texts.append(spec_caption(change_spec(vd.parse(t), attrs[int(rng.integers(len(attrs)))], rng)))
    return np.stack(clips), caps, texts


def to01(clips):
    return (to_float(clips) + 1) / 2


# ----------------------------------------------------------------------------- train / eval

STAGES = {"frameclip": (FrameCLIP, frameclip_config, ("colour", "shape")),
          "viclip": (ViCLIP, viclip_config, ATTRS)}


def ids_for(tok, texts, n):
    out = []
    for t in texts:
        ids = [tok.bos_id] + tok.tokenize(t)[: n - 2] + [tok.eos_id]
        out.append(ids + [0] * (n - len(ids)))
    return torch.tensor(out, dtype=torch.long)


def contrastive(model, stage, clips01, caps, texts, tok, fpc, gen):
    ids = ids_for(tok, texts, model.cfg["text_cfg"]["context_length"])
    tf = model.encode_text(ids)
    if stage == "frameclip":
        b, t = clips01.shape[:2]
        idx = torch.stack([torch.randperm(t, generator=gen)[:fpc] for _ in range(b)])
        frames = clips01[torch.arange(b)[:, None], idx].flatten(0, 1)
        vf = model.encode_image(frames)
        vcaps = [c for c in caps for _ in range(fpc)]
    else:
        vf = model.encode_video(clips01)
        vcaps = caps
    s = model.scale()
    logits = s * vf @ tf.t()  # [n_video, n_text]
    eq = torch.tensor([[a == b for b in texts] for a in vcaps], dtype=torch.float32)
    l_v = -(eq / eq.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    # captions -> all videos (only the positive captions, the first len(caps) texts)
    lt = logits[:, :len(caps)].t()
    eqt = eq[:, :len(caps)].t()
    l_t = -(eqt / eqt.sum(1, keepdim=True) * lt.log_softmax(1)).sum(1).mean()
    acc = float((logits.argmax(1) == torch.tensor([texts.index(c) for c in vcaps])).float().mean())
    return (l_v + l_t) / 2, acc


def auc(pos, neg):
    """ROC AUC by ranks (ties count half)."""
    pos, neg = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    gt = (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
    return float(gt / (len(pos) * len(neg)))


@torch.no_grad()
def eval_reward(model, tok, n=150, seed=HELDOUT_SEED, chunk=64):
    """Held-out minimal pairs per attribute: ROC AUC of the reward for the checker's `ok` over
    the 4 (clip, caption) combinations of each pair, and the fraction of pairs where both the
    right clip beats the twin clip for the caption and the right caption beats the twin caption
    for the clip."""
    model.eval()
    res, allp, alln = {}, [], []
    L = model.cfg["text_cfg"]["context_length"]
    for ai, attr in enumerate(ATTRS):
        items = [minimal_pair([seed, ai, k], (attr,)) for k in range(n)]
        clips, texts, labels = [], [], []
        for c1, t1, c2, t2, _ in items:
            for c, t in ((c1, t1), (c2, t1), (c1, t2), (c2, t2)):
                clips.append(c)
                texts.append(t)
                labels.append(vc.check(c, t)["ok"])
        scores = []
        for i in range(0, len(clips), chunk):
            scores.append(model.reward(to01(np.stack(clips[i:i + chunk])), ids_for(tok, texts[i:i + chunk], L)))
        s = torch.cat(scores).numpy()
        lab = np.array(labels, bool)
        q = s.reshape(n, 4)
        res[attr] = auc(s[lab], s[~lab])
        res[attr + "_pair"] = float(np.mean((q[:, 0] > q[:, 1]) & (q[:, 0] > q[:, 2]) & (q[:, 3] > q[:, 1])
                                            & (q[:, 3] > q[:, 2])))
        res[attr + "_labels"] = f"{lab.sum()}/{len(lab)}"
        allp.append(s[lab])
        alln.append(s[~lab])
    res["all"] = auc(np.concatenate(allp), np.concatenate(alln))
    model.train()
    return res


def train(a):
    d = os.path.join(VOUT, a.stage)
    os.makedirs(d, exist_ok=True)
    tok, _ = tokenizer()
    cls, cfgf, attrs = STAGES[a.stage]
    cfg = cfgf(len(tok.encoder))
    torch.manual_seed(a.seed)
    model = cls(cfg)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=a.lr)
    step, ck = 0, os.path.join(d, "ckpt.pt")
    if os.path.exists(ck):
        s = torch.load(ck)
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        step = s["step"]
        print(f"resumed {a.stage} at step {step}", flush=True)
    print(f"{a.stage} params {sum(p.numel() for p in model.parameters()):,}", flush=True)
    t0, losses, accs = time.time(), [], []
    while step < a.steps:
        clips, caps, texts = batch([a.seed, 3, step], a.pairs, attrs)
        gen = torch.Generator().manual_seed(a.seed * 7919 + step)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        loss, acc = contrastive(model, a.stage, to01(clips), caps, texts, tok, a.frames_per_clip, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            if a.stage == "frameclip":
                model.logit_scale.clamp_(0, math.log(100))
            else:
                model.temp.clamp_(min=0.01)
        step += 1
        losses.append(loss.item())
        accs.append(acc)
        if step % 25 == 0:
            m, ma = float(np.mean(losses[-25:])), float(np.mean(accs[-25:]))
            print(f"{a.stage} step {step} loss {m:.4f} acc {ma:.3f} scale {float(model.scale()):.1f} "
                  f"lr {lr_at(step, a):.2e} {time.time() - t0:.0f}s", flush=True)
            log_row(os.path.join(d, "log.csv"), {"step": step, "loss": m, "acc": ma, "elapsed": round(time.time() - t0)})
        if step % a.save_every == 0 or step == a.steps:
            save_atomic({"step": step, "model": model.state_dict(), "opt": opt.state_dict(), "config": cfg}, ck)
        if step % a.eval_every == 0 or step == a.steps:
            save_atomic({"step": step, "model": model.state_dict(), "config": cfg}, os.path.join(d, f"{a.stage}_{step}.pt"))
            te = time.time()
            r = eval_reward(model, tok, n=a.eval_pairs)
            print(f"{a.stage} eval step {step}: " + " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                           for k, v in r.items()) + f" ({time.time() - te:.0f}s)",
                  flush=True)
            log_row(os.path.join(d, "curve.csv"), dict(step=step, loss=float(np.mean(losses[-100:])),
                                                       elapsed=round(time.time() - t0),
                                                       **{k: v for k, v in r.items() if isinstance(v, float)}))


def load(path):
    """A training checkpoint (ckpt.pt / <stage>_<step>.pt) -> (stage, model)."""
    s = torch.load(path, map_location="cpu")
    cfg = s["config"]
    stage = "viclip" if "num_frames" in cfg else "frameclip"
    m = STAGES[stage][0](cfg)
    m.load_state_dict(s["model"])
    return stage, m.eval(), s.get("step", 0)


def export(path, dest):
    stage, m, step = load(path)
    os.makedirs(dest, exist_ok=True)
    cfg = json.loads(json.dumps(m.cfg))
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    if stage == "frameclip":
        fn = "open_clip_pytorch_model.bin"
        save_atomic(sd, os.path.join(dest, fn))
        runtime = {"vision_heads": cfg["vision_cfg"]["width"] // cfg["vision_cfg"]["head_width"],
                   "text_heads": cfg["text_cfg"]["heads"], "quick_gelu": False}
        info = {"architecture": "open_clip", "image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD),
                "score": "cosine per frame, mean over frames (HPSv2 score_fn)"}
    else:
        fn = "ViClip-tiny.pth"
        save_atomic({"model": sd}, os.path.join(dest, fn))
        runtime = {"vision_heads": cfg["vision_cfg"]["heads"], "text_heads": cfg["text_cfg"]["heads"], "quick_gelu": True}
        info = {"architecture": "viclip", "mlp_ratio": 4.0, "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD),
                "score": "cosine of video and text features (T2V-Turbo vi_clip score_fn)"}
    # config.json holds what the runtime reads (evk_openclip_config_parse rejects other keys);
    # training.json the rest: the model config as trained, its step, the preprocessing.
    with open(os.path.join(dest, "config.json"), "w") as f:
        json.dump(runtime, f, indent=2)
    cfg.update(info)
    cfg.update({"weights": fn, "training_step": step, "pad_id": 0})
    with open(os.path.join(dest, "training.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    _, tokdir = tokenizer()
    os.makedirs(os.path.join(dest, "tokenizer"), exist_ok=True)
    for f in common.TOK_FILES:
        shutil.copyfile(os.path.join(tokdir, f), os.path.join(dest, "tokenizer", f))
    print(f"exported {stage} step {step} to {dest}/{fn} ({os.path.getsize(os.path.join(dest, fn)) / 1e6:.2f} MB)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["frameclip", "viclip", "eval", "export"])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--pairs", type=int, default=32, help="minimal pairs per step (2x clips)")
    p.add_argument("--frames-per-clip", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lr-min", type=float, default=5e-5)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--eval-pairs", type=int, default=100)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ckpt", default=None, help="eval/export: a checkpoint of either stage")
    p.add_argument("--dest", default=None, help="export: destination folder")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.stage in STAGES:
        train(a)
    elif a.stage == "eval":
        tok, _ = tokenizer()
        stage, m, step = load(a.ckpt)
        r = eval_reward(m, tok, n=a.eval_pairs)
        print(f"{stage} step {step}: " + " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    else:
        export(a.ckpt, a.dest)


if __name__ == "__main__":
    main()
