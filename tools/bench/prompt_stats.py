#!/usr/bin/python3
"""prompt_stats.py — significance for the prompt benchmark: reads the report.json of several
`evoke demo` runs over the same prompts with different seeds (tools/bench/prompt_bench.sh; several
reports may share a seed when they hold different methods, e.g. a build's runs relabelled) and
writes, per budget, every method's verifier pass rate and mean reward with 95 % intervals, and the
paired differences (EvoSearch vs Best-of-N vs FK vs plain sampling) with 95 % intervals.

The intervals come from a bootstrap over prompts × seeds: a resample draws prompts with
replacement and, inside each drawn prompt, seeds with replacement, and keeps every method's result
for a (prompt, seed) cell together, so a difference is always taken between runs that saw the same
prompt and the same seed (a paired comparison). Plain sampling is one trajectory whatever the
budget; it is compared at every budget.

Each budget's table uses the (prompt, seed) cells that hold every method run at that budget, so a
small budget may be run on more prompts than a large one (the cheap cells are not thrown away);
plain sampling also gets a row over every cell it ran, and a prompt given twice counts once. A
report given as LABEL=PATH has its methods renamed "method LABEL" (e.g. the same methods with two
models, or two builds); each method is compared with the same method of the other labels, paired
by prompt and seed (their rewards only where the labels' reports name the same reward). --curve
draws the pass rates and mean rewards against the NFE spent, with the intervals, over every budget
(matplotlib). Standard library, numpy, matplotlib.

    prompt_stats.py [--resamples N] [--out FILE] [--curve PNG] [LABEL=]REPORT.json...
"""
import argparse
import json
import os
import sys

import numpy as np

TITLES = {"sample": "plain sampling", "bon": "Best-of-N", "fk": "FK particles", "evo": "EvoSearch"}
ORDER = ["evo", "bon", "fk", "sample"]  # methods outside it (relabelled runs) come after, by name


def load(paths):
    """cells[(prompt, seed)][(method, budget)] = (reward, pass, nfe); the budgets searched. A prompt
    that a prompt file holds twice is run twice with the same seed, identically: its later copies
    are left out (counted once), so that they do not weigh double."""
    cells, budgets, seeds = {}, set(), []
    rewards = {}  # label → the reward files its reports used
    for arg in paths:
        label, path = arg.split("=", 1) if "=" in arg and not os.path.exists(arg) else ("", arg)
        try:
            with open(path, encoding="utf-8") as f:
                rep = json.load(f)
            seed, results = rep["seed"], rep["results"]
            rewards.setdefault(label, set()).add(os.path.realpath(rep.get("reward", "")))
        except (OSError, ValueError, KeyError, TypeError) as e:
            sys.exit(f"prompt_stats.py: {path} is not a readable `evoke demo` report.json ({e})")
        if seed not in seeds:
            seeds.append(seed)
        seen = set()
        for r in results:
            method = r["method"] + (" " + label if label else "")
            key = (method, None if r["method"] == "sample" else int(r["budget"]))
            if (r["prompt"], key) in seen:
                continue
            seen.add((r["prompt"], key))
            if key[1] is not None:
                budgets.add(key[1])
            cell = cells.setdefault((r["prompt"], seed), {})
            if key in cell:
                sys.exit(f"prompt_stats.py: {key[0]} at {key[1]} NFE for {r['prompt']!r}, seed {seed}, is in two reports ({path})")
            cell[key] = (float(r["reward"]), bool(r["verifier_pass"]), float(r["nfe"]))
    return cells, sorted(budgets), seeds, rewards


