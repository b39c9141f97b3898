#!/usr/bin/python3
"""bench_vc2.py — one call of VideoCrafter2's 3-D UNet (lvdm's openaimodel3d.UNetModel, as T2V-Turbo
runs it): evoke (Vulkan) against T2V-Turbo's own lvdm code on the CPU, in one script.

    PYTHONPATH=SHIM:EINOPS:OPEN_CLIP/src:T2V_TURBO /usr/bin/python3 tools/bench/bench_vc2.py \\
        --yaml T2V_TURBO/configs/inference_t2v_512_v2.0.yaml [--frames 16] [--height 40] [--width 64]
        [--model-channels N] [--teacher] [--reps 1] [--no-warmup] [--threads 2] [--build build]
        [--out out/bench_vc2] [--skip-torch] [--reuse-evoke] [--prepare] [--decode-frames N]

(the upstream checkouts and import shims as tools/ref/fixtures_vc2.py describes: T2V-Turbo's lvdm
package is the reference, run from outside this repository.)

What it does, in one run on one machine:
  1. The UNet config: model.params.unet_config.params of the given lvdm yaml (VideoCrafter2's
     inference_t2v_512_v2.0.yaml: model_channels 320, channel_mult [1, 2, 4, 4], 2 res blocks,
     attention at [4, 2, 1], head dim 64, context 1024, temporal conv and attention, init_attn,
     fps_cond), plus time_cond_proj_dim 256 as T2V-Turbo's app.py builds its student (--teacher:
     without it), use_checkpoint off (gradient checkpointing only). --model-channels N narrows the
     widths for a quick agreement check. Written to OUT/<variant>/vc2.yaml, the file both sides read.
  2. Once (cached under OUT/<variant>/, never committed): random weights under lvdm's own tensor
     names (fan-in-scaled normals, norm gains ~1, rounded to f16) as F16 safetensors (~2.8 GB at
     full size), and random inputs: x [1, 4, frames, height, width] (lvdm's layout), t 759 (the
     second of T2V-Turbo's 4 steps), context [1, 77, 1024], fps 16, w 7.5. --prepare stops here.
  3. evoke: tools/bench/vc2_bench.c (with the shared net_bench.h loop) compiled against
     BUILD/libevoke.a and run with f16 weight storage, the profiler on: one warm-up call (none with
     --no-warmup) then --reps timed calls, device memory of the weights and at the peak of a call,
     per-kernel GPU time. --reuse-evoke takes the last evoke run's output and summary from
     OUT/<variant>/ instead (e.g. when the PyTorch side is run again).
  4. PyTorch: lvdm's UNetModel with the same f16-rounded weights in f32, torch.no_grad,
     --threads threads; T2V-Turbo's get_w_embedding(w, 256) as timestep_cond; the same warm-up
     and reps; peak RSS (VmHWM, reset once the model is loaded).
  5. --decode-frames N: also the VAE decode of N latent frames [N, 4, height, width] in one call
     (VideoCrafter2 decodes its clips frame by frame with SD's AutoencoderKL: ch 128, ch_mult
     [1, 2, 4, 4], 2 res blocks; tests/data/configs/sd21/vae_config.json), random f16-rounded
     weights under diffusers' names (cached in OUT/vae-sd/): evoke's tools/bench/vae_bench.c
     beside tools/ref/vae.py on PyTorch, with the same warm-up and reps.
  6. The outputs' relative L2 and max differences, a table, the load average sampled during the
     run, the projection of a 4-step T2V-Turbo video (4 calls) against the teacher's 50-step DDIM
     with classifier-free guidance (100 calls) from the measured time per call (plus the decode of
     `frames` frames scaled from the measured one when --decode-frames is given), and
     OUT/<variant>/result.json.
"""
import argparse
import gc
import json
import os
import platform
import sys
import threading
import time

import numpy as np
import torch
import torch.utils.checkpoint  # noqa: F401 (lvdm.common reads torch.utils.checkpoint without importing it)
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
from bench_net import (build_bench, draw_f16, finish, gib, load_f16, log, no_init, print_kernels,  # noqa: E402
                       read_inputs, rel_l2, run_evoke, st_read_header, time_torch, write_f16, write_inputs)

TEXT_LEN = 77
T_STEP, FPS, W = 759.0, 16.0, 7.5


