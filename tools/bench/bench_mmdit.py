#!/usr/bin/python3
"""bench_mmdit.py — one call of the SD3.5-Medium transformer (MMDiT-X): evoke (Vulkan) against
diffusers' own SD3Transformer2DModel on the CPU, in one script.

    PYTHONPATH=<diffusers v0.31 src>:<shims> /usr/bin/python3 tools/bench/bench_mmdit.py
        [--layers 24] [--latent 128] [--batch 2] [--reps 2] [--threads 2] [--build build]
        [--out out/bench_mmdit] [--skip-torch] [--memory-only]

(diffusers and its import shims as tools/ref/fixtures_sd3.py describes; the transformer itself
needs no transformers package.)

What it does, in one run on one machine:
  1. The real SD3.5-Medium transformer config (24 layers of 1536 channels = 24 heads of 64,
     dual_attention_layers 0..12, qk_norm rms_norm, joint_attention_dim 4096, pooled 2048,
     pos_embed_max_size 384). --layers N keeps the first N-1 blocks and the context-pre-only last
     block (the real widths; dual attention where the real model has it), for machines where the
     whole model does not fit or takes too long. Random weights under diffusers' names
     (fan-in-scaled normals, norm gains ~1), stored as F16 safetensors under OUT (cached, never
     committed; the position table is a buffer both sides compute, not stored); random inputs:
     latent [batch, 16, latent, latent], timesteps, 154 text tokens of 4096, pooled [batch, 2048].
  2. evoke: tools/bench/mmdit_bench.c compiled against BUILD/libevoke.a, f16 weight storage, the
     profiler on: one warm-up call then --reps timed calls (median), device memory of the weights
     and at the peak of a call, per-kernel GPU time.
  3. PyTorch: diffusers' SD3Transformer2DModel with the same f16-rounded weights in f32,
     torch.no_grad, --threads threads, one warm-up then --reps calls (median), peak RSS.
  4. The relative L2 difference of the outputs, a table, OUT/<variant>/result.json.
  --memory-only: the parameter counts of the full model (counted from diffusers' blocks, nothing
  run) and the memory a 1024² generation needs at f16.
"""
import argparse
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
from bench_unet import gib, log, read_inputs, reset_hwm, st_header, st_read_header, vm_hwm  # noqa: E402

if not hasattr(F, "scaled_dot_product_attention"):  # torch < 2.0: the plain formula under that name
    def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
        s = q @ k.transpose(-2, -1) * (scale if scale is not None else q.shape[-1] ** -0.5)
        return s.softmax(-1) @ v
    F.scaled_dot_product_attention = _sdpa

SD35M = {
    "_class_name": "SD3Transformer2DModel", "_diffusers_version": "0.31.0", "attention_head_dim": 64,
    "caption_projection_dim": 1536, "dual_attention_layers": list(range(13)), "in_channels": 16,
    "joint_attention_dim": 4096, "num_attention_heads": 24, "num_layers": 24, "out_channels": 16, "patch_size": 2,
    "pooled_projection_dim": 2048, "pos_embed_max_size": 384, "qk_norm": "rms_norm", "sample_size": 128,
}
TEXT_LEN = 154  # 77 CLIP tokens + the 77-row T5 slot


def params_of(m):
    return sum(p.numel() for p in m.parameters())


def full_model_params():
    """Parameters of the full SD3.5-Medium transformer, counted from diffusers' own modules
    (one block of each kind, and the model minus its blocks), without building all 24 blocks."""
    from diffusers.models.attention import JointTransformerBlock
    from diffusers.models.transformers.transformer_sd3 import SD3Transformer2DModel
    c = SD35M
    D, L = c["num_attention_heads"] * c["attention_head_dim"], c["num_layers"]
    kw = dict(dim=D, num_attention_heads=c["num_attention_heads"], attention_head_dim=c["attention_head_dim"], qk_norm=c["qk_norm"])
    dual = params_of(JointTransformerBlock(context_pre_only=False, use_dual_attention=True, **kw))
    plain = params_of(JointTransformerBlock(context_pre_only=False, use_dual_attention=False, **kw))
    last = params_of(JointTransformerBlock(context_pre_only=True, use_dual_attention=(L - 1) in c["dual_attention_layers"], **kw))
    one = SD3Transformer2DModel(**{k: v for k, v in dict(c, num_layers=1, dual_attention_layers=()).items() if not k.startswith("_")})
    rest = params_of(one) - params_of(one.transformer_blocks[0])
    n_dual = sum(1 for i in c["dual_attention_layers"] if i < L - 1)
    return rest + n_dual * dual + (L - 1 - n_dual) * plain + last, {"embed_out": rest, "dual_block": dual, "block": plain,
                                                                    "last_block": last}


