#!/usr/bin/env bash
# prompt_bench.sh — the prompt benchmark: the held-out compositional prompts of
# assets/prompts/heldout.txt (120, drawn from the training grammar with an unused seed by
# tools/train/make_heldout_prompts.py), plain sampling / Best-of-N / particle sampling / EvoSearch at
# several equal NFE budgets (from the small end, where EvoSearch's small-budget rule makes it
# Best-of-N, to 100 trajectory-equivalents at 8 steps with guidance), judged by the independent
# verifier, once per seed. Each seed runs plain sampling once over the prompts and each budget's
# searches over the first --counts prompts (the large budgets cost the most, so they may take
# fewer), all through `evoke demo`: out/prompt_bench/seed<S>/sample/ and .../b<B>/ (report.md,
# report.json, the curves). Then out/prompt_bench/significance.md: per budget, pass rates and mean
# rewards with paired differences and 95 % intervals from a bootstrap over prompts × seeds
# (tools/bench/prompt_stats.py).
#   tools/bench/prompt_bench.sh [--seeds 0,1,2] [--budgets 160,800,1600] [--counts N,N,N]
#                               [--methods bon,fk,evo] [--prompts FILE] [--out DIR] [evoke demo options]
#   e.g. --budgets 160,800 --counts 40,10 --model DIR --reward FILE
# EVOKE_LAUNCH runs each demo under a launcher, its prompts spread over the ranks (one merged
# report each), e.g. EVOKE_LAUNCH="mpirun -np 4" tools/bench/prompt_bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=0,1,2 budgets=160,800,1600 counts= methods=bon,fk,evo prompts=assets/prompts/heldout.txt out=out/prompt_bench
args=()
need() { [[ $# -ge 2 ]] || { echo "prompt_bench.sh: $1 needs a value" >&2; exit 2; }; }
while (($#)); do
    case "$1" in
        --seeds) need "$@"; seeds=$2; shift 2 ;;
        --budgets) need "$@"; budgets=$2; shift 2 ;;
        --counts) need "$@"; counts=$2; shift 2 ;;
        --methods) need "$@"; methods=$2; shift 2 ;;
        --prompts) need "$@"; prompts=$2; shift 2 ;;
        --out) need "$@"; out=$2; shift 2 ;;
        --seed|--nfe) echo "prompt_bench.sh: $1 is set per run here (use --seeds, --budgets)" >&2; exit 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
list='^[0-9]+(,[0-9]+)*$'
for v in seeds budgets; do
    [[ ${!v} =~ $list ]] || { echo "prompt_bench.sh: --$v takes a comma-separated list of integers, not '${!v}'" >&2; exit 2; }
done
[[ -z $counts || $counts =~ $list ]] || { echo "prompt_bench.sh: --counts takes a comma-separated list of integers, not '$counts'" >&2; exit 2; }
[[ ,$methods, != *,sample,* ]] || { echo "prompt_bench.sh: plain sampling always runs; --methods lists the searches" >&2; exit 2; }
[[ -r $prompts ]] || { echo "prompt_bench.sh: cannot read the prompt file '$prompts'" >&2; exit 2; }
IFS=, read -r -a seed_list <<<"$seeds"
IFS=, read -r -a budget_list <<<"$budgets"
IFS=, read -r -a count_list <<<"${counts:-}"
if [[ -n $counts ]] && ((${#count_list[@]} != ${#budget_list[@]})); then
    echo "prompt_bench.sh: --counts has ${#count_list[@]} entries for ${#budget_list[@]} budgets" >&2; exit 2
fi
((${#seed_list[@]} >= 3)) || echo "prompt_bench.sh: fewer than 3 seeds: the intervals will mostly reflect the prompts" >&2
tools/setup.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target evoke
mkdir -p "$out"
total=$(grep -cv '^\s*\(#\|$\)' "$prompts")
reports=()
for s in "${seed_list[@]}"; do
    ${EVOKE_LAUNCH:-} build/evoke demo --image --prompts "$prompts" --methods sample --budgets "${budget_list[0]}" \
        ${args[@]+"${args[@]}"} --seed "$s" --out "$out/seed$s/sample"
    reports+=("$out/seed$s/sample/report.json")
    for i in "${!budget_list[@]}"; do
        b=${budget_list[$i]} n=${count_list[$i]:-$total} file=$prompts
        if ((n < total)); then # the first n prompts
            file=$out/prompts_$n.txt
            grep -v '^\s*\(#\|$\)' "$prompts" | head -n "$n" >"$file"
        fi
        ${EVOKE_LAUNCH:-} build/evoke demo --image --prompts "$file" --methods "$methods" --budgets "$b" \
            ${args[@]+"${args[@]}"} --seed "$s" --out "$out/seed$s/b$b"
        reports+=("$out/seed$s/b$b/report.json")
    done
done
tools/bench/prompt_stats.py --out "$out/significance.md" --curve "$out/curve.png" "${reports[@]}"
cat "$out/significance.md"
