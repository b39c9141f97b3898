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
budget; it is compared at every budget. Standard library + numpy only.

    prompt_stats.py [--resamples N] [--out FILE] REPORT.json...
"""
import argparse
import json
import os
import sys

import numpy as np

TITLES = {"sample": "plain sampling", "bon": "Best-of-N", "fk": "FK particles", "evo": "EvoSearch"}
ORDER = ["evo", "bon", "fk", "sample"]  # methods outside it (relabelled runs) come after, by name


def load(paths):
    """cells[(prompt, seed)][(method, budget)] = (reward, pass, nfe); the budgets searched."""
    cells, budgets, seeds = {}, set(), []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            rep = json.load(f)
        seed = rep["seed"]
        if seed not in seeds:
            seeds.append(seed)
        for r in rep["results"]:
            key = (r["method"], None if r["method"] == "sample" else int(r["budget"]))
            if key[1] is not None:
                budgets.add(key[1])
            cell = cells.setdefault((r["prompt"], seed), {})
            if key in cell:
                sys.exit(f"prompt_stats.py: {key[0]} at {key[1]} NFE for {r['prompt']!r}, seed {seed}, is in two reports ({path})")
            cell[key] = (float(r["reward"]), bool(r["verifier_pass"]), float(r["nfe"]))
    return cells, sorted(budgets), seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--resamples", type=int, default=10000)
    ap.add_argument("--out", default="-")
    a = ap.parse_args()
    cells, budgets, seeds = load(a.reports)
    prompts = sorted({p for p, _ in cells})
    present = {k[0] for c in cells.values() for k in c}
    methods = [m for m in ORDER if m in present] + sorted(present - set(ORDER))
    P, S = len(prompts), len(seeds)
    missing = [(p, s) for p in prompts for s in seeds if (p, s) not in cells]
    if missing:
        sys.exit(f"prompt_stats.py: prompt {missing[0][0]!r} has no result for seed {missing[0][1]}: the reports cover different prompts")

    # value arrays [prompt, seed] per (method, budget): reward and pass
    def arr(method, budget, field):
        key = (method, None if method == "sample" else budget)
        out = np.empty((P, S))
        for i, p in enumerate(prompts):
            for j, s in enumerate(seeds):
                v = cells[(p, s)].get(key)
                if v is None:
                    sys.exit(f"prompt_stats.py: no {method} result at {budget} NFE for {p!r}, seed {s}")
                out[i, j] = v[field]
        return out

    rng = np.random.default_rng(12345)
    # one set of resampling indices shared by every statistic, so differences are paired
    pi = rng.integers(0, P, size=(a.resamples, P))
    si = rng.integers(0, S, size=(a.resamples, P, S))

    def boot(x):
        """mean and 95 % interval of the mean of x[prompt, seed] under the two-level bootstrap"""
        rows = x[pi]                                        # [R, P, S]
        vals = np.take_along_axis(rows, si, axis=2).mean(axis=(1, 2))
        lo, hi = np.percentile(vals, [2.5, 97.5])
        return x.mean(), lo, hi

    lines = [f"{P} prompts × {S} seeds ({', '.join(str(s) for s in seeds)}); 95 % intervals from {a.resamples} "
             "bootstrap resamples over prompts and, within each, seeds; differences are paired (same prompt, same seed).", ""]
    lines += ["| budget | method | mean NFE | verifier passes | 95 % interval | mean reward | 95 % interval |",
              "|---:|---|---:|---:|---|---:|---|"]
    for b in budgets:
        for m in methods:
            nfe = arr(m, b, 2).mean()
            ps, plo, phi = boot(arr(m, b, 1))
            r, rlo, rhi = boot(arr(m, b, 0))
            lines.append(f"| {b} | {TITLES.get(m, m)} | {nfe:.0f} | {100 * ps:.1f} % | {100 * plo:.1f} … {100 * phi:.1f} | "
                         f"{r:.4f} | {rlo:.4f} … {rhi:.4f} |")
    lines += ["", "| budget | comparison | passes, difference | 95 % interval | reward, difference | 95 % interval | wins / ties / losses (reward) |",
              "|---:|---|---:|---|---:|---|---|"]
    for b in budgets:
        for i, m in enumerate(methods):
            for n in methods[i + 1:]:
                dp, dplo, dphi = boot(arr(m, b, 1) - arr(n, b, 1))
                dr = arr(m, b, 0) - arr(n, b, 0)
                r, rlo, rhi = boot(dr)
                w, t = int((dr > 0).sum()), int((dr == 0).sum())
                lines.append(f"| {b} | {TITLES.get(m, m)} − {TITLES.get(n, n)} | {100 * dp:+.1f} pts | {100 * dplo:+.1f} … {100 * dphi:+.1f} | "
                             f"{r:+.4f} | {rlo:+.4f} … {rhi:+.4f} | {w} / {t} / {dr.size - w - t} |")
    text = "\n".join(lines) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
    else:
        with open(a.out + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