def config_for(layers):
    c = dict(SD35M)
    c["num_layers"] = layers
    c["dual_attention_layers"] = [i for i in SD35M["dual_attention_layers"] if i < layers]
    return c


def make_weights(model, path):
    """Random f16-rounded parameters written tensor by tensor; the model keeps the rounded values."""
    gen = torch.Generator().manual_seed(2025)
    sd = {k: v for k, v in model.state_dict().items() if k != "pos_embed.pos_embed"}
    for name, p in sd.items():
        if name.endswith(".weight") and p.ndim >= 2:
            p.normal_(0.0, 1.0 / math.sqrt(p[0].numel()), generator=gen)
        elif name.endswith(".weight"):
            p.normal_(1.0, 0.05, generator=gen)
        else:
            p.normal_(0.0, 0.02, generator=gen)
        p.copy_(p.half().float())
    hdr = st_header({n: (tuple(p.shape), "F16", p.numel() * 2) for n, p in sd.items()})
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(len(hdr).to_bytes(8, "little"))
        f.write(hdr)
        for name in sorted(sd):
            f.write(sd[name].half().numpy().tobytes())
    os.replace(tmp, path)


def load_weights(model, path):
    h, start = st_read_header(path)
    sd = model.state_dict()
    for name, info in h.items():
        a = np.memmap(path, dtype="<f2", mode="r", offset=start + info["data_offsets"][0], shape=tuple(info["shape"]))
        sd[name].copy_(torch.from_numpy(np.asarray(a, dtype=np.float32)))
        del a


def make_inputs(path, batch, latent):
    rng = np.random.default_rng(11)
    t = {
        "sample": rng.standard_normal((batch, 16, latent, latent)).astype(np.float32),
        "timestep": (1000 * rng.uniform(0.05, 1.0, size=batch)).astype(np.float32),
        "encoder_hidden_states": rng.standard_normal((batch, TEXT_LEN, 4096)).astype(np.float32),
        "pooled_projections": rng.standard_normal((batch, 2048)).astype(np.float32),
    }
    hdr = st_header({n: (a.shape, "F32", a.nbytes) for n, a in t.items()})
    with open(path, "wb") as f:
        f.write(len(hdr).to_bytes(8, "little"))
        f.write(hdr)
        for n in sorted(t):
            f.write(t[n].tobytes())


