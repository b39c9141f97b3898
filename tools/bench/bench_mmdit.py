#!/usr/bin/python3
"""bench_mmdit.py — one call of the SD3.5-Medium transformer (MMDiT-X): evoke (Vulkan) against
diffusers' own SD3Transformer2DModel on the CPU, in one script.

    PYTHONPATH=<diffusers v0.31 src>:<shims>[:<gguf-py>] /usr/bin/python3 tools/bench/bench_mmdit.py
        [--layers 24] [--latent 128] [--batch 2] [--reps 2] [--threads 2] [--weights f16,q8_0,q4_k]
        [--build build] [--out out/bench_mmdit] [--skip-torch] [--memory-only]

(diffusers and its import shims as tools/ref/fixtures_sd3.py describes; the transformer itself
needs no transformers package. Quantised weights need llama.cpp's gguf-py, as
tools/ref/fixtures_sd3_gguf.py describes.)

What it does, in one run on one machine:
  1. The real SD3.5-Medium transformer config (24 layers of 1536 channels = 24 heads of 64,
     dual_attention_layers 0..12, qk_norm rms_norm, joint_attention_dim 4096, pooled 2048,
     pos_embed_max_size 384). --layers N keeps the first N-1 blocks and the context-pre-only last
     block (the real widths; dual attention where the real model has it), for machines where the
     whole model does not fit or takes too long. Random weights under diffusers' names
     (fan-in-scaled normals, norm gains ~1), stored as F16 safetensors under OUT (cached, never
     committed; the position table is a buffer both sides compute, not stored); random inputs:
     latent [batch, 16, latent, latent], timesteps, 154 text tokens of 4096, pooled [batch, 2048].
  2. For each of --weights: f16 (the safetensors file, f16 weight storage), q8_0 and q4_k (a GGUF
     file made from the same f16 values: the blocks' matrices quantised — Q8_0 by gguf-py's own
     quantiser, Q4_K by tools/ref/fixtures_unet_gguf.py's — and the embedders, final layer and
     vectors kept F16 / F32, as ComfyUI-GGUF's SD3 files are; loaded "as stored", the quantised
     matrices stay quantised on the device):
     evoke: tools/bench/mmdit_bench.c (with the shared net_bench.h loop) compiled against
     BUILD/libevoke.a, the profiler on: one warm-up call then --reps timed calls (median),
     device memory of the weights and at the peak of a call, per-kernel GPU time;
     PyTorch: diffusers' SD3Transformer2DModel with the same weights (f16-rounded, or gguf-py's
     dequantisation of the blocks) in f32, torch.no_grad, --threads threads: for the first kind
     one warm-up then --reps calls (median) and peak RSS; for the others one call (its output).
  3. The relative L2 difference of the outputs per kind, a table, OUT/<variant>/result.json.
  --memory-only: the parameter counts of the full model (counted from diffusers' blocks, nothing
  run) and the memory a 1024² generation needs at f16.
"""
import argparse
import gc
import json
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
from bench_net import (build_bench, draw_f16, finish, gib, load_f16, log, no_init, print_kernels,  # noqa: E402
                       read_inputs, rel_l2, run_evoke, st_read_header, time_torch, write_f16, write_inputs)

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


def make_inputs(path, batch, latent):
    rng = np.random.default_rng(11)
    write_inputs(path, {
        "sample": rng.standard_normal((batch, 16, latent, latent)).astype(np.float32),
        "timestep": (1000 * rng.uniform(0.05, 1.0, size=batch)).astype(np.float32),
        "encoder_hidden_states": rng.standard_normal((batch, TEXT_LEN, 4096)).astype(np.float32),
        "pooled_projections": rng.standard_normal((batch, 2048)).astype(np.float32),
    })


QUANT = {"q8_0": ("Q8_0", 32, 34), "q4_k": ("Q4_K", 256, 144)}


