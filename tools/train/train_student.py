#!/usr/bin/env python3
"""The T2V-Turbo student: latent consistency distillation of the tiny video teacher with
reward feedback (T2V-Turbo's train_t2v_turbo_v1 / train_latent_t2v_turbo_v2 recipe, full
fine-tune of a UNet with `time_cond_proj`, plain PyTorch on the CPU).

Per step (names as in the upstream script):
  latents  = VAE posterior sample of `--batch` clips x scale_factor; prompt embeddings from the
             teacher's frozen text tower (the empty prompt for the unconditional branch).
  index    ~ U{0..49}; start_timesteps = solver.ddim_timesteps[index] (DDIMSolver over
             lcm_origin_steps 50: 19, 39, ..., 999); timesteps = start - topk (20), >= 0.
  noisy    = add_noise(latents, noise, start) with the plain alphas_cumprod (upstream's
             --no_scale_pred_x0: VideoCrafter2's scale_arr is not used in distillation, and
             evoke's LCM sampler does not use it either).
  w        ~ U[w_min, w_max] per example; w_embedding = guidance_scale_embedding(w, 256)
             (sin/cos of 1000 w) -> the student's `time_cond_proj` (Linear(256, model_channels),
             no bias, added to the timestep embedding; randomly initialised as upstream).
  student  model_pred = c_skip(start) noisy + c_out(start) x0(eps_student), with LCM's boundary
             scalings (sigma_data 0.5, timestep_scaling 10).
  reward   decoded (model_pred / scale_factor -> VAE -> (x / 2 + 0.5).clamp(0, 1)):
             reward_loss = -beta_img * mean over `--reward-frames` random frames of the
             per-frame image-text reward (the frame CLIP, HPSv2's place), and
             video_rm_loss = -beta_vid * the video-text reward (ViCLIP) on 8 frames subsampled
             with a random start (our clips have exactly 8 frames: all of them).  Both over
             every clip of the batch (upstream: `reward_train_bsz` 1 clip of the batch).
  teacher  eps_c, eps_u at (noisy, start), both at the training fps (upstream's unconditional
             call falls back to lvdm's default fps 16, the same as its --fps 16); LCM-form CFG x0 = x0_c + w (x0_c - x0_u), the same for
             eps; x_prev = DDIMSolver.ddim_step (one DDIM step to the previous solver timestep).
  target   the target UNet (EMA of the student, decay --ema 0.95, upstream's use_target_unet) at
             (x_prev, timesteps, w): target = c_skip(t) x_prev + c_out(t) x0(eps_target).
  loss     huber(model_pred, target, c = 0.001) + reward_loss + video_rm_loss; AdamW, warm-up,
           grad clip 1; then target <- EMA(student).
`--reward-weight B_IMG B_VID` (T2V-Turbo v1: 1.0 and 2.0; 0 0 = plain consistency
distillation, the "without reward" arm).

Stages: `train` (resumable from --out/ckpt.pt), `sample` (LCM sampling as T2V-Turbo's
T2VTurboScheduler: 4 steps from the 50-step origin grid, w embedded, checker pass rate and mean
rewards on held-out prompts), `export` (DIR/unet_mg.pt: the student UNet's state dict with
lvdm's names, including time_cond_proj - T2V-Turbo's merged-UNet file, which evoke loads with
`--diffusion-model` over the teacher's model.ckpt).
"""
import argparse
import copy
import math
import os
import time

import numpy as np
import torch

import video_check as vc
import video_data as vd
import video_model as vm
import video_reward as vr
from common import write_png
from train_video import VOUT, load_teacher_ckpt, to_float, to_uint8, lr_at, save_atomic, log_row, tokenizer

W_DIM = 256  # T2V-Turbo's unet_time_cond_proj_dim (its pipelines embed w with 256 dims)


def guidance_scale_embedding(w, embedding_dim=W_DIM):
    """T2V-Turbo utils/common_utils.guidance_scale_embedding."""
    w = w * 1000.0
    half = embedding_dim // 2
    e = math.log(10000.0) / (half - 1)
    e = torch.exp(torch.arange(half, dtype=torch.float32) * -e)
    e = w.float()[:, None] * e[None]
    e = torch.cat([torch.sin(e), torch.cos(e)], 1)
    if embedding_dim % 2:
        e = torch.nn.functional.pad(e, (0, 1))
    return e


def boundary(t, timestep_scaling=10.0, sigma_data=0.5):
    s = timestep_scaling * t.double()
    return (sigma_data ** 2 / (s ** 2 + sigma_data ** 2)).float(), (s / (s ** 2 + sigma_data ** 2) ** 0.5).float()


