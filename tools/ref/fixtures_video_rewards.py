#!/usr/bin/env python3
"""fixtures_video_rewards.py — the fixtures of tests/rewards/test_reward_video.c and
tests/cli/cli_score_video.sh: HPSv2 (per frame), ViCLIP (per clip) and T2V-Turbo's mixed reward
computed by the upstream reward code itself on tiny random-weight models.

The reference is the upstream code, run from a scratch folder outside this repository:

  HPSv2       github.com/tgxs002/HPSv2  866735ecaae999fa714bd9edfa05aa2672669ee3
              (hpsv2.src.open_clip: create_model_and_transforms(..., light_augmentation=True),
              get_tokenizer; the model's CLIP / VisionTransformer / TextTransformer)
  T2V-Turbo   github.com/Ji4chenLi/t2v-turbo  eaae323f10d136796a33e8f5304ed50e40def570
              (reward_fn.reward_fn.get_hpsv2_fn and get_vi_clip_score_fn, viclip.ViCLIP with its
              VisionTransformer and CLIP_TEXT)
  einops      github.com/arogozhnikov/einops ccb89f27599f26d7140a1bd2703305309fe3a3bd

Packages the code imports but that are not installed are stand-ins in SHIM: torchvision's tensor
transforms as torchvision >= 0.17 runs them (Resize / F.resize = torch's bicubic interpolate with
antialias=True, F.pad, CenterCrop, RandomCrop, Normalize), timm's DropPath (identity in eval) and
register_model, transformers / huggingface_hub / clint / tqdm / turtle placeholders, ftfy.fix_text
as the identity (the prompts are plain ASCII). Usage:

  PYTHONPATH=SHIM:EINOPS:HPSV2:T2V_TURBO /usr/bin/python3 tools/ref/fixtures_video_rewards.py [tests/data/nets/vrewards]

How the upstream code is made tiny, and the two places where it draws at random:
- get_hpsv2_fn builds open_clip's "ViT-H-14" and loads ~/.cache/hpsv2/HPS_v2.1_compressed.pt: the
  registry's ViT-H-14 config is replaced by a tiny one (embed 8; vision 16×16 images, patch 4,
  width 16, 2 layers, head width 8; text width 4, 2 heads, 2 layers, the full 49,408-token
  vocabulary) and HOME points at a scratch folder holding the tiny checkpoint.
- get_vi_clip_score_fn builds ViCLIP("l"): viclip.viclip's clip_joint_l14 / clip_text_l14 are
  replaced by the same classes at tiny sizes (vision 16×16, patch 4, width 16, 2 layers, 2 heads,
  8 frames, output 8; text context 32, width 4, 2 heads, 2 layers, output 8).
- score_fn's ResizeCropMinSize(224) is set to the tiny model's 16; it crops at random; evoke crops at the center (rounding as torchvision's
  CenterCrop does), so the fixture sets that crop to torchvision's CenterCrop.
- T2V-Turbo's training loop feeds ViCLIP 8 frames arange(start, T, T // 8)[:8] with start drawn in
  [0, T // 8); evoke takes start 0.

PickScore (a transformers CLIPModel folder, T2V-Turbo's get_pick_score_fn) needs transformers,
which is not installed: pickscore_tiny/ holds the tiny HPSv2 weights renamed to CLIPModel's
layout with laion ViT-H's config traits, and is checked against the HPSv2 score on square frames,
where the two preprocessings coincide (see pickscore_folder).

Written (seeded, identical on re-runs):
  hpsv2_tiny/HPS_v2.1_compressed.pt  torch.save({"state_dict": CLIP.state_dict()}), f16 values
  hpsv2_tiny/config.json             {"vision_heads": 2, "text_heads": 2}
  viclip_tiny/viclip.pth             torch.save({"model": ViCLIP.state_dict()}), f16 values
  viclip_tiny/config.json            {"vision_heads": 2, "text_heads": 2}
  clip0.npy, clip1.npy               two clips [17, 12, 20, 3] in [0, 1] (frames of 12×20: HPSv2
                                     shrinks and letterboxes them, ViCLIP enlarges and crops)
  pickscore_tiny/                    config.json + model.safetensors (f16) of the same weights
  square.npy                         a clip [4, 24, 24, 3] (square frames)
  hpsv2.json, viclip.json, mixed.json, pickscore.json  reward JSONs (mixed: 1.0 · frame mean of HPSv2 + 2.0 · ViCLIP)
  expected.json                      the prompt, HPSv2 per frame, their mean, ViCLIP, mixed, and
                                     HPSv2 on square.npy per frame and mean
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch

PROMPT = "a red circle moving left on a blue background"
FRAMES, H, W = 17, 12, 20


def f16_exact(sd):
    return {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}


def hps_reference(out, clips):
    import hpsv2.src.open_clip.factory as factory
    factory._MODEL_CONFIGS["ViT-H-14"] = {
        "embed_dim": 8,
        "vision_cfg": {"image_size": 16, "layers": 2, "width": 16, "head_width": 8, "patch_size": 4},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 4, "heads": 2, "layers": 2},
    }
    torch.manual_seed(1)
    model = factory.create_model("ViT-H-14")
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("logit_scale"):
                continue
            p.copy_(torch.randn_like(p) * (0.5 if p.ndim > 1 else 0.2) + (1.0 if ".ln" in n and n.endswith("weight") else 0.0))
        model.text_projection.mul_(0.5)
        model.visual.proj.mul_(0.5)
    sd = f16_exact(model.state_dict())
    d = os.path.join(out, "hpsv2_tiny")
    os.makedirs(d, exist_ok=True)
    torch.save({"state_dict": sd}, os.path.join(d, "HPS_v2.1_compressed.pt"))
    json.dump({"vision_heads": 2, "text_heads": 2}, open(os.path.join(d, "config.json"), "w"), indent=1)
    home = tempfile.mkdtemp()
    os.makedirs(os.path.join(home, ".cache", "hpsv2"))
    torch.save({"state_dict": sd}, os.path.join(home, ".cache", "hpsv2", "HPS_v2.1_compressed.pt"))
    os.environ["HOME"] = home
    from reward_fn.reward_fn import get_hpsv2_fn
    score_fn = get_hpsv2_fn(precision="fp32")
    per_frame = []
    with torch.no_grad():
        for c in clips:
            frames = torch.from_numpy(c).permute(0, 3, 1, 2).contiguous()  # [T, 3, H, W]
            per_frame.append(score_fn(frames, [PROMPT]).double().tolist())
    return per_frame, sd, score_fn


def pickscore_folder(out, sd, score_fn):
    """The tiny HPSv2 weights as a PickScore_v1-style transformers CLIPModel folder (config.json with
    laion's ViT-H traits: gelu, legacy eos_token_id 2; model.safetensors; no tokenizer or
    preprocessor files, as PickScore_v1 takes laion's processor). On square frames T2V-Turbo's
    PickScore preprocessing (Resize((S, S)), CenterCrop(S), OpenAI mean/std), the CLIPModel folder's
    defaults and HPSv2's letterbox coincide, so the expected scores are HPSv2's, from the upstream
    score function on a square clip."""
    import safetensors_io as st
    f = {k: v.float() for k, v in sd.items()}
    t = {}
    def layers(src, dst, n):
        for i in range(n):
            a, b = f"{src}transformer.resblocks.{i}.", f"{dst}encoder.layers.{i}."
            for x, y in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2"),
                         ("attn.out_proj", "self_attn.out_proj")):
                for w in ("weight", "bias"):
                    t[f"{b}{y}.{w}"] = f[f"{a}{x}.{w}"]
            for w in ("weight", "bias"):
                q, k, v = f[f"{a}attn.in_proj_{w}"].chunk(3, 0)
                t[f"{b}self_attn.q_proj.{w}"], t[f"{b}self_attn.k_proj.{w}"], t[f"{b}self_attn.v_proj.{w}"] = q, k, v
    layers("visual.", "vision_model.", 2)
    layers("", "text_model.", 2)
    t["vision_model.embeddings.patch_embedding.weight"] = f["visual.conv1.weight"]
    t["vision_model.embeddings.class_embedding"] = f["visual.class_embedding"]
    t["vision_model.embeddings.position_embedding.weight"] = f["visual.positional_embedding"]
    for x, y in (("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")):
        for w in ("weight", "bias"):
            t[f"vision_model.{y}.{w}"] = f[f"visual.{x}.{w}"]
    t["text_model.embeddings.token_embedding.weight"] = f["token_embedding.weight"]
    t["text_model.embeddings.position_embedding.weight"] = f["positional_embedding"]
    for w in ("weight", "bias"):
        t[f"text_model.final_layer_norm.{w}"] = f[f"ln_final.{w}"]
    t["visual_projection.weight"] = f["visual.proj"].t().contiguous()
    t["text_projection.weight"] = f["text_projection"].t().contiguous()
    t["logit_scale"] = f["logit_scale"]
    d = os.path.join(out, "pickscore_tiny")
    os.makedirs(d, exist_ok=True)
    st.save_file({k: v.half().numpy() for k, v in t.items()}, os.path.join(d, "model.safetensors"))
    common = {"hidden_act": "gelu", "layer_norm_eps": 1e-5, "num_hidden_layers": 2, "projection_dim": 8}
    cfg = {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 8, "logit_scale_init_value": 2.6592,
           "text_config": dict(common, hidden_size=4, intermediate_size=16, num_attention_heads=2, max_position_embeddings=77,
                               vocab_size=49408, bos_token_id=0, eos_token_id=2, pad_token_id=1),
           "vision_config": dict(common, hidden_size=16, intermediate_size=64, num_attention_heads=2, image_size=16, patch_size=4,
                                 num_channels=3)}
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:24, 0:24] / 24.0
    sq = np.clip(np.stack([x, y, x * y], -1)[None] * 0.6 + 0.2 + 0.1 * rng.standard_normal((4, 24, 24, 3)), 0, 1).astype(np.float32)
    np.save(os.path.join(out, "square.npy"), sq)
    with torch.no_grad():
        s = score_fn(torch.from_numpy(sq).permute(0, 3, 1, 2).contiguous(), [PROMPT]).double().tolist()
    json.dump({"type": "clip_score", "model": "pickscore_tiny"}, open(os.path.join(out, "pickscore.json"), "w"))
    return s


def viclip_reference(out, clips):
    import viclip.viclip as vm
    from viclip.viclip_text import CLIP_TEXT
    from viclip.viclip_vision import VisionTransformer

    def tiny_vision(pretrained=False, input_resolution=224, kernel_size=1, center=True, num_frames=8, drop_path=0.,
                    checkpoint_num=0, dropout=0.):
        return VisionTransformer(input_resolution=16, patch_size=4, width=16, layers=2, heads=2, output_dim=8,
                                 kernel_size=kernel_size, num_frames=num_frames, drop_path=drop_path,
                                 checkpoint_num=0, dropout=dropout).eval()

    def tiny_text(embed_dim=768, context_length=77, vocab_size=49408, transformer_width=768, transformer_heads=12,
                  transformer_layers=12, checkpoint_num=0, pretrained=True):
        return CLIP_TEXT(8, context_length, vocab_size, 4, 2, 2, 0)

    vm.clip_joint_l14 = tiny_vision
    vm.clip_text_l14 = tiny_text
    torch.manual_seed(2)
    model = vm.ViCLIP(size="l", pretrain=None)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n == "temp":
                continue
            p.copy_(torch.randn_like(p) * (0.5 if p.ndim > 1 else 0.2) + (1.0 if ".ln" in n and n.endswith("weight") else 0.0))
        model.vision_encoder.temporal_positional_embedding.mul_(0.5)
    sd = f16_exact(model.state_dict())
    d = os.path.join(out, "viclip_tiny")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "viclip.pth")
    torch.save({"model": sd}, path)
    json.dump({"vision_heads": 2, "text_heads": 2}, open(os.path.join(d, "config.json"), "w"), indent=1)

    # the real score function, loading the file just written through get_viclip
    vm_pkg = sys.modules["viclip"]
    vm_pkg.ViCLIP = vm.ViCLIP
    import reward_fn.reward_fn as rf
    from torchvision.transforms import CenterCrop
    score_fn = rf.get_vi_clip_score_fn(path, precision="fp32", n_frames=8)
    resize = score_fn.__closure__[[c.cell_contents.__class__.__name__ for c in score_fn.__closure__].index("ResizeCropMinSize")].cell_contents
    resize.min_size = 16  # the tiny model's input size (224 in the code)
    resize.random_crop = CenterCrop(resize.min_size)  # evoke's deterministic crop
    scores = []
    with torch.no_grad():
        for c in clips:
            t = c.shape[0]
            skip = t // 8
            idx = torch.arange(0, t, skip)[:8]  # T2V-Turbo's frame pick with start 0
            video = torch.from_numpy(c).permute(0, 3, 1, 2)[idx][None].contiguous()  # [1, 8, 3, H, W]
            scores.append(float(score_fn(video, [PROMPT])[0]))
    return scores


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/nets/vrewards"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    clips = []
    for i in range(2):
        # smooth colour fields plus noise, so that resizing matters
        y, x = np.mgrid[0:H, 0:W] / np.array([H, W]).reshape(2, 1, 1)
        base = np.stack([np.sin(3 * x + i), np.cos(2 * y - i), x * y], -1)[None] * 0.4 + 0.5
        c = np.clip(base + 0.15 * rng.standard_normal((FRAMES, H, W, 3)) + 0.02 * np.arange(FRAMES).reshape(-1, 1, 1, 1), 0, 1)
        c = c.astype(np.float32)
        np.save(os.path.join(out, f"clip{i}.npy"), c)
        clips.append(c)
    hps, hps_sd, hps_fn = hps_reference(out, clips)
    square = pickscore_folder(out, hps_sd, hps_fn)
    vic = viclip_reference(out, clips)
    hps_mean = [float(np.mean(f)) for f in hps]
    mixed = [1.0 * a + 2.0 * b for a, b in zip(hps_mean, vic)]
    json.dump({"type": "hpsv2", "model": "hpsv2_tiny/HPS_v2.1_compressed.pt"}, open(os.path.join(out, "hpsv2.json"), "w"))
    json.dump({"type": "viclip", "model": "viclip_tiny/viclip.pth"}, open(os.path.join(out, "viclip.json"), "w"))
    json.dump({"type": "sum", "terms": [{"weight": 1.0, "reward": {"type": "hpsv2", "model": "hpsv2_tiny/HPS_v2.1_compressed.pt"}},
                                        {"weight": 2.0, "reward": {"type": "viclip", "model": "viclip_tiny/viclip.pth"}}]},
              open(os.path.join(out, "mixed.json"), "w"), indent=1)
    json.dump({"prompt": PROMPT, "frames": FRAMES, "height": H, "width": W, "hpsv2_per_frame": hps, "hpsv2": hps_mean,
               "viclip": vic, "mixed": mixed,
               "square_per_frame": square, "square": float(np.mean(square))}, open(os.path.join(out, "expected.json"), "w"), indent=1)
    print("hpsv2", hps_mean, "viclip", vic, "mixed", mixed)


if __name__ == "__main__":
    main()
