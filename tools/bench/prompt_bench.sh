#!/usr/bin/env bash
# prompt_bench.sh — the prompt benchmark: the held-out compositional prompts of
# assets/prompts/heldout.txt (120, drawn from the training grammar with an unused seed by
# tools/train/make_heldout_prompts.py), plain sampling / Best-of-N / particle sampling / EvoSearch at
# several equal NFE budgets, judged by the independent verifier, once per seed. Writes
# out/prompt_bench/seed<S>/ (each `evoke demo` run: report.md, report.json, the curves) and
# out/prompt_bench/significance.md: per budget, pass rates and mean rewards with paired
# differences and 95 % intervals from a bootstrap over prompts × seeds (tools/bench/prompt_stats.py).
#   tools/bench/prompt_bench.sh [--seeds 0,1,2] [evoke demo options]
#   e.g. --seeds 0,1,2 --budgets 80,160,320 --prompts FILE
# EVOKE_LAUNCH runs each demo under a launcher, its prompts spread over the ranks (one merged
# report each), e.g. EVOKE_LAUNCH="mpirun -np 4" tools/bench/prompt_bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=0,1,2
args=()
while (($#)); do
    case "$1" in
        --seeds) [[ $# -ge 2 ]] || { echo "prompt_bench.sh: --seeds needs a list, e.g. 0,1,2" >&2; exit 2; }; seeds=$2; shift 2 ;;
        --seed|--out) echo "prompt_bench.sh: $1 is set per run here (use --seeds)" >&2; exit 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
[[ $seeds =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "prompt_bench.sh: --seeds takes a comma-separated list of integers, not '$seeds'" >&2; exit 2; }
IFS=, read -r -a seed_list <<<"$seeds"
((${#seed_list[@]} >= 3)) || echo "prompt_bench.sh: fewer than 3 seeds: the intervals will mostly reflect the prompts" >&2
tools/setup.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target evoke
reports=()
for s in "${seed_list[@]}"; do
    ${EVOKE_LAUNCH:-} build/evoke demo --prompts assets/prompts/heldout.txt --methods sample,bon,fk,evo --budgets 80,160,320 \
        ${args[@]+"${args[@]}"} --seed "$s" --out "out/prompt_bench/seed$s"
    reports+=("out/prompt_bench/seed$s/report.json")
done
tools/bench/prompt_stats.py --out out/prompt_bench/significance.md "${reports[@]}"
cat out/prompt_bench/significance.md
