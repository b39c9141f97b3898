"""Train the shipped tiny text-to-image model: a pixel-space diffusers UNet2DConditionModel
(3x32x32, block_out_channels 32/64/64, cross-attention at 8x8 + mid, ~1.4M params) jointly
with a tiny transformers CLIPTextModel (hidden 64, 3 layers, 2 heads, ~0.19M params), on the
procedural shapes data set (dataset.py), v-prediction, DDPM linear betas 1e-4..2e-2.

Recipe: batch 32 (the shipped run used 64 for its first 700 steps, then 32 to get more
updates out of the starved CPU), AdamW lr 5e-4 (500-step linear warm-up, then constant), weight decay 0,
grad-clip 1.0, uniform t in [0, 1000), 10 % of captions replaced by "" (classifier-free
guidance), EMA of both nets (decay min(0.999, (1+n)/(10+n))).  Data are rendered on the fly
from rng seed (SEED, step), so a resumed run sees the same stream.
Every EVAL_EVERY steps the EMA weights sample the 50 held-out prompts (DDIM 20 steps,
trailing spacing, eta 0, CFG 2 and 4, fixed noise seed) and check.py scores them;
rows go to out/train/t2i/curve.csv and a sample sheet to out/train/t2i/samples_<step>.png.

Run / resume (same command; it continues from $EVOKE_TRAIN_OUT/t2i/ckpt.pt, default
out/train/t2i; --init starts from an exported folder, e.g. the shipped assets/tiny-sd, when
there is no checkpoint yet — its EMA weights seed both the trained nets and the EMA, the step
count continues from the file's metadata, and the starting point is evaluated first):
    nohup nice -n 19 /usr/bin/python3 tools/train/train_t2i.py --init assets/tiny-sd --steps 7000 \
        --lr 4e-4 --lr-min 2e-5 --warmup 100 --threads 1 >> $EVOKE_TRAIN_OUT/t2i.log 2>&1 &
Export the latest EMA weights to assets/tiny-sd: /usr/bin/python3 tools/train/export.py
Measured on the 2-core dev machine: ~1.0 s/step with 2 threads (more while others build).
First run: 4700 steps in ~2.3 h wall (0.75-4 s/step depending on other jobs); v-MSE loss 0.061
(mean of steps 4000-4500); held-out checker at CFG 2: ok 0.40, colour+position 0.68.
Full curve: tools/train/README.md.
"""
import argparse
import copy
import csv
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import common
from check import score
from clip import CLIPTextModel
from dataset import heldout_prompts, render_batch
from ddim import DDIM, sample_cfg
from unet import UNet2DConditionModel

SEED = 1234
EVAL_EVERY = 500
CKPT_EVERY = 100


def lr_at(step, start, args):
    """Linear warm-up over args.warmup steps from `start` (0, or the step of the exported
    weights training began from), then constant, or cosine down to args.lr_min at args.steps."""
    k = step - start
    lr = args.lr * min(1.0, (k + 1) / max(1, args.warmup))
    if args.lr_min is not None and k >= args.warmup:
        f = min(1.0, (k - args.warmup) / max(1, args.steps - start - args.warmup))
        lr = args.lr_min + (args.lr - args.lr_min) * 0.5 * (1 + math.cos(math.pi * f))
    return lr


def ema_update(ema, model, decay):
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)


