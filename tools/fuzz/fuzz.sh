#!/usr/bin/env bash
# fuzz.sh — build the libFuzzer harnesses of tools/fuzz/ (safetensors and GGUF validators, JSON
# config parsers, lvdm YAML configs, CLIP tokenizer, PyTorch checkpoints) with clang + AddressSanitizer + UndefinedBehaviorSanitizer, and run each
# for a fixed time from the seed corpus in tools/fuzz/corpus/ (copied, so runs never write into the
# repository). Separate from the CMake build: the harnesses link only the format code plus stubs
# for device memory (tools/fuzz/stubs.c), so they need no Vulkan device.
#   tools/fuzz/fuzz.sh [harness...]     harness = safetensors | gguf | config | yaml | tokenizer | pytorch (default: all)
#   FUZZ_SECONDS=20   time per harness      FUZZ_BUILD=build-fuzz   output folder
# Exit status: 0 when every harness ran clean, 1 on a crash/leak/UB report (the reproducer is
# saved under $FUZZ_BUILD/artifacts/), 0 with a notice when clang's libFuzzer is unavailable.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-20}
build=${FUZZ_BUILD:-build-fuzz}
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(safetensors gguf config yaml tokenizer pytorch)

cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz.sh: $cc not found; fuzzing skipped (apt-get install clang)"
  exit 0
fi
mkdir -p "$build/artifacts"
probe="$build/probe.c"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$probe"
if ! "$cc" -fsanitize=fuzzer "$probe" -o "$build/probe" 2>/dev/null; then
  echo "fuzz.sh: $cc cannot link -fsanitize=fuzzer (libFuzzer runtime missing); fuzzing skipped"
  exit 0
fi

cflags=(-std=c17 -D_GNU_SOURCE -DVK_NO_PROTOTYPES -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -Wall -Wextra -Werror -Iruntime)
libs=$(pkg-config --cflags --libs libcjson 2>/dev/null || echo -lcjson)
# the format code only: no context, pipelines or Vulkan
common=(runtime/core/status.c runtime/core/tensor.c runtime/core/file.c runtime/formats/safetensors.c runtime/formats/gguf.c runtime/formats/gguf_quant.c runtime/formats/weights.c runtime/formats/config.c runtime/formats/yaml.c runtime/models/sd/sd_keys.c runtime/models/clip/openclip_names.c
        runtime/formats/zip.c runtime/formats/pickle.c runtime/formats/pytorch.c
        runtime/formats/tokenizer.c runtime/formats/tokenizer_unicode.c tools/fuzz/stubs.c)

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export EVOKE_TOKENIZER_DIR="$PWD/tests/data/tokenizer"
status=0
for h in "${harnesses[@]}"; do
  src="tools/fuzz/fuzz_$h.c"
  [ -f "$src" ] || { echo "fuzz.sh: unknown harness '$h'" >&2; exit 2; }
  echo "== fuzz $h: build =="
  # shellcheck disable=SC2086
  "$cc" "${cflags[@]}" "$src" "${common[@]}" $libs -lm -o "$build/fuzz_$h"
  corpus="$build/corpus_$h"
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp tools/fuzz/corpus/"$h"/* "$corpus"/
  case $h in
    tokenizer) max_len=2048 ;;
    *) max_len=16384 ;;
  esac
  echo "== fuzz $h: ${seconds}s =="
  if ! "$build/fuzz_$h" "$corpus" -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$build/artifacts/${h}-" -print_final_stats=1 2>"$build/fuzz_$h.log"; then
    echo "fuzz.sh: $h FAILED; the reproducer is in $build/artifacts/ (log: $build/fuzz_$h.log):"
    tail -n 40 "$build/fuzz_$h.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz_$h.log" | tr '\n' ' '
    echo
  fi
done
exit $status