class LoadSampler:
    """The 1-minute load average every `period` seconds while the benchmark runs."""

    def __init__(self, period=15.0):
        self.samples, self.period = [], period
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self.stop.wait(self.period)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.thread.join()


class FlopCounter:
    """Counts the multiply-adds (×2 = FLOPs) of PyTorch calls made while active: Conv1d/2d/3d and
    Linear modules through forward hooks, and lvdm's attention through torch.einsum (its attention
    products, `b i d, b j d -> b i j` and `b i j, b j d -> b i d`), split into spatial self-,
    cross- (77 text tokens) and temporal (attention over the frames) attention. The hooks cost
    microseconds per module, nothing against a call of seconds."""

    def __init__(self, model, frames):
        self.model, self.frames = model, frames
        self.gflop = {"conv": 0.0, "linear": 0.0, "attention_self": 0.0, "attention_cross": 0.0,
                      "attention_temporal": 0.0, "other_einsum": 0.0}

    def hook(self, mod, inp, out):
        if isinstance(mod, torch.nn.Linear):
            self.gflop["linear"] += 2 * out.numel() * mod.in_features / 1e9
        else:
            k = int(np.prod(mod.kernel_size))
            self.gflop["conv"] += 2 * out.numel() * (mod.in_channels // mod.groups) * k / 1e9

    def einsum(self, eq, *ops):
        out = self.orig(eq, *ops)
        lhs = eq.replace(" ", "").split("->")[0].split(",")
        size = {}
        for term, op in zip(lhs, ops):
            for letter, n in zip(term, op.shape):
                size[letter] = n
        flop = 2 * float(np.prod(list(size.values()))) / 1e9
        if len(lhs) == 2 and lhs[0] in ("bid", "bij") and lhs[1] in ("bjd",):
            j = size["j"]
            kind = "attention_cross" if j == TEXT_LEN and size["i"] != TEXT_LEN else \
                "attention_temporal" if j == self.frames and size["i"] == self.frames else "attention_self"
        else:
            kind = "other_einsum"
        self.gflop[kind] += flop
        return out

    def __enter__(self):
        kinds = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)
        self.handles = [m.register_forward_hook(self.hook) for m in self.model.modules() if isinstance(m, kinds)]
        self.orig = torch.einsum
        torch.einsum = self.einsum
        return self

    def __exit__(self, *a):
        torch.einsum = self.orig
        for h in self.handles:
            h.remove()


def decode_stage(args, H, W_):
    """Time the VAE decode of args.decode_frames latent frames on both sides (see the module text)."""
    sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))
    import vae as ref_vae
    work = os.path.join(args.out, "vae-sd")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(ROOT, "tests", "data", "configs", "sd21", "vae_config.json")) as f:
        cfg = json.load(f)
    cfg_path, w_path = os.path.join(work, "vae_config.json"), os.path.join(work, "vae.f16.safetensors")
    n = args.decode_frames
    in_path = os.path.join(work, f"latents-{n}x{H}x{W_}.safetensors")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=1)
    if not os.path.exists(w_path):
        with torch.no_grad():
            dec = ref_vae.AutoencoderKLDecoder(cfg).eval()
            sd = dec.state_dict()
            draw_f16(sd, 2027)
            write_f16(sd, w_path)
        del dec, sd
    if not os.path.exists(in_path):
        write_inputs(in_path, {"latents": np.random.default_rng(17).standard_normal((n, 4, H, W_)).astype(np.float32)})
    z = read_inputs(in_path)["latents"]
    out_shape = (n, cfg["out_channels"], 8 * H, 8 * W_)
    exe = build_bench(args.build, "vae_bench")
    r = run_evoke(exe, [cfg_path, w_path, in_path, "f16", "nowarmup" if args.no_warmup else "warmup"], work, out_shape,
                  args.reps, tag="evoke_vae")
    if r is None:
        return None
    ev, y_evoke = r
    d = {"frames": n, "evoke": ev, "evoke_finite": bool(np.isfinite(y_evoke).all()), "torch": None}
    if not args.skip_torch:
        log(f"PyTorch VAE decode of {n} frame(s)")
        with torch.no_grad():
            dec = ref_vae.AutoencoderKLDecoder(cfg).eval()
            load_f16(dec, w_path)
        zt = torch.from_numpy(z)
        tr, y_torch = time_torch(lambda: dec.decode(zt), args.reps, args.threads, warmup=not args.no_warmup)
        del dec
        gc.collect()
        d.update(torch=tr, rel_l2=rel_l2(y_evoke, y_torch), max_abs_diff=float(np.abs(y_evoke - y_torch).max()))
    return d


