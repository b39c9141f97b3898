#!/usr/bin/env python3
"""Train the tiny VideoCrafter2-architecture teacher: the frame VAE first, then the UNet + text
encoder on the VAE's latents (video_model.py, data video_data.py, checker video_check.py).

Stages (run with /usr/bin/python3; outputs in $EVOKE_TRAIN_OUT/video/<stage>/, default
out/train/video/; every run resumes from <stage>/ckpt.pt when it exists):
  vae      AutoencoderKL on single frames: L1 + MSE + 1e-5 x KL (mean over elements), AdamW;
           --fg-weight W weighs pixels on and next to objects W times (weighted means).
           At the end (and at every eval) it measures reconstruction PSNR and the checker's
           pass rate on reconstructed clips, and the latents' std -> scale_factor = 1 / std.
  teacher  eps-prediction on latents of the frozen VAE (posterior sample x scale_factor),
           lvdm's q_sample with VideoCrafter2's scale_arr, t uniform in [0, 1000), 10 %
           empty captions (classifier-free guidance), AdamW + warm-up + cosine, grad clip 1,
           EMA 0.999 of UNet and text encoder.  Eval: EMA weights, held-out prompts, DDIM 50
           steps + CFG, checker pass rate (curve.csv).
  sample   DDIM + CFG videos from a teacher checkpoint (EMA) for held-out prompts: checker
           pass rate and a PNG of frame strips.
  export   a teacher checkpoint -> DIR/model.ckpt (VideoCrafter2's format: {"state_dict":
           model.diffusion_model.*, first_stage_model.*, cond_stage_model.model.*, schedule
           buffers}), DIR/inference.yaml (VideoCrafter2's inference config layout with this
           model's sizes) and DIR/tokenizer/ (open_clip-style ids: pad id 0).
`--init CKPT` starts a stage from another checkpoint's weights (a ckpt.pt of the same stage, or
for the teacher an exported model.ckpt) instead of from scratch; optimiser and step restart.
"""
import argparse
import csv
import math
import os
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as Fn

import common
from common import OUT, write_png
import video_data as vd
import video_check as vc
import video_model as vm

VOUT = os.path.join(OUT, "video")
TOK_FILES = common.TOK_FILES


def tokenizer():
    """The shipped domain tokenizer (assets/tiny-sd/tokenizer, via common.tokenizer) with
    open_clip's padding: ids = <sot> tokens <eot>, then id 0 up to 77."""
    common.tokenizer()
    d = os.path.join(VOUT, "tokenizer")
    if not os.path.exists(os.path.join(d, "vocab.json")):
        os.makedirs(d, exist_ok=True)
        for f in TOK_FILES:
            shutil.copyfile(os.path.join(common.TOKDIR, f), os.path.join(d, f))
        for f in ("tokenizer_config.json", "special_tokens_map.json"):
            cfg = common.load_json(os.path.join(d, f))
            cfg["pad_token"] = "!"
            with open(os.path.join(d, f), "w") as fh:
                import json
                json.dump(cfg, fh, indent=2)
    from clip_tokenizer import CLIPTokenizer
    tok = CLIPTokenizer(d)
    assert tok.pad_id == 0, tok.pad_id
    return tok, d