def memory_report():
    total, parts = full_model_params()
    print(f"SD3.5-Medium transformer: {total / 1e6:.1f} M parameters ({gib(total * 2)} at f16); "
          f"per block: dual {parts['dual_block'] / 1e6:.1f} M, plain {parts['block'] / 1e6:.1f} M, "
          f"last {parts['last_block'] / 1e6:.1f} M; embeddings + out {parts['embed_out'] / 1e6:.1f} M")
    return total, parts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--latent", type=int, default=128, help="latent height = width (128: a 1024x1024 image)")
    ap.add_argument("--batch", type=int, default=2, help="2: one guided evaluation (uncond + cond)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench_mmdit"))
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--memory-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_only:
        memory_report()
        return 0
    from diffusers.models.transformers.transformer_sd3 import SD3Transformer2DModel

    load_start = os.getloadavg()
    cfg = config_for(args.layers)
    variant = f"sd35m-l{args.layers}"
    work = os.path.join(args.out, variant)
    os.makedirs(work, exist_ok=True)
    cfg_path, w_path = os.path.join(work, "config.json"), os.path.join(work, "transformer.f16.safetensors")
    in_path = os.path.join(work, f"inputs-b{args.batch}-l{args.latent}.safetensors")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=1)
    kwargs = {k: v for k, v in cfg.items() if not k.startswith("_")}
    if not os.path.exists(w_path):
        log(f"building the {variant} transformer with random weights -> {w_path}")
        model = SD3Transformer2DModel(**kwargs).eval()
        with torch.no_grad():
            make_weights(model, w_path)
        del model
        gc.collect()
    if not os.path.exists(in_path):
        make_inputs(in_path, args.batch, args.latent)
    inputs = read_inputs(in_path)
    n_params = sum(int(np.prod(i["shape"])) for i in st_read_header(w_path)[0].values())

    # ---- evoke -----------------------------------------------------------------------------------
    lib = os.path.join(args.build, "libevoke.a")
    if not os.path.exists(lib):
        raise SystemExit(f"{lib} not found: build evoke first")
    exe = os.path.join(args.build, "mmdit_bench")
    libs = subprocess.run(["pkg-config", "--libs", "libcjson"], check=True, capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-std=c17", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "runtime"),
                    os.path.join(ROOT, "tools", "bench", "mmdit_bench.c"), lib, *libs, "-ldl", "-lm", "-o", exe], check=True)
    e_out, e_sum = os.path.join(work, "evoke_out.f32"), os.path.join(work, "evoke_summary.json")
    log(f"evoke: 1 warm-up + {args.reps} calls")
    r = subprocess.run([exe, cfg_path, w_path, in_path, e_out, e_sum, str(args.reps), "f16"])
    if r.returncode != 0:
        log(f"evoke failed (exit {r.returncode}; its message is above)")
        return 1
    with open(e_sum) as f:
        ev = json.load(f)
    y_evoke = np.fromfile(e_out, dtype="<f4").reshape(args.batch, 16, args.latent, args.latent)

    # ---- PyTorch (diffusers) ------------------------------------------------------------------------
    tr = None
    if not args.skip_torch:
        log(f"PyTorch: loading, then 1 warm-up + {args.reps} calls on {args.threads} threads")
        with torch.no_grad():
            model = SD3Transformer2DModel(**kwargs).eval()
            load_weights(model, w_path)
            gc.collect()
            x, t = torch.from_numpy(inputs["sample"]), torch.from_numpy(inputs["timestep"])
            c, p = torch.from_numpy(inputs["encoder_hidden_states"]), torch.from_numpy(inputs["pooled_projections"])
            rss_loaded = vm_hwm()
            hwm_reset = reset_hwm()
            times = []
            for i in range(args.reps + 1):
                c0 = time.perf_counter()
                y = model(x, encoder_hidden_states=c, pooled_projections=p, timestep=t).sample
                times.append((time.perf_counter() - c0) * 1e3)
                log(f"PyTorch call {i}{' (warm-up)' if i == 0 else ''}: {times[-1]:.0f} ms")
            y_torch = y.numpy()
        tr = {"warmup_ms": times[0], "ms": times[1:], "ms_median": float(np.median(times[1:])),
              "peak_rss_calls": vm_hwm() if hwm_reset else None, "peak_rss_load": rss_loaded,
              "threads": args.threads, "version": torch.__version__}
        del model
        gc.collect()

    res = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": platform.platform(), "cpus": os.cpu_count(),
           "load_start": load_start, "load_end": os.getloadavg(), "variant": variant, "config": cfg, "params": n_params,
           "batch": args.batch, "latent": args.latent, "reps": args.reps, "evoke": ev, "torch": tr}
    tokens = (args.latent // 2) ** 2
    print()
    print(f"SD3.5-Medium transformer, {args.layers} of 24 layers ({n_params / 1e6:.0f} M params), batch {args.batch}, "
          f"latent {args.latent}x{args.latent} ({tokens} image + {TEXT_LEN} text tokens); median of {args.reps} calls after 1 warm-up")
    print(f"evoke device: {ev['device']} ({ev['driver']}); weights in {ev['storage']}; {ev['dispatches']} dispatches per call")
    print(f"load average at start {load_start[0]:.1f}, at end {res['load_end'][0]:.1f} ({os.cpu_count()} CPUs)")
    print()
    print("| | evoke (Vulkan) | PyTorch CPU (diffusers) |")
    print("|---|---|---|")
    print(f"| ms per call (median) | {ev['wall_ms_median']:.0f} | {tr['ms_median'] if tr else float('nan'):.0f} |")
    print(f"| calls (ms) | {', '.join(f'{v:.0f}' for v in ev['wall_ms'])} | {', '.join(f'{v:.0f}' for v in tr['ms']) if tr else '-'} |")
    rss = tr["peak_rss_calls"] if tr else None
    print(f"| peak memory of a call | {gib(ev['peak_bytes'])} device | {gib(rss) + ' RSS' if rss else '-'} |")
    print(f"| of which weights | {gib(ev['weight_bytes'])} (f16) | {gib(n_params * 4)} (f32) |")
    finite = bool(np.isfinite(y_evoke).all())
    if tr:
        res["rel_l2"] = float(np.linalg.norm((y_evoke - y_torch).ravel()) / np.linalg.norm(y_torch.ravel()))
        print(f"\nrelative L2 difference evoke vs PyTorch: {res['rel_l2']:.3g} (evoke output finite: {finite})")
    total = sum(k["total_ms"] for k in ev["kernels"]) or 1.0
    print(f"\nevoke kernels over the {args.reps} timed calls (GPU time, {total / args.reps:.0f} ms per call):")
    for k in ev["kernels"][:12]:
        print(f"  {k['label']:<40} {k['calls'] // args.reps:6d} dispatches/call {k['total_ms'] / args.reps:10.0f} ms/call "
              f"{100 * k['total_ms'] / total:5.1f} %")
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump(res, f, indent=1)
    if tr and not (finite and res["rel_l2"] < 2e-2):
        print("WARNING: outputs disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
