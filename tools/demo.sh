#!/usr/bin/env bash
# demo.sh — the README's first command: install what is missing, build, and run evoke's main
# job on the shipped default. Until the shipped model lands this lists the Vulkan devices and
# runs and checks one kernel on the default device.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs" --target evoke
echo
build/evoke devices