def to_float(clips):
    """uint8 [n, F, H, W, 3] -> float [n, F, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(clips).permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0


def to_uint8(x):
    """[..., 3, H, W] in [-1, 1] -> uint8 [..., H, W, 3]."""
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.lr_min + 0.5 * (a.lr - a.lr_min) * (1 + math.cos(math.pi * p))


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def log_row(path, row):
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


# ----------------------------------------------------------------------------- VAE

def build_vae(cfg):
    return vm.AutoencoderKL(cfg["vae"]["ddconfig"], cfg["vae"]["embed_dim"])


@torch.no_grad()
def eval_vae(vae, n=64, seed=777):
    vae.eval()
    rng = np.random.default_rng(seed)
    clips, caps, _ = vd.render_batch(rng, n)
    x = to_float(clips)
    mean, logvar = vae.encode(x.flatten(0, 1))
    rec = vae.decode(mean).reshape(x.shape)
    mse = float(((rec.clamp(-1, 1) - x) ** 2).mean())
    psnr = 10 * math.log10(4.0 / mse)
    sc = vc.score(to_uint8(rec), caps)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=torch.Generator().manual_seed(seed))
    vae.train()
    return {"psnr": psnr, "rec_ok": sc["ok"], "rec_colour": sc["colour"], "rec_shape": sc["shape"],
            "rec_motion": sc["motion"], "z_std": float(z.std()), "z_mean": float(z.mean())}


def train_vae(a):
    d = os.path.join(VOUT, "vae")
    os.makedirs(d, exist_ok=True)
    tok, _ = tokenizer()
    cfg = vm.default_config(len(tok.encoder))
    torch.manual_seed(a.seed)
    vae = build_vae(cfg)
    opt = torch.optim.AdamW(vae.parameters(), lr=a.lr, weight_decay=0.0)
    step, ck = 0, os.path.join(d, "ckpt.pt")
    if os.path.exists(ck) and not a.init:
        s = torch.load(ck)
        vae.load_state_dict(s["vae"])
        opt.load_state_dict(s["opt"])
        step, cfg = s["step"], s["config"]
        print(f"resumed vae at step {step}", flush=True)
    elif a.init:
        vae.load_state_dict(torch.load(a.init)["vae"])
    print(f"vae params {sum(p.numel() for p in vae.parameters()):,}", flush=True)
    t0 = time.time()
    while step < a.steps:
        rng = np.random.default_rng([a.seed, step])
        clips, _, _ = vd.render_batch(rng, a.batch)
        # two random frames of each clip
        idx = rng.integers(0, vd.F, size=(a.batch, 2))
        x = to_float(clips)[np.arange(a.batch)[:, None], idx].flatten(0, 1)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        rec = vae.decode(z)
        # pixels on and next to an object (target max channel >= 110) weigh --fg-weight times more:
        # most pixels are background, and the shapes' corners are what the checker reads
        fg = Fn.max_pool2d((x.max(1, keepdim=True).values >= 110 / 127.5 - 1).float(), 3, 1, 1)
        w = 1 + (a.fg_weight - 1) * fg
        l1 = (w * (rec - x).abs()).mean() / w.mean()
        l2 = (w * (rec - x) ** 2).mean() / w.mean()
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        loss = l1 + l2 + a.kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0:
            print(f"vae step {step} loss {loss.item():.4f} l1 {l1.item():.4f} l2 {l2.item():.4f} kl {kl.item():.3f} "
                  f"lr {lr_at(step, a):.2e} {time.time() - t0:.0f}s", flush=True)
            log_row(os.path.join(d, "log.csv"), {"step": step, "loss": loss.item(), "l1": l1.item(), "l2": l2.item(),
                                                 "kl": kl.item(), "elapsed": round(time.time() - t0)})
        if step % a.save_every == 0 and step % a.eval_every and step != a.steps:
            save_atomic({"step": step, "vae": vae.state_dict(), "opt": opt.state_dict(), "config": cfg}, ck)
        if step % a.eval_every == 0 or step == a.steps:
            ev = eval_vae(vae)
            cfg["diffusion"]["scale_factor"] = 1.0 / ev["z_std"]
            print(f"vae eval step {step}: " + " ".join(f"{k} {v:.4f}" for k, v in ev.items()), flush=True)
            log_row(os.path.join(d, "curve.csv"), dict(step=step, elapsed=round(time.time() - t0), **ev))
            save_atomic({"step": step, "vae": vae.state_dict(), "opt": opt.state_dict(), "config": cfg}, ck)


# ----------------------------------------------------------------------------- teacher

class Teacher(torch.nn.Module):
    def __init__(self, cfg, tok):
        super().__init__()
        self.unet = vm.UNetModel(**cfg["unet"])
        self.text = vm.OpenCLIPText(tok, **cfg["text"])


def ema_update(ema, model, decay):
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.mul_(decay).add_(p.detach(), alpha=1 - decay)


def load_exported(path, cfg, tok):
    """An exported model.ckpt (VideoCrafter2 format) -> (Teacher, vae state)."""
    sd = torch.load(path, map_location="cpu")["state_dict"]
    t = Teacher(cfg, tok)
    t.unet.load_state_dict({k[len("model.diffusion_model."):]: v for k, v in sd.items()
                            if k.startswith("model.diffusion_model.")})
    t.text.model.load_state_dict({k[len("cond_stage_model.model."):]: v for k, v in sd.items()
                                  if k.startswith("cond_stage_model.model.")})
    vae = {k[len("first_stage_model."):]: v for k, v in sd.items() if k.startswith("first_stage_model.")}
    return t, vae


@torch.no_grad()
def sample_videos(teacher, vae, cfg, prompts, seed, steps=50, guidance=7.5, chunk=16):
    """-> uint8 clips [n, F, H, W, 3]; noise seeded per prompt index."""
    teacher.eval()
    sched = vm.Schedule(cfg["diffusion"])
    sf = cfg["diffusion"]["scale_factor"]
    lat = cfg["resolution"] // 2 ** (len(cfg["vae"]["ddconfig"]["ch_mult"]) - 1)
    shape = (1, cfg["unet"]["in_channels"], cfg["frames"], lat, lat)
    out = []
    for i in range(0, len(prompts), chunk):
        ps = prompts[i:i + chunk]
        cond = teacher.text(ps)
        uncond = teacher.text([""] * len(ps))
        noise = torch.cat([torch.randn(shape, generator=torch.Generator().manual_seed(seed * 100003 + i + j))
                           for j in range(len(ps))])
        z = vm.ddim_sample(teacher.unet, sched, cond, uncond, noise.shape, steps, guidance, cfg["fps"], noise=noise)
        out.append(to_uint8(vm.decode_video(vae, z, sf)))
    teacher.train()
    return np.concatenate(out)


def eval_teacher(teacher, vae, cfg, a, tag):
    prompts = vd.heldout_prompts(a.eval_prompts)
    res = {}
    for w in a.eval_cfg:
        clips = sample_videos(teacher, vae, cfg, prompts, seed=1, steps=a.eval_steps, guidance=w)
        s = vc.score(clips, prompts)
        res[w] = s
        strip = np.concatenate([np.concatenate(list(c), 1) for c in clips[:12]], 0)
        write_png(os.path.join(VOUT, "teacher", f"samples_{tag}_cfg{w:g}.png"), strip)
    return res


def train_teacher(a):
    d = os.path.join(VOUT, "teacher")
    os.makedirs(d, exist_ok=True)
    tok, _ = tokenizer()
    vs = torch.load(os.path.join(VOUT, "vae", "ckpt.pt"))
    cfg = vs["config"]
    vae = build_vae(cfg)
    vae.load_state_dict(vs["vae"])
    vae.eval().requires_grad_(False)
    torch.manual_seed(a.seed)
    teacher = Teacher(cfg, tok)
    ema = Teacher(cfg, tok)
    step, ck = 0, os.path.join(d, "ckpt.pt")
    opt = torch.optim.AdamW(teacher.parameters(), lr=a.lr, weight_decay=0.01)
    if os.path.exists(ck) and not a.init:
        s = torch.load(ck)
        teacher.load_state_dict(s["model"])
        ema.load_state_dict(s["ema"])
        opt.load_state_dict(s["opt"])
        step, cfg = s["step"], s["config"]
        vae.load_state_dict(s["vae"])
        print(f"resumed teacher at step {step}", flush=True)
    else:
        if a.init:
            if a.init.endswith("model.ckpt"):
                t, vstate = load_exported(a.init, cfg, tok)
                vae.load_state_dict(vstate)
                teacher.load_state_dict(t.state_dict())
            else:
                s = torch.load(a.init)
                teacher.load_state_dict(s["ema"])
                vae.load_state_dict(s["vae"])
                cfg = s["config"]
        ema.load_state_dict(teacher.state_dict())
    ema.requires_grad_(False)
    sched = vm.Schedule(cfg["diffusion"])
    sf = cfg["diffusion"]["scale_factor"]
    n_unet = sum(p.numel() for p in teacher.unet.parameters())
    n_text = sum(p.numel() for p in teacher.text.parameters())
    print(f"unet params {n_unet:,} text params {n_text:,} scale_factor {sf:.4f}", flush=True)
    t0, losses = time.time(), []
    while step < a.steps:
        rng = np.random.default_rng([a.seed, 1, step])
        clips, caps, _ = vd.render_batch(rng, a.batch)
        caps = ["" if rng.random() < a.uncond else c for c in caps]
        g = torch.Generator().manual_seed(int(rng.integers(1 << 62)))
        with torch.no_grad():
            x0 = vm.encode_video(vae, to_float(clips), sf, sample=True, generator=g)
        t = torch.randint(0, sched.n, (a.batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        xt = sched.q_sample(x0, t, noise)
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, a)
        ctx = teacher.text(caps)
        eps = teacher.unet(xt, t, ctx, fps=cfg["fps"])
        loss = Fn.mse_loss(eps, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(teacher.parameters(), 1.0)
        opt.step()
        step += 1
        ema_update(ema, teacher, min(a.ema, (1 + step) / (10 + step)))
        losses.append(loss.item())
        if step % 25 == 0:
            m = float(np.mean(losses[-25:]))
            print(f"teacher step {step} loss {m:.4f} lr {lr_at(step, a):.2e} {time.time() - t0:.0f}s", flush=True)
            log_row(os.path.join(d, "log.csv"), {"step": step, "loss": m, "elapsed": round(time.time() - t0)})
        if step % a.save_every == 0 or step == a.steps:
            save_atomic({"step": step, "model": teacher.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                         "config": cfg, "vae": vae.state_dict()}, ck)
        if step % a.eval_every == 0 or step == a.steps:
            save_atomic({"step": step, "ema": ema.state_dict(), "config": cfg, "vae": vae.state_dict()},
                        os.path.join(d, f"ema_{step}.pt"))
            te = time.time()
            res = eval_teacher(ema, vae, cfg, a, f"{step}")
            for w, s in res.items():
                print(f"teacher eval step {step} cfg {w:g}: " + " ".join(f"{k} {v:.3f}" for k, v in s.items())
                      + f" ({time.time() - te:.0f}s)", flush=True)
                log_row(os.path.join(d, "curve.csv"), dict(step=step, loss=float(np.mean(losses[-200:])), cfg=w,
                                                           elapsed=round(time.time() - t0), **s))


# ----------------------------------------------------------------------------- sample / export

def load_teacher_ckpt(path):
    tok, _ = tokenizer()
    s = torch.load(path, map_location="cpu")
    cfg = s["config"]
    t = Teacher(cfg, tok)
    t.load_state_dict(s["ema"])
    vae = build_vae(cfg)
    vae.load_state_dict(s["vae"])
    return t.eval(), vae.eval(), cfg, s["step"]


def cmd_sample(a):
    t, vae, cfg, step = load_teacher_ckpt(a.ckpt)
    prompts = vd.heldout_prompts(a.eval_prompts)
    for w in a.eval_cfg:
        t0 = time.time()
        clips = sample_videos(t, vae, cfg, prompts, seed=a.seed, steps=a.eval_steps, guidance=w)
        s = vc.score(clips, prompts)
        print(f"step {step} DDIM {a.eval_steps} cfg {w:g} on {len(prompts)} held-out prompts: "
              + " ".join(f"{k} {v:.3f}" for k, v in s.items()) + f" ({time.time() - t0:.0f}s)", flush=True)
        if a.png:
            strip = np.concatenate([np.concatenate(list(c), 1) for c in clips[:16]], 0)
            write_png(a.png.replace(".png", f"_cfg{w:g}.png"), strip)


YAML = """model:
  target: lvdm.models.ddpm3d.LatentDiffusion
  params:
    linear_start: {linear_start}
    linear_end: {linear_end}
    num_timesteps_cond: 1
    timesteps: {timesteps}
    first_stage_key: video
    cond_stage_key: caption
    cond_stage_trainable: false
    conditioning_key: crossattn
    image_size:
    - {lat}
    - {lat}
    channels: {channels}
    scale_by_std: false
    scale_factor: {scale_factor}
    use_ema: false
    uncond_type: empty_seq
    use_scale: {use_scale}
    scale_b: {scale_b}
    unet_config:
      target: lvdm.modules.networks.openaimodel3d.UNetModel
      params:
{unet}
    first_stage_config:
      target: lvdm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: {embed_dim}
        monitor: val/rec_loss
        ddconfig:
{dd}
        lossconfig:
          target: torch.nn.Identity
    cond_stage_config:
      target: lvdm.modules.encoders.condition.FrozenOpenCLIPEmbedder
      params:
        freeze: true
        layer: penultimate
        arch: evoke-tiny-text
        text_cfg:
{text}
"""


def _yaml_block(d, indent):
    lines = []
    for k, v in d.items():
        if isinstance(v, (list, tuple)) and not v:
            lines.append(" " * indent + f"{k}: []")
        elif isinstance(v, (list, tuple)):
            lines.append(" " * indent + f"{k}:")
            lines += [" " * indent + f"- {x}" for x in v]
        elif isinstance(v, bool):
            lines.append(" " * indent + f"{k}: {'true' if v else 'false'}")
        else:
            lines.append(" " * indent + f"{k}: {v}")
    return "\n".join(lines)


def export(t, vae, cfg, dest, step):
    os.makedirs(dest, exist_ok=True)
    sd = {}
    for k, v in t.unet.state_dict().items():
        sd["model.diffusion_model." + k] = v.clone()
    for k, v in vae.state_dict().items():
        sd["first_stage_model." + k] = v.clone()
    for k, v in t.text.model.state_dict().items():
        sd["cond_stage_model.model." + k] = v.clone()
    sd.update(vm.Schedule(cfg["diffusion"]).buffers())
    save_atomic({"state_dict": sd, "global_step": step}, os.path.join(dest, "model.ckpt"))
    dd = cfg["diffusion"]
    lat = cfg["resolution"] // 2 ** (len(cfg["vae"]["ddconfig"]["ch_mult"]) - 1)
    unet = dict(cfg["unet"])
    text = dict(cfg["text"])
    y = YAML.format(lat=lat, channels=unet["in_channels"], embed_dim=cfg["vae"]["embed_dim"],
                    scale_factor=f"{dd['scale_factor']:.6f}", use_scale="true" if dd["use_scale"] else "false",
                    scale_b=dd["scale_b"], linear_start=dd["linear_start"], linear_end=dd["linear_end"],
                    timesteps=dd["timesteps"], unet=_yaml_block(unet, 8), dd=_yaml_block(cfg["vae"]["ddconfig"], 10),
                    text=_yaml_block(text, 10))
    y += f"# frames: {cfg['frames']}, resolution: {cfg['resolution']}, fps: {cfg['fps']}, training step: {step}\n"
    with open(os.path.join(dest, "inference.yaml"), "w") as f:
        f.write(y)
    # open_clip's model-config layout for the text tower the yaml names (arch), beside the yaml
    oc = {"embed_dim": text["embed_dim"], "quick_gelu": False,
          "text_cfg": {k: text[k] for k in ("context_length", "vocab_size", "width", "heads", "layers")}}
    with open(os.path.join(dest, "evoke-tiny-text.json"), "w") as f:
        import json
        json.dump(oc, f, indent=2)
    _, tokdir = tokenizer()
    os.makedirs(os.path.join(dest, "tokenizer"), exist_ok=True)
    for f in TOK_FILES:
        shutil.copyfile(os.path.join(tokdir, f), os.path.join(dest, "tokenizer", f))
    print(f"exported step {step} to {dest} ({os.path.getsize(os.path.join(dest, 'model.ckpt')) / 1e6:.2f} MB)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["vae", "teacher", "sample", "export"])
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--lr-min", type=float, default=None)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--kl", type=float, default=1e-5)
    p.add_argument("--fg-weight", type=float, default=1.0, help="vae: loss weight of object pixels (1 = plain mean)")
    p.add_argument("--uncond", type=float, default=0.1)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--eval-prompts", type=int, default=32)
    p.add_argument("--eval-steps", type=int, default=50)
    p.add_argument("--eval-cfg", type=float, nargs="+", default=[7.5])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", default=None)
    p.add_argument("--ckpt", default=None, help="sample/export: a teacher ckpt.pt or ema_<step>.pt")
    p.add_argument("--dest", default=None, help="export: destination folder")
    p.add_argument("--png", default=None, help="sample: write frame strips here")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    defaults = {"vae": dict(steps=1500, batch=16, lr=1e-3, lr_min=1e-4, eval_every=250),
                "teacher": dict(steps=20000, batch=16, lr=5e-4, lr_min=5e-5, eval_every=1000)}
    for k, v in defaults.get(a.stage, defaults["teacher"]).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.stage == "vae":
        train_vae(a)
    elif a.stage == "teacher":
        train_teacher(a)
    elif a.stage == "sample":
        cmd_sample(a)
    else:
        t, vae, cfg, step = load_teacher_ckpt(a.ckpt or os.path.join(VOUT, "teacher", "ckpt.pt"))
        export(t, vae, cfg, a.dest or os.path.join(VOUT, "export"), step)


if __name__ == "__main__":
    main()
