#!/usr/bin/env python3
"""e2e.py — one whole Stable Diffusion generation, evoke beside stable-diffusion.cpp (its Vulkan
and its CPU backend), interleaved over several rounds; medians into a Markdown report.

    /usr/bin/python3 tools/bench/e2e.py --ckpt SD15.safetensors --sdcpp PATH/sd-cli \
        [--evoke build/evoke] [--rounds 3] [--size 512] [--steps 4] [--cfg 7.5] [--seed 42]
        [--threads 2] [--work DIR] [--out bench/E2E.md] [--timeout 3600] [--only evoke,sdcpp-cpu] [--resume]

tools/bench/e2e.sh builds stable-diffusion.cpp and the checkpoint and then runs this; it can
also be run alone on an existing sd-cli and checkpoint.

Each round runs every runner once, one at a time (never two together), the order rotated from
round to round so that no runner always goes first:
  - evoke:        `evoke generate` (plain DDIM, η = 0, one batch-2 model call per guided step,
                  weights kept in f16 as stored: --f16), stage times from its --report JSON, with
                  EVOKE_MEMORY_LIMIT_MB=--evoke-memory-mb when given (by default unset: on a CPU
                  device evoke's budget is 80 % of the host's memory, not of lavapipe's nominal
                  2 GiB heap);
  - sdcpp-vulkan: sd-cli with every part on ggml's Vulkan backend (GGML_VK_VISIBLE_DEVICES=0, so
                  that ggml does not skip a CPU Vulkan driver such as lavapipe);
  - sdcpp-cpu:    sd-cli with --backend cpu, --threads threads;
all with the same prompt, seed, size, steps and guidance. stable-diffusion.cpp has no leading-
spacing DDIM; its `ddim_trailing` sampler is the closest (the sampler's arithmetic is negligible
beside the UNet; only the timing is compared, never the pictures of random weights). Its stage
times come from its log (get_learned_condition, sampling, decode_first_stage); both programs
run two UNet evaluations per guided step (sd.cpp as two batch-1 calls, evoke as one batch-2 call),
so "per step" compares like with like.

Per run: wall time of the process (what a user waits: load included), model load, text
encoding, per-step and VAE decode times, peak RSS of the process (ru_maxrss from wait4; on a CPU
Vulkan driver device memory is host memory, so it is counted), the exit status and the 1-minute
load average just before and just after. A run that fails (non-zero exit, signal, timeout) is
recorded with the last lines of its log; the stages it finished still count, so a whole-run
failure still leaves a component-by-component comparison. The report gives medians over the
successful values of each field, each with the median load average of the runs it came from, and
every run's raw values; the raw runs also go to OUT with .json in place of .md. --resume keeps the
runs already in that .json and runs only the (round, runner) pairs it lacks, so a long benchmark
on a busy machine can be finished in pieces (the report is rewritten after every run).
"""
import argparse
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time

RUNNERS = ("evoke", "sdcpp-vulkan", "sdcpp-cpu")


def command(runner, a, outdir):
    png = os.path.join(outdir, f"{runner}.png")
    if runner == "evoke":
        rep = os.path.join(outdir, "evoke.json")
        cmd = [a.evoke, "generate", "--model", a.ckpt, "--prompt", a.prompt, "--steps", str(a.steps), "--cfg", str(a.cfg),
               "--seed", str(a.seed), "-W", str(a.size), "-H", str(a.size), "--eta", "0", "--f16", "-o", png, "--report", rep,
               "--progress"]
        env = dict(os.environ)
        if a.evoke_memory_mb:
            env["EVOKE_MEMORY_LIMIT_MB"] = str(a.evoke_memory_mb)
        return cmd, env, rep
    cmd = [a.sdcpp, "-m", a.ckpt, "-p", a.prompt, "--steps", str(a.steps), "--cfg-scale", str(a.cfg), "-s", str(a.seed),
           "-W", str(a.size), "-H", str(a.size), "--sampling-method", "ddim_trailing", "-t", str(a.threads), "-o", png,
           "--backend", "cpu" if runner == "sdcpp-cpu" else "vulkan0"]
    env = dict(os.environ)
    env["GGML_VK_VISIBLE_DEVICES"] = "0"
    return cmd, env, None


def parse_sdcpp(log, steps):
    def last(pat):
        m = re.findall(pat, log)
        return float(m[-1]) if m else None
    r = {"load_s": last(r"loading tensors completed, taking ([0-9.]+)s"),
         "text_s": last(r"get_learned_condition completed, taking ([0-9.]+)s"),
         "sampling_s": last(r"sampling completed, taking ([0-9.]+)s"),
         "vae_s": last(r"decode_first_stage completed, taking ([0-9.]+)s")}
    r["step_s"] = r["sampling_s"] / steps if r["sampling_s"] is not None else None
    return r


