"""Export the latest training checkpoints to the shipped model folders.

  assets/tiny-sd/   diffusers StableDiffusionPipeline-style folder, pixel space (no VAE):
                    model_index.json, unet/{config.json, diffusion_pytorch_model.safetensors},
                    text_encoder/{config.json, model.safetensors}, tokenizer/*,
                    scheduler/scheduler_config.json
  assets/tiny-clip/ transformers CLIPModel folder: config.json, model.safetensors,
                    preprocessor_config.json, tokenizer files

EMA weights of $EVOKE_TRAIN_OUT (default out/train)/t2i/ckpt.pt (or --t2i FILE, e.g. out/train/t2i/ema_3000.pt) and the
weights of out/train/clip/ckpt.pt are written as F32 (or --f16).  The training step goes into
the safetensors __metadata__ ("step") and assets/*/TRAINING.txt.  Each folder also gets a
golden.safetensors of reference activations (tokens, text states, UNet output, a 10-step
CFG DDIM sample; CLIP embeddings and logits) recomputed from the exported files with tools/ref,
for the C tests.

    /usr/bin/python3 tools/train/export.py [--t2i FILE|none] [--clip FILE|none] [--f16] [--dest DIR]
"""
import argparse
import json
import os
import shutil

import torch

import common
from safetensors_io import load_file, save_file

ASSETS = common.ASSETS
TOK_FILES = common.TOK_FILES


def dump(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def tensors(sd, f16):
    out = {}
    for k, v in sd.items():
        v = v.detach().float().contiguous()
        out[k] = v.half() if f16 else v
    return out


def copy_tokenizer(dst):
    os.makedirs(dst, exist_ok=True)
    for f in TOK_FILES:
        shutil.copyfile(os.path.join(common.TOKDIR, f), os.path.join(dst, f))


def export_t2i(path, f16, dest=ASSETS):
    ck = torch.load(path, map_location="cpu")
    step = ck["step"]
    full = torch.load(os.path.join(os.path.dirname(path), "ckpt.pt"), map_location="cpu") if "unet_config" not in ck else ck
    ucfg, tcfg, scfg = full["unet_config"], full["text_config"], full["scheduler_config"]
    root = os.path.join(dest, "tiny-sd")
    dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": ucfg["_diffusers_version"],
          "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
          "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
          "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
          "vae": [None, None]}, os.path.join(root, "model_index.json"))
    dump(ucfg, os.path.join(root, "unet", "config.json"))
    meta = {"format": "pt", "step": str(step)}
    save_file(tensors(ck["ema_unet"], f16), os.path.join(root, "unet", "diffusion_pytorch_model.safetensors"), meta)
    dump(tcfg, os.path.join(root, "text_encoder", "config.json"))
    save_file(tensors(ck["ema_te"], f16), os.path.join(root, "text_encoder", "model.safetensors"), meta)
    dump(scfg, os.path.join(root, "scheduler", "scheduler_config.json"))
    copy_tokenizer(os.path.join(root, "tokenizer"))
    # round-trip check
    back = load_file(os.path.join(root, "unet", "diffusion_pytorch_model.safetensors"))
    assert set(back) == set(ck["ema_unet"])
    with open(os.path.join(root, "TRAINING.txt"), "w") as f:
        f.write(f"EMA weights after {step} training steps (tools/train/train_t2i.py); see tools/train/README.md\n")
    return step


def export_clip(path, f16, dest=ASSETS):
    ck = torch.load(path, map_location="cpu")
    from train_clip import MEAN, STD
    root = os.path.join(dest, "tiny-clip")
    dump(ck["config"], os.path.join(root, "config.json"))
    save_file(tensors(ck["model"], f16), os.path.join(root, "model.safetensors"),
              {"format": "pt", "step": str(ck["step"])})
    dump({"crop_size": {"height": 32, "width": 32}, "do_center_crop": True, "do_convert_rgb": True,
          "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": MEAN,
          "image_processor_type": "CLIPImageProcessor", "image_std": STD, "resample": 3,
          "rescale_factor": 1 / 255, "size": {"shortest_edge": 32}}, os.path.join(root, "preprocessor_config.json"))
    copy_tokenizer(root)
    with open(os.path.join(root, "TRAINING.txt"), "w") as f:
        f.write(f"weights after {ck['step']} training steps (tools/train/train_clip.py); see tools/train/README.md\n")
    return ck["step"]


GOLDEN_PROMPT = "a red circle left of a blue square"


