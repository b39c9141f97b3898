#!/usr/bin/env bash
# cli_install.sh — the installed library works for a program that is not evoke: `cmake --install`
# to a temporary prefix, the tree moved elsewhere (the pkg-config file and the CMake package must
# follow it), then tests/install/example.c compiled with `pkg-config --cflags --libs evoke` and
# with a tiny CMake project using find_package(evoke), both run, and their best reward compared
# with `evoke generate` at the same settings. Also: evoke.h includes exactly the installed headers.
set -u
evoke=$1
build=$(cd "$(dirname "$evoke")" && pwd)
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*"; exit 1; }
for t in cmake pkg-config cc; do command -v $t >/dev/null || { echo "cli_install: no $t, skipped"; exit 0; }; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/staged" >"$tmp/install.log" 2>&1 || fail "cmake --install: $(tail -n 3 "$tmp/install.log")"
mv "$tmp/staged" "$tmp/moved"
prefix=$tmp/moved
pc=$(find "$prefix" -name evoke.pc | head -n 1)
[ -n "$pc" ] || fail "no evoke.pc installed"
grep -q '^prefix=${pcfiledir}/' "$pc" || fail "evoke.pc does not name its prefix from its own folder: $(grep ^prefix= "$pc")"
libdir=$(dirname "$(dirname "$pc")")

# the umbrella header and the installed headers name the same set
inc=$prefix/include/evoke
[ -f "$inc/evoke.h" ] || fail "no include/evoke/evoke.h"
listed=$(sed -n 's/^#include "\(.*\)"$/\1/p' "$inc/evoke.h" | sort)
installed=$(cd "$inc" && find . -name '*.h' ! -name evoke.h | sed 's|^\./||' | sort)
[ "$listed" = "$installed" ] || fail "evoke.h and the installed headers differ: $(diff <(echo "$listed") <(echo "$installed") | tr '\n' ' ')"

model=$src/assets/gmm/toy2d.json
reward=$src/assets/gmm/toy2d_reward.json
ref=$("$evoke" generate --model "$model" --reward "$reward" --method bon --steps 20 --nfe 320 --seed 1 --report "$tmp/ref.json" \
      | sed -n 's/^bon: best reward \([^,]*\), NFE \([0-9]*\),.*/best reward \1, NFE \2/p')
[ -n "$ref" ] || fail "evoke generate printed no best reward"

# A sanitizer build's library needs its runtime first in the program: build the examples the same way.
san=""
ldd "$libdir/libevoke.so" | grep -q libasan && san="-fsanitize=address,undefined"

# 1. pkg-config, from the moved tree
flags=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs evoke) || fail "pkg-config --cflags --libs evoke failed"
case "$flags" in *"$prefix"*) ;; *) fail "pkg-config flags do not point into the moved prefix: $flags" ;; esac
cc -std=c17 -Wall -Wextra -Werror $san "$src/tests/install/example.c" $flags -Wl,-rpath,"$libdir" -o "$tmp/example_pc" \
  || fail "example.c does not build with pkg-config"
ldd "$tmp/example_pc" | grep -q "$libdir/libevoke.so" || fail "example_pc is not linked to the installed libevoke.so"
out=$("$tmp/example_pc" "$model" "$reward") || fail "example (pkg-config) exited $?"
[ "$out" = "$ref" ] || fail "example (pkg-config) printed '$out', evoke generate '$ref'"

# 2. find_package(evoke), from the moved tree
mkdir "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(evoke_example C)
find_package(evoke 0.1 REQUIRED)
add_executable(example "$src/tests/install/example.c")
target_link_libraries(example PRIVATE evoke::evoke_shared)
CMAKE
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$san" >"$tmp/proj.log" 2>&1 \
  || fail "find_package(evoke): $(tail -n 5 "$tmp/proj.log")"
cmake --build "$tmp/proj/build" >>"$tmp/proj.log" 2>&1 || fail "example.c does not build with find_package: $(tail -n 5 "$tmp/proj.log")"
ldd "$tmp/proj/build/example" | grep -q "$libdir/libevoke.so" || fail "the CMake example is not linked to the installed libevoke.so"
out=$("$tmp/proj/build/example" "$model" "$reward") || fail "example (find_package) exited $?"
[ "$out" = "$ref" ] || fail "example (find_package) printed '$out', evoke generate '$ref'"

# 3. the installed evoke finds its shipped assets from any folder: a prompt outside the verifier's
#    grammar is the first error, after the default model, reward and prompts were located
printf 'the moon over water\n' >"$tmp/bad.txt"
err=$(cd / && "$prefix/bin/evoke" demo --prompts "$tmp/bad.txt" --out "$tmp/never" 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "bad.txt" <<<"$err" || fail "installed evoke demo: exit $rc: $err"
[ ! -e "$tmp/never" ] || fail "installed evoke demo created its output folder before checking its input"
[ -f "$prefix/share/evoke/assets/tiny-sd/model_index.json" ] || fail "the shipped model is not installed"
echo "cli_install: ok"
