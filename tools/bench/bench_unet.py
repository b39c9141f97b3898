#!/usr/bin/python3
"""bench_unet.py — one call of the SD 2.1 UNet: evoke (Vulkan) against PyTorch on the CPU.

    /usr/bin/python3 tools/bench/bench_unet.py [--reps 3] [--channels-div 1|2] [--latent 64]
                                        [--batch 2] [--threads 2] [--build build] [--out out/bench_unet]

What it does, in one run on one machine:
  1. Once (cached under OUT/<variant>/, never committed): the real SD 2.1 (768-v) unet config
     (tests/data/configs/sd21/unet_config.json; --channels-div 2 halves block_out_channels, the
     fallback for machines too small for the full model) with random weights under diffusers'
     tensor names, drawn fan-in-scaled normal (std 1/sqrt(fan_in)) so activations stay finite,
     stored as F16 safetensors (~1.7 GB at full size); and random inputs — latent
     [batch, 4, latent, latent], per-item timesteps, encoder_hidden_states [batch, 77, 1024] — as
     a small F32 safetensors file.
  2. evoke: tools/bench/unet_bench.c (with the shared net_bench.h loop) is compiled against BUILD/libevoke.a (as
     tools/bench/runtime_bench.sh does; it is not part of the CMake build) and run with the weights in
     f16 storage and the profiler on: one warm-up call, then --reps timed calls (median), the
     device memory held by the weights and at the peak of a call, and the per-kernel GPU time.
  3. PyTorch: tools/ref/unet.py with the same (f16-rounded) weights in f32, torch.no_grad,
     --threads threads, one warm-up call then --reps calls (median); peak RSS of the calls
     (VmHWM, reset through /proc/self/clear_refs once the model is loaded).
  4. The relative L2 difference of the two outputs (a sanity check: f16 storage against f32),
     then a table, the top kernels, and OUT/<variant>/result.json.

Device memory: evoke keeps to 80 % of the device heap. Lavapipe in Mesa 22.x reports a fixed
2 GiB heap, so there the full-size model (1.6 GiB of f16 weights plus activations) is refused at
load with an out-of-device-memory message; --channels-div 2 is the variant that fits.

Both sides run one after the other, never together. On a CPU Vulkan driver (lavapipe) one call of
the full UNet takes minutes; keep --reps small.
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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
import unet as ref_unet  # noqa: E402
from bench_net import (build_bench, draw_f16, finish, gib, load_f16, log, print_kernels, read_inputs,  # noqa: E402
                       rel_l2, run_evoke, st_read_header, time_torch, write_f16, write_inputs)

CONFIG = os.path.join(ROOT, "tests", "data", "configs", "sd21", "unet_config.json")
TEXT_LEN = 77


def make_inputs(path, batch, latent, xdim):
    rng = np.random.default_rng(7)
    write_inputs(path, {
        "sample": rng.standard_normal((batch, 4, latent, latent)).astype(np.float32),
        "timestep": rng.integers(1, 1000, size=batch).astype(np.float32),
        "encoder_hidden_states": rng.standard_normal((batch, TEXT_LEN, xdim)).astype(np.float32),
    })


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="timed calls after one warm-up (default 3)")
    ap.add_argument("--channels-div", type=int, default=1, choices=(1, 2), help="2: halve block_out_channels")
    ap.add_argument("--latent", type=int, default=64, help="latent height = width (default 64: a 512x512 image)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build folder holding libevoke.a")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench_unet"))
    ap.add_argument("--skip-torch", action="store_true", help="evoke only")
    args = ap.parse_args()

    load_start = os.getloadavg()
    with open(CONFIG) as f:
        cfg = json.load(f)
    if args.channels_div != 1:
        cfg["block_out_channels"] = [c // args.channels_div for c in cfg["block_out_channels"]]
    variant = "sd21" + ("" if args.channels_div == 1 else f"-div{args.channels_div}")
    work = os.path.join(args.out, variant)
    os.makedirs(work, exist_ok=True)
    cfg_path, w_path = os.path.join(work, "config.json"), os.path.join(work, "unet.f16.safetensors")
    in_path = os.path.join(work, f"inputs-b{args.batch}-l{args.latent}.safetensors")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=1)

    torch.set_num_threads(args.threads)
    if not os.path.exists(w_path):
        log(f"building the {variant} UNet with random weights -> {w_path}")
        t0 = time.time()
        model = ref_unet.UNet2DConditionModel(cfg).eval()
        with torch.no_grad():
            sd = model.state_dict()
            draw_f16(sd, 2024)
            write_f16(sd, w_path)
        del model, sd
        gc.collect()
        log(f"weights written in {time.time() - t0:.0f} s ({os.path.getsize(w_path) / 2**30:.2f} GiB)")
    if not os.path.exists(in_path):
        make_inputs(in_path, args.batch, args.latent, cfg["cross_attention_dim"])
    inputs = read_inputs(in_path)
    n_params = sum(int(np.prod(i["shape"])) for i in st_read_header(w_path)[0].values())

    # ---- evoke -------------------------------------------------------------------------------
    exe = build_bench(args.build, "unet_bench")
    r = run_evoke(exe, [cfg_path, w_path, in_path, "f16"], work,
                  (inputs["sample"].shape[0], cfg["out_channels"], args.latent, args.latent), args.reps)
    if r is None:
        # e.g. lavapipe (Mesa 22.x) reports a fixed 2 GiB heap, and evoke keeps to 80 % of it:
        # the full SD 2.1 UNet's 1.6 GiB of f16 weights plus activations do not fit there.
        log("with a device heap too small for this variant, try --channels-div 2")
        return 1
    ev, y_evoke = r

    # ---- PyTorch -----------------------------------------------------------------------------
    tr = None
    if not args.skip_torch:
        log(f"PyTorch: loading, then 1 warm-up + {args.reps} calls on {args.threads} threads")
        with torch.no_grad():
            model = ref_unet.UNet2DConditionModel(cfg).eval()
            load_f16(model, w_path)
        x = torch.from_numpy(inputs["sample"])
        t = torch.from_numpy(inputs["timestep"])
        c = torch.from_numpy(inputs["encoder_hidden_states"])
        tr, y_torch = time_torch(lambda: model(x, t, c), args.reps, args.threads)
        del model
        gc.collect()

    # ---- comparison and report -----------------------------------------------------------------
    res = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": platform.platform(), "cpus": os.cpu_count(),
           "load_start": load_start, "load_end": os.getloadavg(), "variant": variant, "config": cfg,
           "params": n_params, "batch": args.batch, "latent": args.latent, "reps": args.reps,
           "evoke": ev, "torch": tr}
    finite = bool(np.isfinite(y_evoke).all())
    print()
    print(f"SD 2.1 UNet ({variant}: block_out_channels {cfg['block_out_channels']}, {n_params / 1e6:.0f} M params), "
          f"batch {args.batch}, latent {args.latent}x{args.latent}, text {TEXT_LEN}x{cfg['cross_attention_dim']}; "
          f"median of {args.reps} calls after 1 warm-up")
    print(f"evoke device: {ev['device']} ({ev['driver']}); weights in {ev['storage']} storage; "
          f"{ev['dispatches']} dispatches, {ev['barriers']} barriers per call")
    print(f"load average at start {load_start[0]:.1f}, at end {res['load_end'][0]:.1f} ({os.cpu_count()} CPUs)")
    print()
    print("| | evoke (Vulkan) | PyTorch CPU | ratio evoke/PyTorch |")
    print("|---|---|---|---|")
    if tr:
        res["rel_l2"] = rel_l2(y_evoke, y_torch)
        print(f"| ms per call (median) | {ev['wall_ms_median']:.0f} | {tr['ms_median']:.0f} | "
              f"{ev['wall_ms_median'] / tr['ms_median']:.2f} |")
        print(f"| calls (ms) | {', '.join(f'{v:.0f}' for v in ev['wall_ms'])} | {', '.join(f'{v:.0f}' for v in tr['ms'])} | |")
        print(f"| warm-up call (ms) | {ev['warmup_ms']:.0f} | {tr['warmup_ms']:.0f} | |")
        rss = tr["peak_rss_calls"]
        print(f"| peak memory of a call | {gib(ev['peak_bytes'])} device | "
              f"{gib(rss) + ' RSS' if rss else 'n/a'} | {ev['peak_bytes'] / rss if rss else float('nan'):.2f} |")
        print(f"| of which weights | {gib(ev['weight_bytes'])} ({ev['storage']}) | "
              f"{gib(n_params * 4)} (f32) | |")
    else:
        print(f"| ms per call (median) | {ev['wall_ms_median']:.0f} | - | - |")
        print(f"| peak device memory | {gib(ev['peak_bytes'])} | - | - |")
    print(f"| evoke GPU time per call (profiler, median) | {ev['gpu_ms_median']:.0f} | | |")
    print(f"| evoke host peak RSS (whole process) | {gib(ev['host_peak_rss'])} | | |")
    print()
    if tr:
        print(f"relative L2 difference evoke vs PyTorch: {res['rel_l2']:.3g} (evoke output finite: {finite})")
    print_kernels(ev, args.reps, 15)
    return finish(res, os.path.join(work, "result.json"), not tr or (finite and res["rel_l2"] < 2e-2))

if __name__ == "__main__":
    sys.exit(main())
