#!/usr/bin/env python3
"""The shipped video models' claims, measured with evoke on held-out prompts and several seeds
(bench/VIDEO_DEMO.md): the 4-step T2V-Turbo student vs the 50-step DDIM + CFG teacher, the
student distilled with the mixed reward vs without, and EvoSearch vs Best-of-N vs plain sampling
at equal NFE over the student's 4-step trajectories — each clip judged by the independent video
verifier (`evoke verify`) and scored by the shipped mixed reward.

Every run is one `evoke generate` (the mixed reward of assets/tiny-video/reward.json, --report),
then `evoke verify` on its WebP. Runs are interleaved (prompt-major) so that machine load falls on
every arm alike; rows go to OUT/runs.jsonl as they finish (rerunning resumes), the summary to
OUT/summary.json and a Markdown table on stdout: per arm the verifier pass rate with a 95 %
bootstrap interval over prompts, the mean reward, mean NFE and mean seconds.

  /usr/bin/python3 tools/bench/video_bench.py [--prompts N] [--seeds S] [--nfe 48]
      [--student-plain FILE] [--arms teacher,student,student_plain,bon,evo] [--out DIR]

--student-plain is the UNet of the student distilled without reward (train_student.py export
with --reward-weight 0 0); without it that arm is skipped.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
import video_data as vd  # noqa: E402


def arm_args(arm, a):
    m = os.path.join(a.models, "model.ckpt")
    base = ["--model", m, "--fps", "8", "--cfg", str(a.guidance), "--reward", os.path.join(a.models, "reward.json")]
    if arm == "teacher":
        return base + ["--steps", "50", "--method", "sample", "--n", "1"]
    unet = a.student_plain if arm == "student_plain" else os.path.join(a.models, "unet_mg.pt")
    base += ["--diffusion-model", unet, "--steps", "4"]
    if arm in ("student", "student_plain"):
        return base + ["--method", "sample", "--n", "1"]
    return base + ["--method", arm, "--nfe", str(a.nfe)]


def boot(x, rng, n=2000):
    x = np.asarray(x, float)
    if len(x) < 2:
        return float("nan"), float("nan")
    m = [x[rng.integers(0, len(x), len(x))].mean() for _ in range(n)]
    return float(np.percentile(m, 2.5)), float(np.percentile(m, 97.5))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--evoke", default=os.path.join(ROOT, "build", "evoke"))
    p.add_argument("--models", default=os.path.join(ROOT, "assets", "tiny-video"))
    p.add_argument("--student-plain", default=None)
    p.add_argument("--prompts", type=int, default=12, help="held-out prompts (video_data.heldout_prompts)")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--nfe", type=int, default=48, help="Best-of-N / EvoSearch budget over the student")
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--arms", default="teacher,student,student_plain,bon,evo")
    p.add_argument("--out", default=os.path.join(ROOT, "out", "video_bench"))
    a = p.parse_args()
    arms = [x for x in a.arms.split(",") if x != "student_plain" or a.student_plain]
    os.makedirs(os.path.join(a.out, "clips"), exist_ok=True)
    rows_path = os.path.join(a.out, "runs.jsonl")
    done = {}
    if os.path.exists(rows_path):
        for line in open(rows_path):
            r = json.loads(line)
            done[(r["arm"], r["prompt"], r["seed"])] = r
    prompts = list(dict.fromkeys(vd.heldout_prompts(4 * a.prompts)))[:a.prompts]
    total = len(prompts) * a.seeds * len(arms)
    k = 0
    for pi, prompt in enumerate(prompts):
        for seed in range(a.seeds):
            for arm in arms:
                k += 1
                if (arm, prompt, seed) in done:
                    continue
                clip = os.path.join(a.out, "clips", f"p{pi:02d}-s{seed}-{arm}.webp")
                rep = clip[:-5] + ".json"
                cmd = [a.evoke, "generate", "--prompt", prompt, "--seed", str(seed), "--report", rep, "-o", clip] + arm_args(arm, a)
                t0 = time.time()
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode:
                    sys.exit(f"video_bench: {' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-2000:]}")
                secs = time.time() - t0
                g = json.load(open(rep))
                v = subprocess.run([a.evoke, "verify", "--json", clip], capture_output=True, text=True)
                vj = json.loads(v.stdout)["images"][0]
                row = {"arm": arm, "prompt": prompt, "seed": seed, "nfe": g["nfe"], "reward": g["best_reward"],
                       "pass": vj["pass"], "categories": vj["categories"], "seconds": secs,
                       "load": os.getloadavg()[0]}
                done[(arm, prompt, seed)] = row
                with open(rows_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"[{k}/{total}] {arm:13s} seed {seed} {'pass' if row['pass'] else 'fail'} r={row['reward']:.4f} "
                      f"nfe {row['nfe']} {secs:.1f}s  {prompt}", flush=True)
    rng = np.random.default_rng(0)
    summary = {}
    print("\n| arm | runs | mean NFE | verifier pass rate (95 % interval) | colour | shape | motion | mean reward | mean seconds |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for arm in arms:
        rs = [done[(arm, pr, s)] for pr in prompts for s in range(a.seeds)]
        per_prompt = [np.mean([done[(arm, pr, s)]["pass"] for s in range(a.seeds)]) for pr in prompts]
        lo, hi = boot(per_prompt, rng)
        cat = {c: float(np.mean([r["categories"][c] for r in rs])) for c in ("colour", "shape", "motion")}
        s = {"runs": len(rs), "nfe": float(np.mean([r["nfe"] for r in rs])), "pass": float(np.mean([r["pass"] for r in rs])),
             "pass_lo": lo, "pass_hi": hi, "reward": float(np.mean([r["reward"] for r in rs])),
             "seconds": float(np.median([r["seconds"] for r in rs])), **cat}
        summary[arm] = s
        print(f"| {arm} | {s['runs']} | {s['nfe']:.0f} | {100 * s['pass']:.1f} % ({100 * lo:.1f}…{100 * hi:.1f}) | "
              f"{100 * cat['colour']:.0f} % | {100 * cat['shape']:.0f} % | {100 * cat['motion']:.0f} % | {s['reward']:.4f} | {s['seconds']:.1f} |")
    # paired differences of reward per (prompt, seed)
    pairs = [("student", "teacher"), ("student", "student_plain"), ("evo", "bon"), ("evo", "student"), ("bon", "student")]
    print("\n| comparison | mean reward difference (95 % interval) | pass-rate difference |\n|---|---|---|")
    for x, y in pairs:
        if x not in arms or y not in arms:
            continue
        d = [done[(x, pr, s)]["reward"] - done[(y, pr, s)]["reward"] for pr in prompts for s in range(a.seeds)]
        dp = [done[(x, pr, s)]["pass"] - done[(y, pr, s)]["pass"] for pr in prompts for s in range(a.seeds)]
        lo, hi = boot(d, rng)
        summary[f"{x}-{y}"] = {"reward": float(np.mean(d)), "lo": lo, "hi": hi, "pass": float(np.mean(dp))}
        print(f"| {x} − {y} | {np.mean(d):+.4f} ({lo:+.4f}…{hi:+.4f}) | {100 * np.mean(dp):+.1f} points |")
    json.dump({"prompts": prompts, "seeds": a.seeds, "nfe": a.nfe, "summary": summary}, open(os.path.join(a.out, "summary.json"), "w"),
              indent=1)


if __name__ == "__main__":
    main()
