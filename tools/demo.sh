#!/usr/bin/env bash
# demo.sh — the README's first command: install what is missing, build, and run evoke's main job
# on the shipped default models: for a handful of prompts, plain sampling vs Best-of-N vs
# EvoSearch at an equal budget of model evaluations, scored by the learned CLIP reward and by an
# independent pixel verifier; then the video part: the video teacher (50 steps) vs its 4-step
# T2V-Turbo student vs the student with EvoSearch, scored by the mixed video reward and the video
# verifier. Writes out/demo/grid.png, curve.png, accuracy.png, video.png, video/*.webp, report.md
# and report.json.
#   tools/demo.sh [evoke demo options]      e.g. tools/demo.sh --nfe 960
# Needs only the `build` packages: without cmocka the configuration leaves the tests out (with a
# notice), and tools/test.sh, which installs it, turns them back on in the same build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs" --target evoke
echo
build/evoke devices | head -n 3
echo
build/evoke demo --out out/demo "$@"
echo
cat out/demo/report.md
