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
  2. evoke: tools/bench/unet_bench.c is compiled against BUILD/libevoke.a (as
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
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))
import unet as ref_unet  # noqa: E402

CONFIG = os.path.join(ROOT, "tests", "data", "configs", "sd21", "unet_config.json")
TEXT_LEN = 77


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def st_header(tensors):
    """safetensors header for name -> (shape, dtype string, nbytes), in name order."""
    header, off = {}, 0
    for name in sorted(tensors):
        shape, dt, nbytes = tensors[name]
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    hj = json.dumps(header, separators=(",", ":")).encode()
    return hj + b" " * ((8 - (8 + len(hj)) % 8) % 8)


def st_read_header(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h, 8 + n


def make_weights(model, path):
    """Draw every parameter of `model`, round to f16, write it tensor by tensor (streamed, so the
    file never sits in memory twice) and leave the f16-rounded values in the model."""
    gen = torch.Generator().manual_seed(2024)
    sd = model.state_dict()
    for name, p in sd.items():
        if name.endswith(".weight") and p.ndim >= 2:
            fan_in = p[0].numel()
            p.normal_(0.0, 1.0 / math.sqrt(fan_in), generator=gen)
        elif name.endswith(".weight"):  # GroupNorm / LayerNorm scale
            p.normal_(1.0, 0.05, generator=gen)
        else:  # biases
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
    """Fill `model` from the F16 file, one memory-mapped tensor at a time."""
    h, start = st_read_header(path)
    sd = model.state_dict()
    if set(h) != set(sd):
        raise SystemExit(f"{path}: tensor names differ from the model's ({len(set(h) ^ set(sd))} differ)")
    for name, info in h.items():
        a = np.memmap(path, dtype="<f2", mode="r", offset=start + info["data_offsets"][0], shape=tuple(info["shape"]))
        sd[name].copy_(torch.from_numpy(np.asarray(a, dtype=np.float32)))
        del a


def make_inputs(path, batch, latent, xdim):
    rng = np.random.default_rng(7)
    t = {
        "sample": rng.standard_normal((batch, 4, latent, latent)).astype(np.float32),
        "timestep": rng.integers(1, 1000, size=batch).astype(np.float32),
        "encoder_hidden_states": rng.standard_normal((batch, TEXT_LEN, xdim)).astype(np.float32),
    }
    hdr = st_header({n: (a.shape, "F32", a.nbytes) for n, a in t.items()})
    with open(path, "wb") as f:
        f.write(len(hdr).to_bytes(8, "little"))
        f.write(hdr)
        for n in sorted(t):
            f.write(t[n].tobytes())
    return t


def read_inputs(path):
    h, start = st_read_header(path)
    out = {}
    for name, info in h.items():
        out[name] = np.array(np.memmap(path, dtype="<f4", mode="r", offset=start + info["data_offsets"][0],
                                       shape=tuple(info["shape"])))
    return out


def vm_hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def gib(b):
    return f"{b / 2**30:.2f} GiB"


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
            make_weights(model, w_path)
        del model
        gc.collect()
        log(f"weights written in {time.time() - t0:.0f} s ({os.path.getsize(w_path) / 2**30:.2f} GiB)")
    if not os.path.exists(in_path):
        make_inputs(in_path, args.batch, args.latent, cfg["cross_attention_dim"])
    inputs = read_inputs(in_path)
    n_params = sum(int(np.prod(i["shape"])) for i in st_read_header(w_path)[0].values())

    # ---- evoke -------------------------------------------------------------------------------
    lib = os.path.join(args.build, "libevoke.a")
    if not os.path.exists(lib):
        raise SystemExit(f"{lib} not found: build evoke first (cmake -S . -B build && cmake --build build)")
    exe = os.path.join(args.build, "unet_bench")
    libs = subprocess.run(["pkg-config", "--libs", "libcjson"], check=True, capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-std=c17", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "runtime"),
                    os.path.join(ROOT, "tools", "bench", "unet_bench.c"), lib, *libs, "-ldl", "-lm", "-o", exe],
                   check=True)
    e_out, e_sum = os.path.join(work, "evoke_out.f32"), os.path.join(work, "evoke_summary.json")
    log(f"evoke: 1 warm-up + {args.reps} calls")
    t0 = time.time()
    r = subprocess.run([exe, cfg_path, w_path, in_path, e_out, e_sum, str(args.reps), "f16"])
    if r.returncode != 0:
        # e.g. lavapipe (Mesa 22.x) reports a fixed 2 GiB heap, and evoke keeps to 80 % of it:
        # the full SD 2.1 UNet's 1.6 GiB of f16 weights plus activations do not fit there.
        log(f"evoke failed (exit {r.returncode}; its message is above); with a device heap too small for "
            f"this variant, try --channels-div 2")
        return 1
    log(f"evoke done in {time.time() - t0:.0f} s")
    with open(e_sum) as f:
        ev = json.load(f)
    y_evoke = np.fromfile(e_out, dtype="<f4").reshape(inputs["sample"].shape[0], cfg["out_channels"],
                                                      args.latent, args.latent)

    # ---- PyTorch -----------------------------------------------------------------------------
    tr = None
    if not args.skip_torch:
        log(f"PyTorch: loading, then 1 warm-up + {args.reps} calls on {args.threads} threads")
        with torch.no_grad():
            model = ref_unet.UNet2DConditionModel(cfg).eval()
            load_weights(model, w_path)
            gc.collect()
            x = torch.from_numpy(inputs["sample"])
            t = torch.from_numpy(inputs["timestep"])
            c = torch.from_numpy(inputs["encoder_hidden_states"])
            rss_loaded = vm_hwm()
            hwm_reset = reset_hwm()
            times = []
            for i in range(args.reps + 1):
                c0 = time.perf_counter()
                y = model(x, t, c)
                times.append((time.perf_counter() - c0) * 1e3)
                log(f"PyTorch call {i}{' (warm-up)' if i == 0 else ''}: {times[-1]:.0f} ms")
            y_torch = y.numpy()
        tr = {"warmup_ms": times[0], "ms": times[1:], "ms_median": float(np.median(times[1:])),
              "peak_rss_calls": vm_hwm() if hwm_reset else None, "peak_rss_load": rss_loaded,
              "threads": args.threads, "version": torch.__version__}
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
        rel = float(np.linalg.norm((y_evoke - y_torch).ravel()) / np.linalg.norm(y_torch.ravel()))
        res["rel_l2"] = rel
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
    total = sum(k["total_ms"] for k in ev["kernels"]) or 1.0
    print(f"\nevoke kernels over the {args.reps} timed calls (GPU time, {total / args.reps:.0f} ms per call):")
    for k in ev["kernels"][:15]:
        print(f"  {k['label']:<40} {k['calls'] // args.reps:6d} dispatches/call "
              f"{k['total_ms'] / args.reps:10.0f} ms/call {100 * k['total_ms'] / total:5.1f} %")
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump(res, f, indent=1)
    if tr and not (finite and res["rel_l2"] < 2e-2):
        print("WARNING: outputs disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