def quantise_to_gguf(model, path, kind):
    """Write `model`'s weights (diffusers names) as a GGUF file, the joint blocks' matrices in
    `kind` and the rest F16 (matrices, kernels) / F32 (vectors), streamed tensor by tensor, and
    put gguf-py's dequantisation of the quantised ones back into the model (what PyTorch runs)."""
    import gguf
    from gguf.constants import GGMLQuantizationType as GT
    sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))
    from fixtures_unet_gguf import quant_q4_k
    qname, per, nb = QUANT[kind]
    sd = {k: v for k, v in model.state_dict().items() if k != "pos_embed.pos_embed"}

    def plan(name, p):
        if p.ndim == 1:
            return "F32"
        if name.startswith("transformer_blocks.") and p.ndim == 2 and p.shape[1] % per == 0:
            return qname
        return "F16"
    kinds = {n: plan(n, p) for n, p in sd.items()}
    w = gguf.GGUFWriter(path + ".part", arch="sd3")
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for n, p in sd.items():
        k = kinds[n]
        if k == qname:
            w.add_tensor_info(n, (p.shape[0], p.shape[1] // per * nb), np.dtype(np.uint8), p.shape[0] * p.shape[1] // per * nb, GT[k])
        else:
            dt = np.dtype(np.float32 if k == "F32" else np.float16)
            w.add_tensor_info(n, tuple(p.shape), dt, p.numel() * dt.itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    quantised = 0
    for n, p in sd.items():
        k = kinds[n]
        a = p.numpy().astype(np.float32)
        if k == qname:
            data = gguf.quants.quantize(a, GT.Q8_0) if k == "Q8_0" else \
                np.frombuffer(quant_q4_k(a), dtype=np.uint8).reshape(a.shape[0], -1)
            p.copy_(torch.from_numpy(gguf.quants.dequantize(data, GT[k]).astype(np.float32).reshape(a.shape)))
            quantised += p.numel()
        else:
            data = a if k == "F32" else a.astype(np.float16)
        w.write_tensor_data(data)
    w.close()
    os.replace(path + ".part", path)
    return quantised


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
    ap.add_argument("--weights", default="f16", help="comma-separated: f16, q8_0, q4_k")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench_mmdit"))
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--memory-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_only:
        memory_report()
        return 0
    kinds = args.weights.split(",")
    if any(k not in ("f16", *QUANT) for k in kinds):
        raise SystemExit(f"--weights {args.weights}: kinds are f16, q8_0, q4_k")
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
        with no_init():
            model = SD3Transformer2DModel(**kwargs).eval()
        with torch.no_grad():
            sd = {k: v for k, v in model.state_dict().items() if k != "pos_embed.pos_embed"}
            draw_f16(sd, 2025)
            write_f16(sd, w_path)
        del model, sd
        gc.collect()
    if not os.path.exists(in_path):
        make_inputs(in_path, args.batch, args.latent)
    inputs = read_inputs(in_path)
    n_params = sum(int(np.prod(i["shape"])) for i in st_read_header(w_path)[0].values())
    exe = build_bench(args.build, "mmdit_bench")
    x, t = torch.from_numpy(inputs["sample"]), torch.from_numpy(inputs["timestep"])
    c, p = torch.from_numpy(inputs["encoder_hidden_states"]), torch.from_numpy(inputs["pooled_projections"])
    shape = (args.batch, 16, args.latent, args.latent)
    runs = {}
    for i, kind in enumerate(kinds):
        log(f"--- {kind} weights ---")
        with torch.no_grad(), no_init():
            model = SD3Transformer2DModel(**kwargs).eval()
            load_f16(model, w_path, strict=False)  # every parameter (the position table is a buffer)
            if kind == "f16":
                wfile, storage, quantised = w_path, "f16", 0
            else:
                wfile, storage = os.path.join(work, f"transformer.{kind}.gguf"), "quant"
                log(f"quantising the blocks' matrices to {QUANT[kind][0]} -> {wfile}")
                quantised = quantise_to_gguf(model, wfile, kind)
        r = run_evoke(exe, [cfg_path, wfile, in_path, storage], work, shape, args.reps, tag=f"evoke_{kind}")
        if r is None:
            return 1
        ev, y_evoke = r
        tr = y_torch = None
        if not args.skip_torch:
            reps = args.reps if i == 0 else 1
            log(f"PyTorch ({kind} weights): {'1 warm-up + ' if i == 0 else ''}{reps} calls on {args.threads} threads")
            tr, y_torch = time_torch(lambda m=model: m(x, encoder_hidden_states=c, pooled_projections=p, timestep=t).sample,
                                     reps, args.threads, warmup=i == 0)
        del model
        gc.collect()
        run = {"evoke": ev, "torch": tr, "file_bytes": os.path.getsize(wfile), "quantised_values": quantised,
               "finite": bool(np.isfinite(y_evoke).all())}
        if tr:
            run["rel_l2"] = rel_l2(y_evoke, y_torch)
        runs[kind] = run

    res = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": platform.platform(), "cpus": os.cpu_count(),
           "load_start": load_start, "load_end": os.getloadavg(), "variant": variant, "config": cfg, "params": n_params,
           "batch": args.batch, "latent": args.latent, "reps": args.reps, "runs": runs}
    tokens = (args.latent // 2) ** 2
    first = runs[kinds[0]]
    ev0 = first["evoke"]
    print()
    print(f"SD3.5-Medium transformer, {args.layers} of 24 layers ({n_params / 1e6:.0f} M params), batch {args.batch}, "
          f"latent {args.latent}x{args.latent} ({tokens} image + {TEXT_LEN} text tokens); median of {args.reps} calls after 1 warm-up")
    print(f"evoke device: {ev0['device']} ({ev0['driver']}); {ev0['dispatches']} dispatches per call")
    print(f"load average at start {load_start[0]:.1f}, at end {res['load_end'][0]:.1f} ({os.cpu_count()} CPUs)")
    print()
    print("| weights | evoke ms per call | evoke calls (ms) | weights on the device | peak device memory of a call | "
          "PyTorch CPU ms per call | outputs (rel. L2 evoke vs PyTorch) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for kind in kinds:
        r = runs[kind]
        ev, tr = r["evoke"], r["torch"]
        print(f"| {kind} | {ev['wall_ms_median']:.0f} | {', '.join(f'{v:.0f}' for v in ev['wall_ms'])} | {gib(ev['weight_bytes'])} | "
              f"{gib(ev['peak_bytes'])} | {tr['ms_median'] if tr else float('nan'):.0f} | {r.get('rel_l2', float('nan')):.2g} |")
    if first["torch"] and first["torch"]["peak_rss_calls"]:
        print(f"\nPyTorch peak RSS of the calls ({kinds[0]}): {gib(first['torch']['peak_rss_calls'])}; its f32 weights {gib(n_params * 4)}")
    for kind in kinds:
        print(f"\n{kind}:", end="")
        print_kernels(runs[kind]["evoke"], args.reps, 8)
    agree = all(r["finite"] and r.get("rel_l2", 0.0) < 2e-2 for r in runs.values())
    return finish(res, os.path.join(work, "result.json"), agree)


if __name__ == "__main__":
    sys.exit(main())