def curve(path, points, title):
    """two panels, verifier passes and mean reward against the mean NFE spent (log scale), one line
    per method with its 95 % intervals as bars; plain sampling is one point"""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for m, pts in points.items():
        pts = sorted(pts)
        x = np.array([p[0] for p in pts])
        for ax, j, scale in ((axes[0], 1, 100), (axes[1], 4, 1)):
            y = np.array([p[j] for p in pts]) * scale
            err = np.abs(np.array([[p[j + 1] for p in pts], [p[j + 2] for p in pts]]) * scale - y)
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=title(m))
    for ax, name in ((axes[0], "verifier passes (%)"), (axes[1], "mean reward")):
        ax.set_xscale("log")
        ax.set_xlabel("NFE spent (mean)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("prompt benchmark: 95 % intervals over prompts × seeds (each budget over the prompts it ran)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=90)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--resamples", type=int, default=10000)
    ap.add_argument("--out", default="-")
    ap.add_argument("--curve", help="write the curve (passes and reward against NFE) to this PNG")
    a = ap.parse_args()
    cells, budgets, seeds, rewards = load(a.reports)
    present = {k[0] for c in cells.values() for k in c}
    def order(m):  # unlabelled first, then by label; within a label EvoSearch, Best-of-N, FK, sampling
        base, _, label = m.partition(" ")
        return (label, ORDER.index(base) if base in ORDER else len(ORDER), base)
    methods = sorted(present, key=order)
    rng = np.random.default_rng(12345)

    def grid(keys):
        """prompts and seeds of the full prompt × seed grid of cells holding every key (a prompt
        missing a seed is left out, so the two-level bootstrap has whole rows)"""
        full = {c for c, v in cells.items() if all(k in v for k in keys)}
        ss = [s for s in seeds if any(c[1] == s for c in full)]
        ps = sorted({p for p, _ in full if all((p, s) in full for s in ss)})
        return ps, ss

    def table(keys):
        """value arrays [prompt, seed] per key and a paired bootstrap over that grid"""
        ps, ss = grid(keys)
        P, S = len(ps), len(ss)
        vals = {k: np.array([[cells[(p, s)][k] for s in ss] for p in ps]).reshape(P, S, 3) for k in keys}
        # one set of resampling indices shared by every statistic of the table, so differences are paired
        pi = rng.integers(0, P, size=(a.resamples, P))
        si = rng.integers(0, S, size=(a.resamples, P, S))

        def boot(x):
            """mean and 95 % interval of the mean of x[prompt, seed] under the two-level bootstrap"""
            rows = x[pi]                                    # [R, P, S]
            v = np.take_along_axis(rows, si, axis=2).mean(axis=(1, 2))
            lo, hi = np.percentile(v, [2.5, 97.5])
            return x.mean(), lo, hi
        return ps, ss, vals, boot

    def key(m, b):
        return (m, None if m.split(" ")[0] == "sample" else b)

    def label_of(m):
        return m.partition(" ")[2]

    def title(m):
        base, _, label = m.partition(" ")
        return TITLES.get(base, base) + (f" ({label})" if label else "")

    def compare(b, k, n, vals, boot):
        """one paired comparison row: k − n in passes and reward over the table's cells"""
        dp, dplo, dphi = boot(vals[k][..., 1] - vals[n][..., 1])
        head = f"| {b} | {title(k[0])} − {title(n[0])} | {100 * dp:+.1f} pts | {100 * dplo:+.1f} … {100 * dphi:+.1f} | "
        if rewards.get(label_of(k[0])) != rewards.get(label_of(n[0])):
            return head + "— | different rewards | — |"
        dr = vals[k][..., 0] - vals[n][..., 0]
        r, rlo, rhi = boot(dr)
        w, t = int((dr > 0).sum()), int((dr == 0).sum())
        return head + f"{r:+.4f} | {rlo:+.4f} … {rhi:+.4f} | {w} / {t} / {dr.size - w - t} |"

    lines = [f"95 % intervals from {a.resamples} bootstrap resamples over prompts and, within each, seeds; differences are "
             "paired (same prompt, same seed). Each budget uses the prompts × seeds that ran every method at it.", ""]
    lines += ["| budget | prompts × seeds | method | mean NFE | verifier passes | 95 % interval | mean reward | 95 % interval |",
              "|---:|---|---|---:|---:|---|---:|---|"]
    points = {}  # method → [(nfe, pass, lo, hi, reward, lo, hi)] for the curve
    sampled = [m for m in methods if m.split(" ")[0] == "sample"]
    for m in sampled:  # plain sampling over every cell it ran
        ps, ss, vals, boot = table([key(m, None)])
        v = vals[key(m, None)]
        pr, plo, phi = boot(v[..., 1])
        r, rlo, rhi = boot(v[..., 0])
        points.setdefault(m, []).append((v[..., 2].mean(), pr, plo, phi, r, rlo, rhi))
        lines.append(f"| — | {len(ps)} × {len(ss)} | {title(m)} | {v[..., 2].mean():.0f} | {100 * pr:.1f} % | {100 * plo:.1f} … {100 * phi:.1f} | "
                     f"{r:.4f} | {rlo:.4f} … {rhi:.4f} |")
    comparisons = []
    if len(sampled) > 1:  # plain sampling of two labels (models, builds) over the cells both ran
        keys = [key(m, None) for m in sampled]
        ps, ss, vals, boot = table(keys)
        for i, k in enumerate(keys):
            for n in keys[i + 1:]:
                comparisons.append(compare("—", k, n, vals, boot))
    for b in budgets:
        keys = [key(m, b) for m in methods if any(key(m, b) in c and m not in sampled for c in cells.values())]
        keys += [key(m, b) for m in sampled]
        ps, ss, vals, boot = table(keys)
        if not ps:
            continue
        for k in keys:
            v = vals[k]
            pr, plo, phi = boot(v[..., 1])
            r, rlo, rhi = boot(v[..., 0])
            if k[1] is not None:
                points.setdefault(k[0], []).append((v[..., 2].mean(), pr, plo, phi, r, rlo, rhi))
            lines.append(f"| {b} | {len(ps)} × {len(ss)} | {title(k[0])} | {v[..., 2].mean():.0f} | {100 * pr:.1f} % | {100 * plo:.1f} … {100 * phi:.1f} | "
                         f"{r:.4f} | {rlo:.4f} … {rhi:.4f} |")
        for i, k in enumerate(keys):
            for n in keys[i + 1:]:
                if label_of(k[0]) == label_of(n[0]) or k[0].split(" ")[0] == n[0].split(" ")[0]:
                    comparisons.append(compare(b, k, n, vals, boot))
    lines += ["", "| budget | comparison | passes, difference | 95 % interval | reward, difference | 95 % interval | wins / ties / losses (reward) |",
              "|---:|---|---:|---|---:|---|---|"] + comparisons
    if a.curve:
        curve(a.curve, points, title)
    text = "\n".join(lines) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
    else:
        with open(a.out + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
