"""bench_net.py — what the one-network benchmarks (bench_unet.py, bench_mmdit.py, bench_vc2.py)
share: small safetensors reading and writing, random f16-rounded weights drawn into a PyTorch model
and written tensor by tensor, compiling and running the C side (tools/bench/<name>.c with
net_bench.h against BUILD/libevoke.a), timing the PyTorch side the same way (one warm-up call, then
`reps` calls, median, peak RSS of the calls), and the report's common parts (kernel table,
result.json, the agreement check). A library module: each benchmark script imports it.
"""
import contextlib
import gc
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def gib(b):
    return f"{b / 2**30:.2f} GiB"


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


def write_inputs(path, arrays):
    """name -> numpy array, as one F32 safetensors file."""
    arrays = {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in arrays.items()}
    hdr = st_header({n: (a.shape, "F32", a.nbytes) for n, a in arrays.items()})
    with open(path, "wb") as f:
        f.write(len(hdr).to_bytes(8, "little"))
        f.write(hdr)
        for n in sorted(arrays):
            f.write(arrays[n].tobytes())


def read_inputs(path):
    h, start = st_read_header(path)
    return {name: np.array(np.memmap(path, dtype="<f4", mode="r", offset=start + info["data_offsets"][0],
                                     shape=tuple(info["shape"]))) for name, info in h.items()}


def draw_f16(sd, seed):
    """Draw the tensors of state dict `sd` in place — matrices and kernels fan-in-scaled normal
    (std 1/sqrt(fan_in), so activations stay finite), norm gains ~1, biases small — rounded to
    f16 (the values stay in the model)."""
    gen = torch.Generator().manual_seed(seed)
    for name, p in sd.items():
        if name.endswith(".weight") and p.ndim >= 2:
            p.normal_(0.0, 1.0 / math.sqrt(p[0].numel()), generator=gen)
        elif name.endswith(".weight"):
            p.normal_(1.0, 0.05, generator=gen)
        else:
            p.normal_(0.0, 0.02, generator=gen)
        p.copy_(p.half().float())


@contextlib.contextmanager
def no_init():
    """Build a model without drawing PyTorch's default initial values (the benchmarks overwrite
    every parameter at once, and drawing them is minutes for a model of billions of values)."""
    classes = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.LayerNorm, torch.nn.GroupNorm,
               torch.nn.Embedding)
    saved = {c: c.reset_parameters for c in classes}
    for c in classes:
        c.reset_parameters = lambda self: None
    try:
        yield
    finally:
        for c, f in saved.items():
            c.reset_parameters = f


def write_f16(sd, path):
    """Write state dict `sd` as F16 safetensors, tensor by tensor (the file never sits in memory)."""
    hdr = st_header({n: (tuple(p.shape), "F16", p.numel() * 2) for n, p in sd.items()})
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(len(hdr).to_bytes(8, "little"))
        f.write(hdr)
        for name in sorted(sd):
            f.write(sd[name].half().numpy().tobytes())
    os.replace(tmp, path)


def load_f16(model, path, strict=True):
    """Fill `model` from an F16 safetensors file, one memory-mapped tensor at a time."""
    h, start = st_read_header(path)
    sd = model.state_dict()
    if strict and set(h) != set(sd):
        raise SystemExit(f"{path}: tensor names differ from the model's ({len(set(h) ^ set(sd))} differ)")
    for name, info in h.items():
        a = np.memmap(path, dtype="<f2", mode="r", offset=start + info["data_offsets"][0], shape=tuple(info["shape"]))
        sd[name].copy_(torch.from_numpy(np.asarray(a, dtype=np.float32)))
        del a


def build_bench(build, name):
    """Compile tools/bench/<name>.c against BUILD/libevoke.a (as tools/bench/runtime_bench.sh does;
    not part of the CMake build); returns the program's path."""
    lib = os.path.join(build, "libevoke.a")
    if not os.path.exists(lib):
        raise SystemExit(f"{lib} not found: build evoke first (cmake -S . -B build && cmake --build build)")
    exe = os.path.join(build, name)
    libs = subprocess.run(["pkg-config", "--libs", "libcjson"], check=True, capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-std=c17", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "runtime"),
                    os.path.join(ROOT, "tools", "bench", name + ".c"), lib, *libs, "-ldl", "-lm", "-o", exe], check=True)
    return exe


def run_evoke(exe, args, work, out_shape, reps, tag="evoke"):
    """Run a benchmark program: `args` are its leading arguments (config, weights, inputs); then
    the output, summary, reps and the rest. Returns (summary dict, output array) or None."""
    e_out, e_sum = os.path.join(work, f"{tag}_out.f32"), os.path.join(work, f"{tag}_summary.json")
    log(f"{tag}: {'' if 'nowarmup' in args else '1 warm-up + '}{reps} calls")
    t0 = time.time()
    r = subprocess.run([exe, *args[:3], e_out, e_sum, str(reps), *args[3:]])
    if r.returncode != 0:
        log(f"{tag} failed (exit {r.returncode}; its message is above)")
        return None
    log(f"{tag} done in {time.time() - t0:.0f} s")
    with open(e_sum) as f:
        ev = json.load(f)
    return ev, np.fromfile(e_out, dtype="<f4").reshape(out_shape)


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


def time_torch(call, reps, threads, warmup=True):
    """One warm-up call of `call()` (under torch.no_grad; none when not `warmup`) then `reps` timed
    ones; the peak RSS of the calls (VmHWM reset through /proc/self/clear_refs once the model is
    loaded). Returns (summary dict, the last output as numpy)."""
    gc.collect()
    rss_loaded = vm_hwm()
    hwm_reset = reset_hwm()
    times = []
    with torch.no_grad():
        for i in range(reps + 1) if warmup else range(1, reps + 1):
            c0 = time.perf_counter()
            y = call()
            times.append((time.perf_counter() - c0) * 1e3)
            log(f"PyTorch call {i}{' (warm-up)' if i == 0 else ''}: {times[-1]:.0f} ms")
    if not warmup:
        times.insert(0, None)
    return ({"warmup_ms": times[0], "ms": times[1:], "ms_median": float(np.median(times[1:])),
             "peak_rss_calls": vm_hwm() if hwm_reset else None, "peak_rss_load": rss_loaded,
             "threads": threads, "version": torch.__version__}, y.numpy())


def rel_l2(a, b):
    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(b.ravel()))


def print_kernels(ev, reps, top):
    total = sum(k["total_ms"] for k in ev["kernels"]) or 1.0
    print(f"\nevoke kernels over the {reps} timed calls (GPU time, {total / reps:.0f} ms per call):")
    for k in ev["kernels"][:top]:
        print(f"  {k['label']:<40} {k['calls'] // reps:6d} dispatches/call {k['total_ms'] / reps:10.0f} ms/call "
              f"{100 * k['total_ms'] / total:5.1f} %")


def finish(res, path, agree):
    """Write result.json; 0 when `agree` (outputs finite and close, or no reference), else 1."""
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    if not agree:
        print("WARNING: outputs disagree", file=sys.stderr)
        return 1
    return 0