def parse_evoke(rep_path, log):
    try:
        with open(rep_path) as f:
            rep = json.load(f)
    except (OSError, ValueError):
        # no report (the run failed or was stopped): the stages --progress printed
        num = lambda pat: [float(x) for x in re.findall(pat, log)]  # noqa: E731
        load, text = num(r"evoke generate: model load ([0-9.]+) s"), num(r"evoke generate: text encoding ([0-9.]+) s")
        steps, dec = num(r"evoke generate: step \d+ +population \d+ +([0-9.]+) s"), num(r"evoke generate: decode +population \d+ +([0-9.]+) s")
        return {"load_s": load[-1] if load else None, "text_s": text[-1] if text else None,
                "sampling_s": None, "step_s": sum(steps) / len(steps) if steps else None,
                "steps_done": len(steps), "vae_s": dec[-1] if dec else None}
    st = rep.get("stages", {})
    steps = [s["seconds"] for s in st.get("steps", [])]
    return {"load_s": st.get("load_seconds"), "text_s": st.get("text_seconds"),
            "sampling_s": sum(steps) if steps else None, "step_s": sum(steps) / len(steps) if steps else None,
            "vae_s": st.get("decode_seconds")}


def run_one(runner, a, rnd):
    outdir = os.path.join(a.work, f"round{rnd}")
    os.makedirs(outdir, exist_ok=True)
    cmd, env, rep = command(runner, a, outdir)
    if rep and os.path.exists(rep):
        os.remove(rep)
    logpath = os.path.join(outdir, f"{runner}.log")
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    with open(logpath, "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        status, ru, timed_out = None, None, False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > a.timeout:
                os.killpg(p.pid, signal.SIGKILL)
                _, status, ru = os.wait4(p.pid, 0)
                timed_out = True
                break
            time.sleep(0.5)
    wall = time.monotonic() - t0
    load1 = os.getloadavg()[0]
    with open(logpath, errors="replace") as f:
        text = f.read()
    r = parse_evoke(rep, text) if runner == "evoke" else parse_sdcpp(text, a.steps)
    code = os.waitstatus_to_exitcode(status)
    r.update(runner=runner, round=rnd, wall_s=wall, rss_gib=ru.ru_maxrss / 2**20, exit=code, timed_out=timed_out,
             load_before=load0, load_after=load1, command=shlex.join(cmd))
    if code != 0 or timed_out:
        r["log_tail"] = text.strip().splitlines()[-6:]
    ok = "ok" if code == 0 and not timed_out else ("timeout" if timed_out else f"exit {code}")
    print(f"round {rnd} {runner}: {ok}, wall {wall:.1f} s, step {r.get('step_s')}, vae {r.get('vae_s')}, "
          f"rss {r['rss_gib']:.2f} GiB, load {load0:.1f}->{load1:.1f}", flush=True)
    return r


def med(runs, key, need_ok=False):
    vals = [(r[key], (r["load_before"] + r["load_after"]) / 2) for r in runs
            if r.get(key) is not None and (not need_ok or (r["exit"] == 0 and not r["timed_out"]))]
    if not vals:
        return None, None, 0
    return statistics.median(v for v, _ in vals), statistics.median(l for _, l in vals), len(vals)


def fmt(v, unit, load, n):
    if v is None:
        return "—"
    return f"{v:.1f} {unit} (load {load:.1f}, n={n})" if unit == "s" else f"{v:.2f} {unit} (load {load:.1f}, n={n})"


def report(a, runs, started):
    names = [r for r in RUNNERS if any(x["runner"] == r for x in runs)]
    by = {n: [r for r in runs if r["runner"] == n] for n in names}
    rows = [("text encoding", "text_s", "s", False), ("per denoising step (2 UNet evaluations)", "step_s", "s", False),
            ("all steps (runs that finished them)", "sampling_s", "s", False), ("VAE decode", "vae_s", "s", False),
            ("model load", "load_s", "s", False), ("whole generation (process wall time)", "wall_s", "s", True),
            ("peak RSS", "rss_gib", "GiB", True)]
    L = ["# End to end: one SD 1.5 generation, evoke beside stable-diffusion.cpp", "",
         "Written by `tools/bench/e2e.sh` (tools/bench/e2e.py); the method is described there.", "",
         f"Settings: random-weight SD 1.5 single-file checkpoint in the original names, F16, the real shapes "
         f"(tools/bench/e2e_checkpoint.py: UNet 859.5 M, VAE 83.7 M, CLIP text 123.1 M parameters; 8 heads of 160 at "
         f"the 1280-channel levels), {a.size}×{a.size}, {a.steps} steps, guidance {a.cfg}, seed {a.seed}, prompt "
         f"\"{a.prompt}\"; evoke: DDIM η = 0, f16 weights; stable-diffusion.cpp: `ddim_trailing`, {a.threads} threads "
         f"on the CPU backend; EVOKE_MEMORY_LIMIT_MB={a.evoke_memory_mb or 'unset'}. {a.rounds} round(s), runners interleaved, started {started} UTC on {os.cpu_count()} CPUs.", "",
         "Each cell: median over the runs that reached that stage, (median 1-minute load average over those runs, "
         "number of runs). Whole-generation and RSS medians count only runs that finished.", "",
         "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, key, unit, need_ok in rows:
        cells = []
        for n in names:
            v, load, cnt = med(by[n], key, need_ok)
            cells.append(fmt(v, unit, load, cnt))
        L.append(f"| {label} | " + " | ".join(cells) + " |")
    ok = {n: sum(1 for r in by[n] if r["exit"] == 0 and not r["timed_out"]) for n in names}
    L.append("| runs finished | " + " | ".join(f"{ok[n]} of {len(by[n])}" for n in names) + " |")
    if "evoke" in by and len(names) > 1:
        L += ["", "Ratios (medians above; > 1: evoke faster or smaller):", ""]
        for key, label in (("step_s", "per step"), ("vae_s", "VAE decode"), ("wall_s", "whole generation"), ("rss_gib", "peak RSS")):
            e = med(by["evoke"], key, key in ("wall_s", "rss_gib"))[0]
            parts = []
            for n in names:
                if n == "evoke":
                    continue
                o = med(by[n], key, key in ("wall_s", "rss_gib"))[0]
                parts.append(f"{n} / evoke = {o / e:.2f}" if e and o else f"{n}: —")
            L.append(f"- {label}: " + ", ".join(parts))
    fails = [r for r in runs if r["exit"] != 0 or r["timed_out"]]
    if fails:
        L += ["", "Failed runs (the stages they finished are counted above):", ""]
        for r in fails:
            why = "timed out" if r["timed_out"] else (f"killed by signal {-r['exit']}" if r["exit"] < 0 else f"exit status {r['exit']}")
            tail = " / ".join(s.strip()[:160] for s in r.get("log_tail", []))
            done = f" ({r['steps_done']} of {a.steps} steps done)" if r.get("steps_done") is not None else ""
            L.append(f"- round {r['round']}, {r['runner']}: {why} after {r['wall_s']:.0f} s{done}. Last log lines: `{tail}`")
    L += ["", "Every run:", "", "| round | runner | exit | load before → after | text s | step s | VAE s | load s | wall s | RSS GiB |",
          "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    f = lambda v, d=1: "—" if v is None else f"{v:.{d}f}"  # noqa: E731
    for r in runs:
        L.append(f"| {r['round']} | {r['runner']} | {r['exit']}{' (timeout)' if r['timed_out'] else ''} | "
                 f"{r['load_before']:.1f} → {r['load_after']:.1f} | {f(r.get('text_s'), 2)} | {f(r.get('step_s'))} | "
                 f"{f(r.get('vae_s'))} | {f(r.get('load_s'))} | {f(r['wall_s'])} | {f(r['rss_gib'], 2)} |")
    L += ["", "Commands (last round):", ""]
    seen = set()
    for r in reversed(runs):
        if r["runner"] not in seen:
            seen.add(r["runner"])
            L.append(f"- {r['runner']}: `{r['command']}`")
    return "\n".join(L) + "\n"


def write(a, runs, started, raw):
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    for path, data in ((a.out, report(a, runs, started)), (raw, json.dumps(runs, indent=1) + "\n")):
        with open(path + ".tmp", "w") as f:
            f.write(data)
        os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--sdcpp", required=True, help="stable-diffusion.cpp's sd-cli")
    ap.add_argument("--evoke", default="build/evoke")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--cfg", type=float, default=7.5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--prompt", default="a photograph of an astronaut riding a horse")
    ap.add_argument("--work", default="out/e2e")
    ap.add_argument("--out", default="bench/E2E.md")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--only", default=",".join(RUNNERS), help="comma-separated subset of " + ",".join(RUNNERS))
    ap.add_argument("--evoke-memory-mb", type=int, default=0,
                    help="EVOKE_MEMORY_LIMIT_MB for evoke (0: unset, the default budget)")
    ap.add_argument("--resume", action="store_true", help="keep the runs in OUT's .json; run only the missing ones")
    a = ap.parse_args()
    runners = [r for r in a.only.split(",") if r]
    for r in runners:
        if r not in RUNNERS:
            sys.exit(f"e2e.py: unknown runner '{r}' (known: {', '.join(RUNNERS)})")
    for path, what in ((a.ckpt, "--ckpt"), (a.evoke, "--evoke") if "evoke" in runners else (a.ckpt, "--ckpt"),
                       (a.sdcpp, "--sdcpp") if any(r.startswith("sdcpp") for r in runners) else (a.ckpt, "--ckpt")):
        if not os.path.exists(path):
            sys.exit(f"e2e.py: {what} {path}: no such file")
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    runs = []
    raw = os.path.splitext(a.out)[0] + ".json"
    if a.resume and os.path.exists(raw):
        with open(raw) as f:
            runs = json.load(f)
        started = (runs[0].get("started") if runs else None) or started
    for rnd in range(a.rounds):
        order = runners[rnd % len(runners):] + runners[:rnd % len(runners)]
        for r in order:
            if any(x["round"] == rnd and x["runner"] == r for x in runs):
                continue
            runs.append(run_one(r, a, rnd))
            runs[-1]["started"] = started
            write(a, runs, started, raw)
    if runs:
        write(a, runs, started, raw)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