def bcast(x):
    return x.view(-1, 1, 1, 1, 1)


class DDIMSolver:
    """T2V-Turbo ode_solver/ddim_solver.py with use_scale False, eta 0."""

    def __init__(self, acp, ddim_timesteps=50):
        n = len(acp)
        ratio = n // ddim_timesteps
        self.ddim_timesteps = torch.from_numpy((np.arange(1, ddim_timesteps + 1) * ratio).round().astype(np.int64) - 1)
        self.prev = torch.cat([acp[:1], acp[self.ddim_timesteps[:-1]]]).float()

    def ddim_step(self, pred_x0, pred_noise, index):
        ap = bcast(self.prev[index])
        return ap.sqrt() * pred_x0 + (1.0 - ap).sqrt() * pred_noise


def huber(pred, target, c):
    return (torch.sqrt((pred - target) ** 2 + c ** 2) - c).mean()


def make_student(teacher_unet, cfg, seed):
    torch.manual_seed(seed)
    s = vm.UNetModel(**cfg["unet"], time_cond_proj_dim=W_DIM)
    missing, unexpected = s.load_state_dict(teacher_unet.state_dict(), strict=False)
    assert missing == ["time_cond_proj.weight"] and not unexpected, (missing, unexpected)
    return s


def load_rewards(a):
    out = {}
    for key, path in (("frame", a.frame_reward), ("video", a.video_reward)):
        if path:
            _, m, step = vr.load(path)
            m.requires_grad_(False)
            out[key] = m
            print(f"{key} reward: {path} (step {step})", flush=True)
    return out


