#!/usr/bin/env bash
# runtime_bench.sh — build and run tools/bench/runtime_bench.c against the built library:
# start-up time with a cold and a warm pipeline cache, and per-dispatch overhead batched vs not.
#   tools/bench/runtime_bench.sh [repetitions]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f build/libevoke.a ] || { cmake -S . -B build >/dev/null && cmake --build build -j "$(nproc)"; }
out=build/runtime_bench
cc -O2 -std=c17 -D_GNU_SOURCE -Iruntime tools/bench/runtime_bench.c build/libevoke.a \
   $(pkg-config --libs libcjson) -ldl -lm -o "$out"
"$out" "${1:-5}"
