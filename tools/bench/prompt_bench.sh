#!/usr/bin/env bash
# prompt_bench.sh — the prompt benchmark: the held-out compositional prompts of
# assets/prompts/heldout.txt (120, drawn from the training grammar with an unused seed by
# tools/train/make_heldout_prompts.py), plain sampling / Best-of-N / particle sampling / EvoSearch at
# several equal NFE budgets, judged by the independent verifier. Writes out/prompt_bench/
# (report.md with the accuracy table, accuracy.png = the scaling curve, curve.png, report.json).
#   tools/bench/prompt_bench.sh [evoke demo options]   e.g. --budgets 80,160,320 --prompts FILE
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/setup.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target evoke
build/evoke demo --prompts assets/prompts/heldout.txt --methods sample,bon,fk,evo --budgets 80,160,320 \
    --out out/prompt_bench "$@"
cat out/prompt_bench/report.md | sed -n '1,20p'
