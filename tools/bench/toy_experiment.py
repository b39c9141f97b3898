#!/usr/bin/python3
"""toy_experiment.py — EvoSearch and its baselines on the exact Gaussian-mixture toy.

The pretrained distribution p0 is a 3-component mixture (assets/gmm/toy2d.json) whose rare
component (weight 0.05) holds the high-reward region: the reward is minus the distance to a point
1.5 standard deviations beyond that component's mean (assets/gmm/toy2d_reward.json). Every method
(sample, bon, fk, evo) runs at the same NFE over 16 seeds; all computation is `evoke generate`
(this script only drives it, reads the JSON reports, prints a table and draws docs/toy.png:
p0, the reward-tilted target p0(x)·exp(r(x)/alpha), and each method's final population).
The 64-D version (assets/gmm/toy64d*.json: the same mixture and reward embedded in 64
dimensions) gets the table only.

usage: tools/bench/toy_experiment.py [--evoke build/evoke] [--seeds 16] [--nfe 5000] [--steps 50]
                               [--png docs/toy.png] [--dims 2,64]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = ["sample", "bon", "fk", "evo"]
LABELS = {"sample": "sampling", "bon": "Best-of-N", "fk": "FK particles", "evo": "EvoSearch"}


def run(evoke, model, reward, method, seed, nfe, steps, out):
    cmd = [evoke, "generate", "--model", model, "--reward", reward, "--method", method, "--steps", str(steps),
           "--nfe", str(nfe), "--seed", str(seed), "--report", out]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def components(model):
    w = np.array([c["weight"] for c in model["components"]])
    mu = np.array([c["mean"] for c in model["components"]])
    sd = np.array([c["std"] for c in model["components"]])
    return w / w.sum(), mu, sd


def assign(x, model):
    """Most likely component of each sample under p0."""
    w, mu, sd = components(model)
    d2 = ((x[:, None, :] - mu[None]) ** 2).sum(-1)
    logp = np.log(w)[None] - x.shape[1] * np.log(sd)[None] - d2 / (2 * sd[None] ** 2)
    return logp.argmax(1)


def experiment(evoke, dim, seeds, nfe, steps, tmp):
    name = "toy2d" if dim == 2 else "toy%dd" % dim
    model_path = os.path.join(ROOT, "assets", "gmm", name + ".json")
    reward_path = os.path.join(ROOT, "assets", "gmm", name + "_reward.json")
    model = json.load(open(model_path))
    rare = int(np.argmin(components(model)[0]))
    rows, first = {}, {}
    for m in METHODS:
        best, mean, modes, in_rare, nfes = [], [], [], [], set()
        for s in range(seeds):
            r = run(evoke, model_path, reward_path, m, s, nfe, steps, os.path.join(tmp, "r.json"))
            pop = np.array(r["population"])
            lab = assign(pop, model)
            best.append(r["best_reward"])
            mean.append(np.mean(r["population_rewards"]))
            modes.append(len(set(lab.tolist())))
            in_rare.append(np.mean(lab == rare))
            nfes.add(r["nfe"])
            if s == 0:
                first[m] = (pop, np.array(r["best_sample"]))
        rows[m] = dict(best=np.array(best), mean=np.array(mean), modes=np.array(modes), rare=np.array(in_rare), nfe=sorted(nfes))
    return model, json.load(open(reward_path)), rows, first


def table(dim, rows, seeds):
    out = ["%d-D mixture, %d seeds, NFE %s per run" % (dim, seeds, "/".join(str(n) for n in rows["evo"]["nfe"])), "",
           "| method | best reward (mean ± sd) | mean population reward | modes covered | population in the rare mode |",
           "|---|---|---|---|---|"]
    for m in METHODS:
        r = rows[m]
        out.append("| %s | %.3f ± %.3f | %.3f | %.2f | %.0f %% |" % (LABELS[m], r["best"].mean(), r["best"].std(ddof=1), r["mean"].mean(),
                                                                     r["modes"].mean(), 100 * r["rare"].mean()))
    return "\n".join(out)


def plot(model, reward, first, path, alpha=0.5):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    w, mu, sd = components(model)
    g = np.linspace(-3.5, 4.0, 220)
    X, Y = np.meshgrid(g, g)
    pts = np.stack([X.ravel(), Y.ravel()], 1)
    p0 = sum(wk * np.exp(-((pts - mk) ** 2).sum(1) / (2 * sk * sk)) / (2 * np.pi * sk * sk) for wk, mk, sk in zip(w, mu, sd))
    c = np.array(reward["center"])
    r = -np.sqrt(((pts - c) ** 2).sum(1))
    tilt = p0 * np.exp(r / alpha)
    fig, axes = plt.subplots(2, 3, figsize=(7.5, 5.0), dpi=80)
    panels = [("pretrained p0", p0, None), ("target p0·exp(r/%.1f)" % alpha, tilt, None)] + \
             [(LABELS[m], p0, first[m]) for m in METHODS]
    for ax, (title, dens, pop) in zip(axes.ravel(), panels):
        ax.contourf(X, Y, (dens / dens.max()).reshape(X.shape) ** 0.5, levels=12, cmap="Greys")
        ax.plot(c[0], c[1], "r*", ms=8)
        if pop is not None:
            ax.scatter(pop[0][:, 0], pop[0][:, 1], s=6, c="tab:blue", alpha=0.7)
            ax.plot(pop[1][0], pop[1][1], "x", c="tab:orange", ms=8, mew=2)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_aspect("equal")
    fig.suptitle("final populations at equal NFE (seed 0); star: reward peak, cross: best sample", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evoke", default=os.path.join(ROOT, "build", "evoke"))
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--nfe", type=int, default=5000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--png", default=os.path.join(ROOT, "docs", "toy.png"))
    ap.add_argument("--dims", default="2,64")
    a = ap.parse_args()
    if not os.access(a.evoke, os.X_OK):
        sys.exit("toy_experiment: %s is not built (cmake --build build)" % a.evoke)
    with tempfile.TemporaryDirectory() as tmp:
        for dim in [int(d) for d in a.dims.split(",")]:
            model, reward, rows, first = experiment(a.evoke, dim, a.seeds, a.nfe, a.steps, tmp)
            print(table(dim, rows, a.seeds))
            print()
            if dim == 2 and a.png:
                plot(model, reward, first, a.png)
                print("wrote", a.png)


if __name__ == "__main__":
    main()
