#!/usr/bin/python3
"""bench_compare.py — evoke's kernels against CPU reference libraries, in one run on one machine.

Runs `evoke bench --json` for matmul, conv2d, temporal_conv and (when registered) attention,
then times the same shapes with reference CPU implementations on this machine:
  matmul        OpenBLAS cblas_sgemm (ctypes on libopenblas.so), f32, 2 threads by default
  conv2d        PyTorch CPU F.conv2d, f32
  temporal_conv PyTorch CPU F.conv3d with a (3, 1, 1) kernel, f32
  attention     PyTorch CPU F.scaled_dot_product_attention (softmax(QKᵀ)V where older), f32
and prints evoke's throughput over the reference's (medians of several runs on both sides).
Rows with f16 weights are compared with the f32 reference (no CPU library has f16 weights).
Load on a shared machine moves both sides; the load average is printed with the results.

usage: /usr/bin/python3 tools/bench/bench_compare.py [--evoke build/evoke] [--kernel matmul,conv2d]
                                               [--runs 5] [--threads 2] [--quick] [--json FILE]
"""
import argparse
import ctypes
import ctypes.util
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time


def load_openblas():
    names = [ctypes.util.find_library("openblas"), "libopenblas.so.0", "libopenblas.so",
             "/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "/usr/lib/aarch64-linux-gnu/libopenblas.so.0"]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.cblas_sgemm  # noqa: B018 — present or AttributeError
            return lib, name
        except (OSError, AttributeError):
            continue
    sys.exit("bench_compare: libopenblas not found (install libopenblas-dev: tools/setup.sh tools)")


def median_time(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def sgemm_seconds(lib, m, k, n, runs):
    import numpy as np
    a = np.random.default_rng(1).uniform(-1, 1, (m, k)).astype(np.float32)
    b = np.random.default_rng(2).uniform(-1, 1, (k, n)).astype(np.float32)
    c = np.zeros((m, n), np.float32)
    p = ctypes.POINTER(ctypes.c_float)
    fa, fb, fc = a.ctypes.data_as(p), b.ctypes.data_as(p), c.ctypes.data_as(p)
    lib.cblas_sgemm.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, p, ctypes.c_int, p, ctypes.c_int, ctypes.c_float, p, ctypes.c_int]
    row_major, no_trans = 101, 111

    def run():
        lib.cblas_sgemm(row_major, no_trans, no_trans, m, n, k, 1.0, fa, k, fb, n, 0.0, fc, n)
    return median_time(run, runs)


def torch_seconds(kind, dims, runs):
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        if kind == "conv2d":
            n, c, o, h, w, k = dims
            x = torch.rand(n, c, h, w, generator=g) * 2 - 1
            wt = torch.rand(o, c, k, k, generator=g) * 2 - 1
            b = torch.rand(o, generator=g)
            return median_time(lambda: F.conv2d(x, wt, b, padding=k // 2), runs)
        if kind == "temporal_conv":
            f, c, o, h, w = dims
            x = torch.rand(1, c, f, h, w, generator=g) * 2 - 1
            wt = torch.rand(o, c, 3, 1, 1, generator=g) * 2 - 1
            b = torch.rand(o, generator=g)
            return median_time(lambda: F.conv3d(x, wt, b, padding=(1, 0, 0)), runs)
        if kind == "attention":
            bsz, heads, lq, lk, d = dims
            q = torch.rand(bsz, heads, lq, d, generator=g) * 2 - 1
            kk = torch.rand(bsz, heads, lk, d, generator=g) * 2 - 1
            v = torch.rand(bsz, heads, lk, d, generator=g) * 2 - 1
            if hasattr(F, "scaled_dot_product_attention"):
                return median_time(lambda: F.scaled_dot_product_attention(q, kk, v), runs)
            scale = d ** -0.5  # older PyTorch: the unfused form
            return median_time(lambda: torch.softmax(q @ kk.transpose(-1, -2) * scale, -1) @ v, runs)
    raise ValueError(kind)


def parse_shape(kernel, shape):
    """The reference's dimensions and FLOPs for one evoke row, or None if not comparable."""
    if kernel == "matmul":
        m = re.fullmatch(r"(\d+)x(\d+)x(\d+)", shape)
        if m:
            M, K, N = map(int, m.groups())
            return ("sgemm", (M, K, N), 2.0 * M * K * N)
    if kernel == "conv2d":
        m = re.fullmatch(r"(\d+)x(\d+)->(\d+)x(\d+)x(\d+) k(\d+)", shape)
        if m:
            n, c, o, h, w, k = map(int, m.groups())
            return ("conv2d", (n, c, o, h, w, k), 2.0 * n * o * c * k * k * h * w)
    if kernel == "temporal_conv":
        m = re.fullmatch(r"(\d+)fx(\d+)->(\d+)x(\d+)x(\d+)", shape)
        if m:
            f, c, o, h, w = map(int, m.groups())
            return ("temporal_conv", (f, c, o, h, w), 2.0 * f * o * c * 3 * h * w)
    if kernel == "attention":
        b = re.search(r"\bB(\d+)\b", shape)
        hh = re.search(r"\bH(\d+)\b", shape)
        d = re.search(r"\bD(\d+)\b", shape)
        lq = re.search(r"\bLq(\d+)\b", shape) or re.search(r"\bL(\d+)\b", shape)
        lk = re.search(r"\bLk(\d+)\b", shape) or re.search(r"\bL(\d+)\b", shape)
        if b and hh and d and lq and lk:
            dims = (int(b[1]), int(hh[1]), int(lq[1]), int(lk[1]), int(d[1]))
            return ("attention", dims, 4.0 * dims[0] * dims[1] * dims[2] * dims[3] * dims[4])
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evoke", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "evoke"))
    ap.add_argument("--kernel", default="matmul,conv2d,temporal_conv,attention")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per case on each side (median)")
    ap.add_argument("--threads", type=int, default=2, help="threads for OpenBLAS and PyTorch")
    ap.add_argument("--quick", action="store_true", help="only evoke's small cases")
    ap.add_argument("--json", help="write the comparison as JSON here")
    args = ap.parse_args()

    lib, lib_name = load_openblas()
    for setter in ("openblas_set_num_threads", "goto_set_num_threads"):
        if hasattr(lib, setter):
            getattr(lib, setter)(args.threads)
            break
    import torch
    torch.set_num_threads(args.threads)

    # evoke first, only the kernels that exist in this build
    listing = subprocess.run([args.evoke, "bench", "--help"], capture_output=True, text=True)
    if listing.returncode != 0:
        sys.exit(f"bench_compare: cannot run {args.evoke}: {listing.stderr.strip()}")
    wanted = [k for k in args.kernel.split(",") if k]
    present = []
    for k in wanted:
        probe = subprocess.run([args.evoke, "bench", "--kernel", k, "--runs", "1", "peak"], capture_output=True, text=True)
        if probe.returncode == 0:
            present.append(k)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "evoke.json")
        cmd = [args.evoke, "bench", "--kernel", ",".join(present), "--runs", str(args.runs), "--json", out]
        if args.quick:
            cmd.append("--quick")
        print("$", " ".join(cmd), flush=True)
        run = subprocess.run(cmd, text=True)
        if run.returncode != 0:
            sys.exit(f"bench_compare: evoke bench failed ({run.returncode})")
        with open(out) as f:
            ev = json.load(f)

    rows = []
    ref_cache = {}
    for r in ev["results"]:
        if r["kernel"] not in present:
            continue
        parsed = parse_shape(r["kernel"], r["shape"])
        if not parsed:
            continue
        kind, dims, flops = parsed
        if (kind, dims) not in ref_cache:
            if kind == "sgemm":
                sec = sgemm_seconds(lib, *dims, args.runs)
                name = f"OpenBLAS sgemm ({args.threads} thr)"
            else:
                sec = torch_seconds(kind, dims, args.runs)
                name = f"PyTorch {torch.__version__} CPU ({args.threads} thr)"
            ref_cache[(kind, dims)] = (name, flops / sec / 1e9)
        name, ref_gflops = ref_cache[(kind, dims)]
        rows.append({"kernel": r["kernel"], "shape": r["shape"], "dtype": r["dtype"], "evoke_gflops": r["gflops"],
                     "evoke_median_ms": r["median_ms"], "reference": name, "reference_gflops": ref_gflops,
                     "ratio": r["gflops"] / ref_gflops if ref_gflops > 0 else 0.0})

    load = os.getloadavg()
    dev = ev["device"]
    print()
    print(f"date {datetime.datetime.now().isoformat(timespec='seconds')}  host {platform.node()}  {platform.processor() or platform.machine()}"
          f"  cpus {os.cpu_count()}  load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"evoke device: {dev['name']} ({dev['type']}, {dev.get('driver_info', '')}); peak {ev['peak']['gflops']:.1f} GFLOP/s,"
          f" {ev['peak']['gbps']:.2f} GB/s; OpenBLAS: {lib_name}")
    print(f"{'kernel':<14} {'shape':<30} {'dtype':<5} {'evoke GFLOP/s':>13} {'ref GFLOP/s':>12} {'evoke/ref':>9}  reference")
    for r in rows:
        print(f"{r['kernel']:<14} {r['shape']:<30} {r['dtype']:<5} {r['evoke_gflops']:>13.2f} {r['reference_gflops']:>12.2f}"
              f" {100 * r['ratio']:>8.1f}%  {r['reference']}")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"device": dev, "peak": ev["peak"], "load": load, "rows": rows}, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
