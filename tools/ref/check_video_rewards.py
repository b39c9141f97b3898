#!/usr/bin/env python3
"""Check the tiny video reward models of tools/train/video_reward.py against the real upstream
code: the state dicts load strictly (both ways) into the upstream modules and the rewards agree.

  Frame CLIP:  open_clip v2.24.0's `open_clip.model.CLIP` built from our config.json layout
               (embed_dim, vision_cfg, text_cfg, quick_gelu false); the score is HPSv2's
               score_fn: encode_image(normalize=True) . encode_text(normalize=True), per frame,
               then our mean over the frames.
  ViCLIP:      InternVid ViCLIP as vendored by T2V-Turbo (`viclip/viclip_vision.py`
               VisionTransformer, `viclip/viclip_text.py` CLIP_TEXT) under the names
               `vision_encoder.*` / `text_encoder.*` / `temp`, run through `ViCLIP.encode_vision
               (test=True)` and `get_vid_feat_with_grad`; the score is T2V-Turbo's vi_clip
               score_fn (ImageNet normalisation, cosine with the normalised text features).

Upstream code is not part of this repository.  Get it into a scratch folder:
  open_clip  github:mlfoundations/open_clip, tag v2.24.0 (src/open_clip)
  T2V-Turbo  github:Ji4chenLi/t2v-turbo  (checked with commit eaae323; its viclip/)
  einops     github:arogozhnikov/einops  (checked with commit ccb89f2)
and run
  /usr/bin/python3 tools/ref/check_video_rewards.py --open-clip DIR/open_clip/src \
      --t2v DIR/t2v-turbo --einops DIR/einops-parent [--frameclip CKPT] [--viclip CKPT]
With --frameclip / --viclip (a checkpoint of video_reward.py, or an exported folder) it checks
those weights; otherwise random weights of the default configs.  torchvision, timm and ftfy
(imported by upstream files for things not compared here: FrozenBatchNorm2d, DropPath with
rate 0, model registration, text cleaning) are replaced by small stubs.  Prints the max
|difference| per check and exits non-zero if any exceeds 1e-5 (relative to the scale).
"""
import argparse
import json
import os
import sys
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))


def stub(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def package(name, path):
    pkg = types.ModuleType(name)
    pkg.__path__ = [path]
    sys.modules[name] = pkg


def randomize(model, seed, std=0.2):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "ln_" in n and n.endswith("weight"):
                p.copy_(1 + std * torch.randn(p.shape, generator=g))
            elif n in ("temp",):
                p.fill_(0.05)
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))


def load_ours(path, stage):
    import video_reward as vr
    if path is None:
        return None
    if os.path.isdir(path):
        cfg = json.load(open(os.path.join(path, "config.json")))
        sd = torch.load(os.path.join(path, cfg["weights"]), map_location="cpu")
        sd = sd["model"] if "model" in sd and isinstance(sd["model"], dict) else sd
        keep = ("embed_dim", "num_frames", "vision_cfg", "text_cfg", "quick_gelu")
        m = vr.STAGES[stage][0]({k: v for k, v in cfg.items() if k in keep})
        m.load_state_dict(sd)
        return m.eval()
    st, m, _ = vr.load(path)
    assert st == stage, (path, st, stage)
    return m


