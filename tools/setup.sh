#!/usr/bin/env bash
# setup.sh — install what evoke needs to build and test, from Debian/Ubuntu packages.
#
# Usage: tools/setup.sh [build|test|tools]   (default: test)
#   build: compiler (with libc6-dev, only a Recommends of gcc, which --no-install-recommends
#          leaves out), CMake, Vulkan headers/loader, volk, glslc, cJSON, stb, libwebp, lavapipe
#   test:  build + cmocka, the validation layer, python3 (CLI tests), gdb (the CLI contract's
#          signal-during-a-write rows stop evoke inside its writer), ffmpeg (MP4 output),
#          Open MPI (several processes: the build finds it, tests/cli/cli_mpi.sh runs mpirun),
#          clang + libFuzzer (fuzzing;
#          best effort: the runtime library's package name follows the clang version)
#   tools: test + python3-torch/numpy/matplotlib, OpenBLAS (references, training, benchmarks),
#          g++ and spirv-headers (tools/bench/e2e.sh builds stable-diffusion.cpp's Vulkan backend)
# As root it runs `apt-get update` once and `apt-get install -y` for what is missing; as
# another user it prints the exact command and exits 1. Sourced by test.sh and demo.sh.
set -euo pipefail

level=${1:-test}
build_pkgs=(gcc libc6-dev make cmake pkg-config libvulkan-dev libvulkan-volk-dev glslc libcjson-dev libstb-dev
            mesa-vulkan-drivers vulkan-tools libwebp-dev)
test_pkgs=(libcmocka-dev vulkan-validationlayers python3 gdb clang ffmpeg libopenmpi-dev openmpi-bin)
tools_pkgs=(python3-torch python3-numpy python3-matplotlib libopenblas-dev python3-regex g++ spirv-headers)

case "$level" in
  build) want=("${build_pkgs[@]}") ;;
  test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  tools) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${tools_pkgs[@]}") ;;
  *) echo "usage: tools/setup.sh [build|test|tools]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
fuzz_runtime() { # libFuzzer's runtime package for the installed clang (Debian 12: libclang-rt-14-dev)
  local v
  v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
  [ -n "$v" ] && echo "libclang-rt-$v-dev"
}
if [ "$level" != build ] && command -v clang >/dev/null 2>&1; then
  rt=$(fuzz_runtime)
  if [ -n "$rt" ] && [[ "$(dpkg-query -W -f='${Status}' "$rt" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$rt")
  fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "evoke setup: missing packages: ${missing[*]}" >&2
  echo "run as root:  $cmd" >&2
  exit 1
fi
echo "evoke setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
# clang arrives with the test packages; its libFuzzer runtime is named after its version
if [ "$level" != build ]; then
  rt=$(fuzz_runtime)
  if [ -n "$rt" ] && [[ "$(dpkg-query -W -f='${Status}' "$rt" 2>/dev/null || true)" != "install ok installed" ]]; then
    apt-get install -y -q --no-install-recommends "$rt" >&2 || echo "evoke setup: $rt unavailable; fuzzing will be skipped" >&2
  fi
fi