@torch.no_grad()
def evaluate(unet, te, tok, ddim, prompts, guidances=(2.0, 4.0), steps=20, seed=7):
    unet.eval()
    te.eval()
    ids = torch.tensor([tok(p) for p in prompts])
    cond = te(ids)[0]
    uncond = te(torch.tensor([tok("")]))[0].expand_as(cond)
    res = {}
    for g in guidances:
        gen = torch.Generator().manual_seed(seed)
        x = sample_cfg(unet, ddim, cond, uncond, steps=steps, guidance=g, generator=gen)
        imgs = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        res[g] = (score(imgs, prompts), imgs)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(common.OUT, "t2i"))
    ap.add_argument("--init", default=None,
                    help="exported pipeline folder (e.g. assets/tiny-sd) to start from when OUT has no "
                         "checkpoint: its EMA weights initialise both the trained nets and the EMA, the "
                         "step count continues from its safetensors metadata")
    ap.add_argument("--warmup", type=int, default=500, help="linear lr warm-up steps (from the start step)")
    ap.add_argument("--lr-min", type=float, default=None,
                    help="anneal the lr (cosine) from --lr after warm-up down to this value at --steps; "
                         "default: constant lr")
    ap.add_argument("--eval-every", type=int, default=EVAL_EVERY)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(SEED)
    tok = common.tokenizer()
    tcfg = common.text_config(tok)
    ucfg = common.unet_config(tcfg["hidden_size"])
    te = CLIPTextModel(tcfg)
    unet = UNet2DConditionModel(ucfg)
    # transformers-like init for the text tower
    for m in te.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
            torch.nn.init.normal_(m.weight, std=0.02)
    ema_te, ema_unet = copy.deepcopy(te), copy.deepcopy(unet)
    params = list(unet.parameters()) + list(te.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    ddim = DDIM(common.SCHEDULER_CONFIG)
    ckpt = os.path.join(args.out, "ckpt.pt")
    step = start = 0
    if os.path.exists(ckpt):
        sd = torch.load(ckpt)
        unet.load_state_dict(sd["unet"])
        te.load_state_dict(sd["te"])
        ema_unet.load_state_dict(sd["ema_unet"])
        ema_te.load_state_dict(sd["ema_te"])
        opt.load_state_dict(sd["opt"])
        step = sd["step"]
        torch.set_rng_state(sd["torch_rng"])
        start = sd.get("start_step", 0)
        print(f"resumed at step {step}", flush=True)
    elif args.init:
        ufile = os.path.join(args.init, "unet", "diffusion_pytorch_model.safetensors")
        tfile = os.path.join(args.init, "text_encoder", "model.safetensors")
        assert common.load_json(os.path.join(args.init, "unet", "config.json")) == ucfg, "unet config differs"
        assert common.load_json(os.path.join(args.init, "text_encoder", "config.json")) == tcfg, "text config differs"
        for m, e, f in ((unet, ema_unet, ufile), (te, ema_te, tfile)):
            w = common.load_weights(f)
            m.load_state_dict(w)
            e.load_state_dict(w)
        step = start = common.exported_step(ufile)
        print(f"initialised from {args.init} (exported EMA, step {step})", flush=True)
    print(f"unet {sum(p.numel() for p in unet.parameters())} params, text {sum(p.numel() for p in te.parameters())}",
          flush=True)
    prompts = heldout_prompts(50)
    curve = os.path.join(args.out, "curve.csv")
    if not os.path.exists(curve):
        with open(curve, "w") as f:
            f.write("step,loss,guidance,ok,colour,shape,position,size,colour_pos,elapsed_s\n")
    idcache = {}

    def ids_of(c):
        if c not in idcache:
            idcache[c] = tok(c)
        return idcache[c]

    ac = ddim.alphas_cumprod
    losses = []
    t_start = time.time()
    t_last = time.time()

    def run_eval():
        t0 = time.time()
        res = evaluate(ema_unet, ema_te, tok, ddim, prompts)
        mloss = np.mean(losses[-args.eval_every:]) if losses else float("nan")
        with open(curve, "a") as f:
            for g, (s, imgs) in res.items():
                f.write(f"{step},{mloss:.5f},{g},{s['ok']:.3f},{s['colour']:.3f},"
                        f"{s['shape']:.3f},{s['position']:.3f},{s['size']:.3f},{s['colour_pos']:.3f},"
                        f"{time.time() - t_start:.0f}\n")
                print(f"eval step {step} cfg {g}: " + " ".join(f"{k} {v:.2f}" for k, v in s.items()), flush=True)
        common.write_png(os.path.join(args.out, f"samples_{step}.png"), common.grid(res[2.0][1]))
        torch.save({"ema_unet": ema_unet.state_dict(), "ema_te": ema_te.state_dict(), "step": step},
                   os.path.join(args.out, f"ema_{step}.pt"))
        print(f"eval took {time.time() - t0:.0f}s", flush=True)

    if args.init and step == start and not os.path.exists(os.path.join(args.out, f"ema_{step}.pt")):
        run_eval()  # the starting point, measured with the same eval
    while step < args.steps:
        unet.train()
        te.train()
        rng = np.random.default_rng([SEED, step])
        imgs, caps, _ = render_batch(rng, args.batch)
        caps = ["" if rng.random() < 0.1 else c for c in caps]
        x0 = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        ids = torch.tensor([ids_of(c) for c in caps])
        t = torch.randint(0, 1000, (args.batch,))
        eps = torch.randn_like(x0)
        a = ac[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        v = a.sqrt() * eps - (1 - a).sqrt() * x0
        for g in opt.param_groups:
            g["lr"] = lr_at(step, start, args)
        ctx = te(ids)[0]
        pred = unet(xt, t.float(), ctx)
        loss = F.mse_loss(pred, v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        d = min(0.999, (1 + step) / (10 + step))
        ema_update(ema_unet, unet, d)
        ema_update(ema_te, te, d)
        losses.append(loss.item())
        if step % 50 == 0:
            now = time.time()
            print(f"step {step} loss {np.mean(losses[-50:]):.4f} lr {opt.param_groups[0]['lr']:.2e} "
                  f"{(now - t_last) / 50:.2f} s/step", flush=True)
            t_last = now
        if step % CKPT_EVERY == 0 or step == args.steps:
            tmp = ckpt + ".tmp"
            torch.save({"unet": unet.state_dict(), "te": te.state_dict(), "ema_unet": ema_unet.state_dict(),
                        "ema_te": ema_te.state_dict(), "opt": opt.state_dict(), "step": step,
                        "torch_rng": torch.get_rng_state(), "start_step": start, "unet_config": ucfg, "text_config": tcfg,
                        "scheduler_config": common.SCHEDULER_CONFIG, "loss": float(np.mean(losses[-100:]))}, tmp)
            os.replace(tmp, ckpt)
        if step % args.eval_every == 0 or step == args.steps:
            run_eval()


if __name__ == "__main__":
    main()