def reward_terms(rm, tok, decoded01, caps, a, gen):
    """decoded01 [b, t, 3, H, W] in [0, 1] -> (frame reward mean, video reward mean) (tensors)."""
    b, t = decoded01.shape[:2]
    fr = vr_ = torch.zeros(())
    if "frame" in rm and a.reward_weight[0] > 0:
        m = rm["frame"]
        idx = torch.randperm(t, generator=gen)[:a.reward_frames]
        ids = vr.ids_for(tok, caps, m.cfg["text_cfg"]["context_length"])
        fr = m.reward(decoded01[:, idx], ids).mean()
    if "video" in rm and a.reward_weight[1] > 0:
        m = rm["video"]
        n = m.cfg["num_frames"]
        skip = max(1, t // n)
        start = int(torch.randint(0, skip, (1,), generator=gen))
        idx = torch.arange(start, t, skip)[:n]
        ids = vr.ids_for(tok, caps, m.cfg["text_cfg"]["context_length"])
        vr_ = m.reward(decoded01[:, idx], ids).mean()
    return fr, vr_


def train(a):
    d = a.out
    os.makedirs(d, exist_ok=True)
    tok, _ = tokenizer()
    teacher, vae, cfg, tstep = load_teacher_ckpt(a.teacher)
    teacher.requires_grad_(False)
    vae.requires_grad_(False)
    print(f"teacher {a.teacher} (step {tstep})", flush=True)
    rm = load_rewards(a)
    student = make_student(teacher.unet, cfg, a.seed)
    target = copy.deepcopy(student).requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=a.lr, weight_decay=0.0)
    step, ck = 0, os.path.join(d, "ckpt.pt")
    if os.path.exists(ck):
        s = torch.load(ck)
        student.load_state_dict(s["student"])
        target.load_state_dict(s["target"])
        opt.load_state_dict(s["opt"])
        step = s["step"]
        print(f"resumed student at step {step}", flush=True)
    sched = vm.Schedule(cfg["diffusion"])
    acp = sched.acp
    alpha, sigma = acp.sqrt().float(), (1 - acp).sqrt().float()
    solver = DDIMSolver(acp, a.lcm_origin_steps)
    sf = cfg["diffusion"]["scale_factor"]
    fps = cfg["fps"]
    with torch.no_grad():
        uncond1 = teacher.text([""])
    t0, hist = time.time(), []
    while step < a.steps:
        rng = np.random.default_rng([a.seed, 5, step])
        clips, caps, _ = vd.render_batch(rng, a.batch)
        g = torch.Generator().manual_seed(int(rng.integers(1 << 62)))
        B = a.batch
        with torch.no_grad():
            latents = vm.encode_video(vae, to_float(clips), sf, sample=True, generator=g)
            ctx = teacher.text(caps)
        uctx = uncond1.expand(B, -1, -1)
        index = torch.randint(0, a.lcm_origin_steps, (B,), generator=g)
        start = solver.ddim_timesteps[index]
        tprev = (start - a.topk).clamp(min=0)
        cs_s, co_s = (bcast(x) for x in boundary(start))
        cs, co = (bcast(x) for x in boundary(tprev))
        noise = torch.randn(latents.shape, generator=g)
        noisy = bcast(alpha[start]) * latents + bcast(sigma[start]) * noise
        w = (a.w_max - a.w_min) * torch.rand((B,), generator=g) + a.w_min
        w_emb = guidance_scale_embedding(w)
        w = bcast(w)
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, a)
        eps = student(noisy, start, ctx, fps=fps, timestep_cond=w_emb)
        pred_x0 = (noisy - bcast(sigma[start]) * eps) / bcast(alpha[start])
        model_pred = cs_s * noisy + co_s * pred_x0
        fr = vr_ = torch.zeros(())
        if rm and (a.reward_weight[0] > 0 or a.reward_weight[1] > 0):
            dec = vm.decode_video(vae, model_pred, sf)
            dec01 = (dec / 2 + 0.5).clamp(0, 1)
            fr, vr_ = reward_terms(rm, tok, dec01, caps, a, g)
        reward_loss = -a.reward_weight[0] * fr
        video_rm_loss = -a.reward_weight[1] * vr_
        with torch.no_grad():
            e2 = teacher.unet(torch.cat([noisy, noisy]), torch.cat([start, start]), torch.cat([ctx, uctx]), fps=fps)
            ec, eu = e2.chunk(2)
            x0c = (noisy - bcast(sigma[start]) * ec) / bcast(alpha[start])
            x0u = (noisy - bcast(sigma[start]) * eu) / bcast(alpha[start])
            px0 = x0c + w * (x0c - x0u)
            pn = ec + w * (ec - eu)
            x_prev = solver.ddim_step(px0, pn, index)
            te = target(x_prev, tprev, ctx, fps=fps, timestep_cond=w_emb)
            tx0 = (x_prev - bcast(sigma[tprev]) * te) / bcast(alpha[tprev])
            tgt = cs * x_prev + co * tx0
        distill = huber(model_pred, tgt, a.huber_c)
        loss = distill + reward_loss + video_rm_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pt, ps in zip(target.parameters(), student.parameters()):
                pt.mul_(a.ema).add_(ps.detach(), alpha=1 - a.ema)
        step += 1
        hist.append((distill.item(), float(fr), float(vr_)))
        if step % a.log_every == 0:
            m = np.mean(hist[-a.log_every:], 0)
            print(f"student step {step} distill {m[0]:.5f} frame_reward {m[1]:.4f} video_reward {m[2]:.4f} "
                  f"lr {lr_at(step, a):.2e} {time.time() - t0:.0f}s", flush=True)
            log_row(os.path.join(d, "log.csv"), {"step": step, "distill": m[0], "frame_reward": m[1],
                                                 "video_reward": m[2], "elapsed": round(time.time() - t0)})
        if step % a.save_every == 0 or step == a.steps:
            save_atomic({"step": step, "student": student.state_dict(), "target": target.state_dict(),
                         "opt": opt.state_dict(), "config": cfg, "teacher": os.path.abspath(a.teacher),
                         "reward_weight": list(a.reward_weight), "w": [a.w_min, a.w_max]}, ck)


# ----------------------------------------------------------------------------- sampling / export