@torch.no_grad()
def golden_t2i(root):
    """golden.safetensors: reference activations of the exported tiny-sd (f32, computed with
    tools/ref from the exported files) for the C tests.  Metadata has the prompt and settings."""
    from clip import CLIPTextModel
    from clip_tokenizer import CLIPTokenizer
    from ddim import DDIM, sample_cfg
    from unet import UNet2DConditionModel

    def cfg(p):
        with open(os.path.join(root, p)) as f:
            return json.load(f)
    tok = CLIPTokenizer(os.path.join(root, "tokenizer"))
    te = CLIPTextModel(cfg("text_encoder/config.json"))
    te.load_state_dict(load_file(os.path.join(root, "text_encoder/model.safetensors"), as_torch=True))
    un = UNet2DConditionModel(cfg("unet/config.json"))
    un.load_state_dict({k: v.float() for k, v in
                        load_file(os.path.join(root, "unet/diffusion_pytorch_model.safetensors"), as_torch=True).items()})
    te.float().eval()
    un.eval()
    ddim = DDIM(cfg("scheduler/scheduler_config.json"))
    ids = torch.tensor([tok(GOLDEN_PROMPT), tok("")])
    hid, pooled = te(ids)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 32, 32, generator=g)
    t = torch.tensor([999, 500])
    out = un(x, t.float(), hid[:1].expand(2, -1, -1))
    steps, guidance = 10, 3.0
    x0 = sample_cfg(un, ddim, hid[:1], hid[1:], steps=steps, guidance=guidance, x=x[:1].clone())
    save_file({"input_ids": ids, "text_last_hidden_state": hid, "text_pooler_output": pooled,
               "unet_sample": x, "unet_timestep": t, "unet_out": out,
               "ddim_timesteps": torch.tensor(ddim.timesteps(steps)), "ddim_cfg_x0": x0},
              os.path.join(root, "golden.safetensors"),
              {"prompt": GOLDEN_PROMPT, "input_ids": "row 0 = prompt, row 1 = empty prompt",
               "unet_out": "unet(unet_sample, unet_timestep, text_last_hidden_state[0] for both rows)",
               "ddim_cfg_x0": f"DDIM eta 0, {steps} steps, guidance {guidance}, start = unet_sample[0], "
                              "cond = row 0, uncond = row 1; final sample in [-1,1] model space"})


@torch.no_grad()
def golden_clip(root):
    from clip import CLIPModel
    from clip_tokenizer import CLIPTokenizer
    from dataset import render_batch
    from train_clip import preprocess
    import numpy as np
    with open(os.path.join(root, "config.json")) as f:
        m = CLIPModel(json.load(f))
    m.load_state_dict({k: v.float() for k, v in load_file(os.path.join(root, "model.safetensors"), as_torch=True).items()})
    m.eval()
    tok = CLIPTokenizer(root)
    imgs, caps, _ = render_batch(np.random.default_rng(3), 2, full=True)
    texts = caps + [GOLDEN_PROMPT]
    ids = torch.tensor([tok(c) for c in texts])
    px = preprocess(imgs)
    logits, t, i = m(ids, px)
    save_file({"images_u8": torch.from_numpy(imgs), "pixel_values": px, "input_ids": ids,
               "text_embeds": t, "image_embeds": i, "logits_per_image": logits},
              os.path.join(root, "golden.safetensors"),
              {"texts": json.dumps(texts), "images_u8": "(N,H,W,3) RGB; pixel_values = (rgb/255 - mean)/std, NCHW",
               "text_embeds": "L2-normalised text_projection(pooled)", "image_embeds": "L2-normalised",
               "logits_per_image": "exp(logit_scale) * image_embeds @ text_embeds^T"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--t2i", default=os.path.join(common.OUT, "t2i", "ckpt.pt"))
    ap.add_argument("--clip", default=os.path.join(common.OUT, "clip", "ckpt.pt"))
    ap.add_argument("--f16", action="store_true")
    ap.add_argument("--dest", default=ASSETS,
                    help="folder to write tiny-sd/ and tiny-clip/ into (default assets/; a candidate "
                         "goes elsewhere, e.g. $EVOKE_TRAIN_OUT/export, until it is measured)")
    a = ap.parse_args()
    if a.t2i != "none" and os.path.exists(a.t2i):
        print("tiny-sd from step", export_t2i(a.t2i, a.f16, a.dest))
        golden_t2i(os.path.join(a.dest, "tiny-sd"))
    if a.clip != "none" and os.path.exists(a.clip):
        print("tiny-clip from step", export_clip(a.clip, a.f16, a.dest))
        golden_clip(os.path.join(a.dest, "tiny-clip"))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(a.dest) for f in fs)
    print(f"{a.dest} total {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