def report(name, a, b, fails):
    d = float((a - b).abs().max())
    rel = d / max(1e-8, float(b.abs().max()))
    print(f"{name}: max |diff| {d:.3e} (relative {rel:.3e})")
    if rel > 1e-5:
        fails.append(name)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--open-clip", required=True, help="folder containing open_clip (v2.24.0)")
    p.add_argument("--t2v", required=True, help="T2V-Turbo checkout (for viclip/)")
    p.add_argument("--einops", required=True, help="folder containing einops")
    p.add_argument("--frameclip", default=None)
    p.add_argument("--viclip", default=None)
    a = p.parse_args()
    os.environ.setdefault("EVOKE_TRAIN_OUT", os.path.join(HERE, "..", "..", "out", "train"))
    sys.path.insert(0, a.einops)
    import video_reward as vr
    import video_data as vd
    from train_video import tokenizer
    tok, _ = tokenizer()
    V = len(tok.encoder)
    fails = []

    # ------------------------------------------------------------------ stubs for upstream imports
    class _Id(torch.nn.Module):
        def __init__(self, *args, **kw):
            super().__init__()

        def forward(self, x):
            return x
    stub("torchvision")
    stub("torchvision.ops")
    stub("torchvision.ops.misc", FrozenBatchNorm2d=torch.nn.BatchNorm2d)
    stub("timm")
    stub("timm.models")
    stub("timm.models.layers", DropPath=_Id)
    stub("timm.models.registry", register_model=lambda f: f)
    stub("ftfy", fix_text=lambda s: s)
    package("open_clip", os.path.join(a.open_clip, "open_clip"))
    package("viclip", os.path.join(a.t2v, "viclip"))
    import open_clip.model as OM
    import viclip.viclip_vision as VV
    import viclip.viclip_text as VT
    import viclip.viclip as VC

    rng = np.random.default_rng(3)
    clips, caps, _ = vd.render_batch(rng, 6)
    video01 = vr.to01(clips)
    caps = caps[:3] + [vd.caption(vd.random_scene(rng)) for _ in range(3)]

    # ------------------------------------------------------------------ frame CLIP vs open_clip.CLIP
    ours = load_ours(a.frameclip, "frameclip")
    if ours is None:
        ours = vr.FrameCLIP(vr.frameclip_config(V))
        randomize(ours, 1)
    cfg = ours.cfg
    up = OM.CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"], quick_gelu=cfg.get("quick_gelu", False))
    sd = ours.state_dict()
    r = up.load_state_dict(sd, strict=True)
    assert set(up.state_dict()) == set(sd), set(up.state_dict()) ^ set(sd)
    print(f"frame CLIP: {len(sd)} tensors load strictly into open_clip.model.CLIP ({r})")
    up.eval()
    ours.eval()
    with torch.no_grad():
        ids = vr.ids_for(tok, caps, cfg["text_cfg"]["context_length"])
        b, t = video01.shape[:2]
        x = video01.flatten(0, 1)
        mean = torch.tensor(vr.CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(vr.CLIP_STD).view(1, 3, 1, 1)
        fi = up.encode_image((x - mean) / std, normalize=True)
        ft = up.encode_text(ids, normalize=True)
        report("frame CLIP image features", ours.encode_image(x), fi, fails)
        report("frame CLIP text features", ours.encode_text(ids), ft, fails)
        hps = (fi.view(b, t, -1) * ft[:, None]).sum(-1).mean(1)  # HPSv2 score per frame, mean over frames
        report("frame CLIP reward (HPSv2 score_fn, mean over frames)", ours.reward(video01, ids), hps, fails)

    # ------------------------------------------------------------------ ViCLIP vs InternVid ViCLIP
    ours = load_ours(a.viclip, "viclip")
    if ours is None:
        ours = vr.ViCLIP(vr.viclip_config(V))
        randomize(ours, 2)
    cfg = ours.cfg
    v, tc = cfg["vision_cfg"], cfg["text_cfg"]
    vc = VC.ViCLIP.__new__(VC.ViCLIP)
    torch.nn.Module.__init__(vc)
    vc.masking_prob = 0.9
    vc.vision_encoder = VV.VisionTransformer(input_resolution=v["image_size"], patch_size=v["patch_size"], width=v["width"],
                                             layers=v["layers"], heads=v["heads"], output_dim=cfg["embed_dim"], kernel_size=1,
                                             num_frames=cfg["num_frames"], drop_path=0.0, checkpoint_num=0, dropout=0.0)
    vc.text_encoder = VT.CLIP_TEXT(cfg["embed_dim"], tc["context_length"], tc["vocab_size"], tc["width"], tc["heads"],
                                   tc["layers"], 0)
    vc.temp = torch.nn.Parameter(torch.ones([]) / 100.0)
    sd = ours.state_dict()
    r = vc.load_state_dict(sd, strict=True)
    assert set(vc.state_dict()) == set(sd), set(vc.state_dict()) ^ set(sd)
    print(f"ViCLIP: {len(sd)} tensors load strictly into InternVid ViCLIP (vision_encoder / text_encoder / temp) ({r})")
    vc.eval()
    with torch.no_grad():
        ids = vr.ids_for(tok, caps, tc["context_length"])
        mean = torch.tensor(vr.IMAGENET_MEAN).view(1, 1, 3, 1, 1)
        std = torch.tensor(vr.IMAGENET_STD).view(1, 1, 3, 1, 1)
        vf = vc.get_vid_feat_with_grad((video01 - mean) / std)  # T2V-Turbo's vi_clip score_fn
        tf = vc.text_encoder(ids)
        tf = tf / tf.norm(dim=-1, keepdim=True)
        report("ViCLIP video features", ours.encode_video(video01), vf, fails)
        report("ViCLIP text features", ours.encode_text(ids), tf, fails)
        report("ViCLIP reward (vi_clip score_fn)", ours.reward(video01, ids), (vf * tf).sum(-1), fails)
        # the temporal position embedding matters: reversing the frames changes the features
        rev = float((ours.encode_video(video01.flip(1)) - ours.encode_video(video01)).abs().max())
        print(f"ViCLIP features of the time-reversed clips differ by {rev:.3e}")
        if rev < 1e-4 and a.viclip is None:  # random weights: the temporal embedding is not zero
            fails.append("ViCLIP is blind to frame order")
    if fails:
        print("FAILED:", ", ".join(fails))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