def unet_params(yaml_path, model_channels, teacher):
    with open(yaml_path) as f:
        full = yaml.safe_load(f)
    uc = full["model"]["params"]["unet_config"]
    if not uc["target"].endswith("openaimodel3d.UNetModel"):
        raise SystemExit(f"{yaml_path}: unet_config.target is {uc['target']}, not lvdm's openaimodel3d.UNetModel")
    p = uc["params"]
    p["use_checkpoint"] = False
    if model_channels:
        p["model_channels"] = model_channels
    if not teacher:
        p["time_cond_proj_dim"] = 256
    return full, p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--yaml", required=True, help="lvdm inference yaml (VideoCrafter2's inference_t2v_512_v2.0.yaml)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--height", type=int, default=40, help="latent height (40: 320 pixels)")
    ap.add_argument("--width", type=int, default=64, help="latent width (64: 512 pixels)")
    ap.add_argument("--model-channels", type=int, default=0, help="narrow the UNet (0: the yaml's)")
    ap.add_argument("--teacher", action="store_true", help="VideoCrafter2's UNet as it is (no time_cond_proj)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--no-warmup", action="store_true", help="no warm-up call on either side")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench_vc2"))
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--reuse-evoke", action="store_true", help="the last evoke output and summary in OUT instead of a run")
    ap.add_argument("--prepare", action="store_true", help="write the config, weights and inputs, then stop")
    ap.add_argument("--decode-frames", type=int, default=0, help="also time the VAE decode of N frames (0: no)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from lvdm.modules.networks.openaimodel3d import UNetModel
    from pipeline.t2v_turbo_vc2_pipeline import T2VTurboVC2Pipeline

    full, params = unet_params(args.yaml, args.model_channels, args.teacher)
    mc = params["model_channels"]
    variant = f"vc2-mc{mc}" + ("-teacher" if args.teacher else "")
    work = os.path.join(args.out, variant)
    os.makedirs(work, exist_ok=True)
    cfg_path, w_path = os.path.join(work, "vc2.yaml"), os.path.join(work, "unet.f16.safetensors")
    F_, H, W_ = args.frames, args.height, args.width
    in_path = os.path.join(work, f"inputs-f{F_}-{H}x{W_}.safetensors")
    with open(cfg_path, "w") as f:
        yaml.safe_dump(full, f, sort_keys=False)
    if not os.path.exists(w_path):
        log(f"building the {variant} UNet with random weights -> {w_path}")
        t0 = time.time()
        with torch.no_grad(), no_init():
            model = UNetModel(**params).eval()
            sd = model.state_dict()
            draw_f16(sd, 2026)
            write_f16(sd, w_path)
        del model, sd
        gc.collect()
        log(f"weights written in {time.time() - t0:.0f} s ({os.path.getsize(w_path) / 2**30:.2f} GiB)")
    if not os.path.exists(in_path):
        rng = np.random.default_rng(16)
        write_inputs(in_path, {
            "x": rng.standard_normal((1, params["in_channels"], F_, H, W_)).astype(np.float32),
            "t": np.array([T_STEP], np.float32),
            "context": rng.standard_normal((1, TEXT_LEN, params["context_dim"])).astype(np.float32),
            "fps": np.array([FPS], np.float32), "guidance": np.array([W], np.float32),
        })
    if args.prepare:
        return 0
    inputs = read_inputs(in_path)
    n_params = sum(int(np.prod(i["shape"])) for i in st_read_header(w_path)[0].values())
    out_shape = (1, params["out_channels"], F_, H, W_)

    load_start = os.getloadavg()
    with LoadSampler() as loads:
        # ---- evoke ---------------------------------------------------------------------------
        if args.reuse_evoke:
            with open(os.path.join(work, "evoke_summary.json")) as f:
                ev = json.load(f)
            y_evoke = np.fromfile(os.path.join(work, "evoke_out.f32"), dtype="<f4").reshape(out_shape)
            log("evoke: the last run's output and summary")
        else:
            exe = build_bench(args.build, "vc2_bench")
            r = run_evoke(exe, [cfg_path, w_path, in_path, "f16", "nowarmup" if args.no_warmup else "warmup"], work,
                          out_shape, args.reps)
            if r is None:
                return 1
            ev, y_evoke = r
        load_after_evoke = os.getloadavg()

        # ---- PyTorch -------------------------------------------------------------------------
        tr = y_torch = None
        torch_load_s = None
        if not args.skip_torch:
            log(f"PyTorch: loading, then {'' if args.no_warmup else '1 warm-up + '}{args.reps} calls on {args.threads} threads")
            t0 = time.time()
            with torch.no_grad(), no_init():
                model = UNetModel(**params).eval()
                load_f16(model, w_path)
            torch_load_s = time.time() - t0
            x, c = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["context"])
            t = torch.from_numpy(inputs["t"])
            wemb = T2VTurboVC2Pipeline.get_w_embedding(None, torch.from_numpy(inputs["guidance"]), 256) \
                if not args.teacher else None
            fps = int(inputs["fps"][0])
            counter = FlopCounter(model, F_)

            def call():  # the FLOPs of the last call
                for k in counter.gflop:
                    counter.gflop[k] = 0.0
                with counter:
                    return model(x, t, context=c, fps=fps, timestep_cond=wemb)
            tr, y_torch = time_torch(call, args.reps, args.threads, warmup=not args.no_warmup)
            tr["gflop"] = dict(counter.gflop, total=sum(counter.gflop.values()))
            del model
            gc.collect()

        # ---- VAE decode ----------------------------------------------------------------------
        dec = decode_stage(args, H, W_) if args.decode_frames else None

    # ---- comparison and report -----------------------------------------------------------------
    res = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": platform.platform(), "cpus": os.cpu_count(),
           "load_start": load_start, "load_after_evoke": load_after_evoke, "load_end": os.getloadavg(),
           "load_samples": loads.samples, "variant": variant, "unet_params": params, "params": n_params,
           "frames": F_, "latent": [H, W_], "t": T_STEP, "fps": FPS, "w": None if args.teacher else W,
           "reps": args.reps, "warmup": not args.no_warmup, "evoke": ev, "torch": tr, "torch_load_s": torch_load_s,
           "decode": dec}
    finite = bool(np.isfinite(y_evoke).all())
    res["evoke_finite"] = finite
    ls = loads.samples or [load_start[0]]
    print()
    print(f"VideoCrafter2 3-D UNet ({variant}: model_channels {mc}, channel_mult {params['channel_mult']}, "
          f"{'teacher' if args.teacher else 'T2V-Turbo student (time_cond_proj 256)'}, {n_params / 1e6:.0f} M params), "
          f"x [1, 4, {F_}, {H}, {W_}], context [1, {TEXT_LEN}, {params['context_dim']}], t {T_STEP:g}, fps {FPS:g}"
          + ("" if args.teacher else f", w {W:g}"))
    print(f"{'no warm-up' if args.no_warmup else '1 warm-up'}, {args.reps} timed call(s) per side; "
          f"evoke device: {ev['device']} ({ev['driver']}); {ev['dispatches']} dispatches per call")
    print(f"load average (1 min) during the run: mean {np.mean(ls):.1f}, max {max(ls):.1f} over {len(ls)} samples "
          f"({os.cpu_count()} CPUs)")
    print()
    print("| | evoke (Vulkan, f16 weights) | PyTorch CPU (lvdm, f32) | evoke / PyTorch |")
    print("|---|---:|---:|---:|")
    es = ev["wall_ms_median"] / 1e3
    if tr:
        ts = tr["ms_median"] / 1e3
        res["rel_l2"] = rel_l2(y_evoke, y_torch)
        d = np.abs(y_evoke - y_torch)
        res["max_abs_diff"] = float(d.max())
        res["max_abs_ref"] = float(np.abs(y_torch).max())
        print(f"| seconds per call | {es:.1f} | {ts:.1f} | {es / ts:.2f} |")
        if not args.no_warmup:
            print(f"| warm-up call (s) | {ev['warmup_ms'] / 1e3:.1f} | {tr['warmup_ms'] / 1e3:.1f} | |")
        rss = tr["peak_rss_calls"]
        print(f"| peak memory of a call | {gib(ev['peak_bytes'])} device | {gib(rss) + ' RSS' if rss else 'n/a'} | "
              f"{ev['peak_bytes'] / rss if rss else float('nan'):.2f} |")
        print(f"| of which weights | {gib(ev['weight_bytes'])} (f16 storage) | {gib(n_params * 4)} (f32) | |")
        print(f"| loading the weights (s) | {ev['load_ms'] / 1e3:.1f} | {torch_load_s:.1f} | |")
        gf = tr["gflop"]["total"]
        print(f"| GFLOP/s ({gf:.0f} GFLOP per call) | {gf / es:.1f} | {gf / ts:.1f} | |")
    else:
        print(f"| seconds per call | {es:.1f} | - | - |")
        print(f"| peak device memory of a call | {gib(ev['peak_bytes'])} | - | - |")
    print(f"| evoke GPU time per call (profiler) | {ev['gpu_ms_median'] / 1e3:.1f} | | |")
    print(f"| evoke host peak RSS (whole process) | {gib(ev['host_peak_rss'])} | | |")
    print()
    if tr:
        print("GFLOP per call (counted in the PyTorch call): "
              + ", ".join(f"{k} {v:.1f}" for k, v in tr["gflop"].items()))
        print(f"outputs: relative L2 {res['rel_l2']:.3g}, max |evoke - PyTorch| {res['max_abs_diff']:.3g} "
              f"(max |PyTorch| {res['max_abs_ref']:.3g}); evoke output finite: {finite}")
    # a 4-step T2V-Turbo video: 4 calls (w through time_cond_proj, no CFG); the teacher's 50-step
    # DDIM with CFG: 2 calls per step (batch-1 calls; a batch-2 call does the same work); both
    # decode the same `frames` frames once
    e_dec = t_dec = 0.0
    if dec:
        e_dec = dec["evoke"]["wall_ms_median"] / 1e3 * F_ / dec["frames"]
        if dec["torch"]:
            t_dec = dec["torch"]["ms_median"] / 1e3 * F_ / dec["frames"]
        print(f"VAE decode of {dec['frames']} frame(s) of {8 * H}x{8 * W_}: evoke {dec['evoke']['wall_ms_median'] / 1e3:.1f} s "
              f"(peak device memory {gib(dec['evoke']['peak_bytes'])}, finite {dec['evoke_finite']})"
              + (f", PyTorch {dec['torch']['ms_median'] / 1e3:.1f} s; relative L2 {dec['rel_l2']:.3g}" if dec["torch"] else "")
              + f"; {F_} frames: evoke {e_dec:.0f} s" + (f", PyTorch {t_dec:.0f} s" if dec["torch"] else ""))
    proj = {"student_calls": 4, "teacher_calls": 100, "evoke_decode_s": e_dec,
            "evoke_student_s": 4 * es + e_dec, "evoke_teacher_s": 100 * es + e_dec}
    if tr:
        proj.update(torch_decode_s=t_dec, torch_student_s=4 * ts + t_dec, torch_teacher_s=100 * ts + t_dec)
    res["projection"] = proj
    print(f"projected time of one video ({'UNet calls + decode' if dec else 'UNet calls only, decode not included'}): "
          f"4-step T2V-Turbo {proj['evoke_student_s']:.0f} s, 50-step DDIM + CFG {proj['evoke_teacher_s']:.0f} s on evoke "
          f"({proj['evoke_teacher_s'] / proj['evoke_student_s']:.1f}x)"
          + (f"; {proj['torch_student_s']:.0f} s vs {proj['torch_teacher_s']:.0f} s on PyTorch "
             f"({proj['torch_teacher_s'] / proj['torch_student_s']:.1f}x)" if tr else "")
          + "; 25x fewer UNet calls")
    print_kernels(ev, args.reps, 12)
    agree = not tr or (finite and res["rel_l2"] < 1e-2)
    if dec:
        agree = agree and dec["evoke_finite"] and dec.get("rel_l2", 0.0) < 1e-2
    return finish(res, os.path.join(work, "result.json"), agree)


if __name__ == "__main__":
    sys.exit(main())