@torch.no_grad()
def lcm_sample(unet, acp, ctx, noise, steps=4, origin=50, w=7.5, fps=8, generator=None):
    """T2V-Turbo's T2VTurboScheduler loop (pipeline/t2v_turbo_vc2_pipeline.py): returns the last
    `denoised` latents."""
    n = len(acp)
    c = n // origin
    grid = np.arange(1, origin + 1) * c - 1
    ts = grid[::-(len(grid) // steps)][:steps]
    x = noise
    b = x.shape[0]
    w_emb = guidance_scale_embedding(torch.full((b,), float(w)))
    den = x
    for i, t in enumerate(ts):
        tt = torch.full((b,), int(t), dtype=torch.long)
        eps = unet(x, tt, ctx, fps=fps, timestep_cond=w_emb)
        prev = int(ts[i + 1]) if i + 1 < len(ts) else int(t)
        a_t, a_p = float(acp[t]), float(acp[prev])
        cs, co = boundary(torch.tensor([float(t)]), 10.0)
        x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        den = float(co) * x0 + float(cs) * x
        if len(ts) > 1:
            x = math.sqrt(a_p) * den + math.sqrt(1 - a_p) * torch.randn(den.shape, generator=generator)
        else:
            x = den
    return den


def load_student(path):
    s = torch.load(path, map_location="cpu")
    cfg = s["config"]
    u = vm.UNetModel(**cfg["unet"], time_cond_proj_dim=W_DIM)
    u.load_state_dict(s["student"])
    return u.eval(), s


def cmd_sample(a):
    tok, _ = tokenizer()
    u, s = load_student(a.ckpt)
    teacher, vae, cfg, _ = load_teacher_ckpt(s["teacher"] if not a.teacher else a.teacher)
    rm = load_rewards(a)
    acp = vm.Schedule(cfg["diffusion"]).acp
    sf = cfg["diffusion"]["scale_factor"]
    lat = cfg["resolution"] // 2 ** (len(cfg["vae"]["ddconfig"]["ch_mult"]) - 1)
    prompts = vd.heldout_prompts(a.eval_prompts)
    t0 = time.time()
    clips, rfs, rvs = [], [], []
    for i, p in enumerate(prompts):
        g = torch.Generator().manual_seed(a.seed * 100003 + i)
        noise = torch.randn((1, cfg["unet"]["in_channels"], cfg["frames"], lat, lat), generator=g)
        with torch.no_grad():
            z = lcm_sample(u, acp, teacher.text([p]), noise, a.eval_steps, a.lcm_origin_steps, a.eval_w, cfg["fps"], g)
            dec = vm.decode_video(vae, z, sf)
            if rm:
                fr, vv = reward_terms(rm, tok, (dec / 2 + 0.5).clamp(0, 1), [p], argparse.Namespace(
                    reward_weight=(1, 1), reward_frames=cfg["frames"]), torch.Generator().manual_seed(0))
                rfs.append(float(fr))
                rvs.append(float(vv))
        clips.append(to_uint8(dec)[0])
    clips = np.stack(clips)
    sc = vc.score(clips, prompts)
    print(f"student step {s['step']} LCM {a.eval_steps} steps w {a.eval_w:g} on {len(prompts)} held-out prompts: "
          + " ".join(f"{k} {v:.3f}" for k, v in sc.items())
          + (f" frame_reward {np.mean(rfs):.4f} video_reward {np.mean(rvs):.4f}" if rfs else "")
          + f" ({time.time() - t0:.0f}s)", flush=True)
    if a.png:
        write_png(a.png, np.concatenate([np.concatenate(list(c), 1) for c in clips[:16]], 0))


def cmd_export(a):
    u, s = load_student(a.ckpt)
    os.makedirs(a.dest, exist_ok=True)
    sd = {k: v.clone() for k, v in u.state_dict().items()}
    save_atomic(sd, os.path.join(a.dest, "unet_mg.pt"))
    print(f"exported student step {s['step']} ({len(sd)} tensors, time_cond_proj {tuple(sd['time_cond_proj.weight'].shape)}) "
          f"to {a.dest}/unet_mg.pt ({os.path.getsize(os.path.join(a.dest, 'unet_mg.pt')) / 1e6:.2f} MB)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["train", "sample", "export"])
    p.add_argument("--teacher", default=None, help="a teacher ema_<step>.pt / ckpt.pt (train_video.py)")
    p.add_argument("--frame-reward", default=None, help="a frame CLIP checkpoint (video_reward.py frameclip)")
    p.add_argument("--video-reward", default=None, help="a ViCLIP checkpoint (video_reward.py viclip)")
    p.add_argument("--reward-weight", type=float, nargs=2, default=[1.0, 2.0], metavar=("B_IMG", "B_VID"))
    p.add_argument("--reward-frames", type=int, default=5, help="frames per clip for the frame reward (upstream 5)")
    p.add_argument("--out", default=os.path.join(VOUT, "student"), help="train: checkpoint folder")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lr-min", type=float, default=1e-5)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--w-min", type=float, default=5.0)
    p.add_argument("--w-max", type=float, default=15.0)
    p.add_argument("--lcm-origin-steps", type=int, default=50)
    p.add_argument("--topk", type=int, default=20)
    p.add_argument("--huber-c", type=float, default=0.001)
    p.add_argument("--ema", type=float, default=0.95)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ckpt", default=None, help="sample/export: a student ckpt.pt")
    p.add_argument("--dest", default=None, help="export: destination folder")
    p.add_argument("--eval-prompts", type=int, default=16)
    p.add_argument("--eval-steps", type=int, default=4)
    p.add_argument("--eval-w", type=float, default=7.5)
    p.add_argument("--png", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.stage == "train":
        if not a.teacher:
            p.error("train needs --teacher")
        train(a)
    elif a.stage == "sample":
        cmd_sample(a)
    else:
        cmd_export(a)


if __name__ == "__main__":
    main()
