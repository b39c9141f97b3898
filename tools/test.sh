#!/usr/bin/env bash
# test.sh — the README's test command: install what is missing, build, and run every test twice
# on lavapipe with the Vulkan validation layer: a normal build (build/) and an AddressSanitizer +
# UndefinedBehaviorSanitizer build (build-asan/), after fuzzing the file parsers for a fixed time
# (tools/fuzz/fuzz.sh, FUZZ_SECONDS each, default 20). Ends with CTest's summary line.
#   tools/test.sh [ctest args...]     e.g. tools/test.sh -R memory
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh test

jobs=$(nproc 2>/dev/null || echo 2)
# Always test on the CPU device (lavapipe), whatever GPUs the machine has: deterministic and
# available everywhere.
icd=$(ls /usr/share/vulkan/icd.d/lvp_icd.*.json 2>/dev/null | head -n 1 || true)
if [ -z "$icd" ]; then echo "test.sh: lavapipe (mesa-vulkan-drivers) ICD not found" >&2; exit 1; fi
export VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd"
export EVOKE_VALIDATION=1

echo "== build (RelWithDebInfo) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEVOKE_TESTS=ON -DEVOKE_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
echo "== ASan + UBSan build =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEVOKE_SANITIZE=ON -DEVOKE_TESTS=ON -DEVOKE_WERROR=ON >/dev/null
cmake --build build-asan -j "$jobs"

# The driver (LLVM inside lavapipe) keeps some allocations for the process lifetime; leaks are
# still reported for evoke's own code.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== fuzzing the file parsers (ASan + UBSan, ${FUZZ_SECONDS:-20} s each) =="
FUZZ_SECONDS=${FUZZ_SECONDS:-20} tools/fuzz/fuzz.sh

echo "== tests: ASan + UBSan build =="
asan_rc=0
(cd build-asan && ctest --output-on-failure --no-tests=error -j "$jobs" "$@") || asan_rc=$?
echo "== tests: normal build =="
cd build
ctest --output-on-failure --no-tests=error -j "$jobs" "$@"
[ "$asan_rc" -eq 0 ] || { echo "the ASan/UBSan run failed (see above)"; exit "$asan_rc"; }
