#!/usr/bin/env bash
# e2e.sh — the whole-generation benchmark: builds stable-diffusion.cpp from source (Vulkan and CPU
# backends, in a scratch folder outside this repository), writes a random-weight SD 1.5
# single-file checkpoint both programs load, and runs evoke, sd.cpp-Vulkan and sd.cpp-CPU
# interleaved (tools/bench/e2e.py), medians into bench/E2E.md.
#
#   tools/bench/e2e.sh [ROUNDS] [-- e2e.py options, e.g. --size 256 --only evoke,sdcpp-cpu]
#
# Environment:
#   E2E_DIR        scratch folder (default: $HOME/.cache/evoke-e2e): sources, build, checkpoint, runs
#   EVOKE          the evoke binary (default: build/evoke; build it first, e.g. cmake --build build)
#   SDCPP_GIT_DIR  a git directory (bare is fine) of leejet/stable-diffusion.cpp, and GGML_GIT_DIR
#                  one of ggml-org/ggml holding the commit sd.cpp pins as its ggml submodule: the
#                  sources are exported from them with `git archive` (files absent from a partial
#                  mirror are skipped; the tokenizer vocabularies of models this benchmark does not
#                  use are then replaced by empty arrays). Unset: `git clone --recursive` from GitHub.
#   SDCPP_COMMIT   the sd.cpp commit (default: HEAD of SDCPP_GIT_DIR, or of the clone)
#   VULKAN_HEADERS a Vulkan-Headers checkout (include/vulkan/vulkan.hpp) for ggml-vulkan, which needs
#                  a Vulkan-Hpp newer than 1.3.239 (vk::LayerSettingEXT). Unset and the system one is
#                  older: the one use of it (best-practice validation settings, off unless
#                  ggml is built with GGML_VULKAN_VALIDATE) is taken out of the exported copy instead.
# Needs: cmake, a C++17 compiler, glslc, libvulkan-dev, spirv-headers (Debian: apt-get install
# spirv-headers; tools/setup.sh tools installs it), python3 with numpy (/usr/bin/python3).
# The sd.cpp build runs under `nice -n 10 make -j2` and resumes where a stopped one left off. The
# report records the load average beside every figure: on a shared machine it is part of the
# result. Pass `-- --resume` to keep the runs already in bench/E2E.json and add only missing ones.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rounds=${1:-3}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
dir=${E2E_DIR:-$HOME/.cache/evoke-e2e}
evoke=${EVOKE:-$repo/build/evoke}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
mkdir -p "$dir"
src=$dir/src

die() { echo "e2e.sh: $*" >&2; exit 1; }

# Export TREE-ISH of GIT_DIR into DEST, skipping blobs a partial mirror lacks.
export_tree() {
    local gd=$1 rev=$2 dest=$3 list
    list=$(mktemp)
    git --git-dir="$gd" ls-tree -r "$rev" | awk -F'\t' '{split($1, m, " "); if (m[2] == "blob") print m[3] "\t" $2}' |
        while IFS=$'\t' read -r h p; do
            if git --git-dir="$gd" cat-file -e "$h" 2>/dev/null; then printf '%s\n' "$p"; else echo "e2e.sh: $p absent from $gd, skipped" >&2; fi
        done | grep -v '^assets/\|^docs/' > "$list" || true
    mkdir -p "$dest"
    tr '\n' '\0' < "$list" | xargs -0 git --git-dir="$gd" archive "$rev" -- | tar -x -C "$dest"
    rm -f "$list"
}

if [ ! -f "$src/CMakeLists.txt" ]; then
    rm -rf "$src"
    if [ -n "${SDCPP_GIT_DIR:-}" ]; then
        [ -n "${GGML_GIT_DIR:-}" ] || die "SDCPP_GIT_DIR needs GGML_GIT_DIR (ggml-org/ggml) for the submodule"
        rev=${SDCPP_COMMIT:-HEAD}
        export_tree "$SDCPP_GIT_DIR" "$rev" "$src"
        gg=$(git --git-dir="$SDCPP_GIT_DIR" ls-tree "$rev" ggml | awk '{print $3}')
        [ -n "$gg" ] || die "no ggml submodule in stable-diffusion.cpp $rev"
        rm -rf "$src/ggml"
        export_tree "$GGML_GIT_DIR" "$gg" "$src/ggml"
        git --git-dir="$SDCPP_GIT_DIR" rev-parse "$rev" > "$dir/sdcpp_commit.txt"
        echo "$gg" > "$dir/ggml_commit.txt"
    else
        git clone --recursive https://github.com/leejet/stable-diffusion.cpp "$src"
        [ -z "${SDCPP_COMMIT:-}" ] || git -C "$src" checkout --recurse-submodules "$SDCPP_COMMIT"
        git -C "$src" rev-parse HEAD > "$dir/sdcpp_commit.txt"
        git -C "$src/ggml" rev-parse HEAD > "$dir/ggml_commit.txt"
    fi
    # vocabularies the export skipped (models other than SD): empty arrays, never read here
    voc=$src/src/tokenizers/vocab
    if [ -f "$voc/vocab.cpp" ]; then
        [ -f "$voc/clip_merges.hpp" ] || die "the CLIP merges ($voc/clip_merges.hpp) are missing: SD 1.x needs them"
        first=
        for h in $(grep -o '#include "[a-z0-9_]*\.hpp"' "$voc/vocab.cpp" | cut -d'"' -f2); do
            [ -f "$voc/$h" ] && continue
            : > "$voc/$h"
            first=${first:-$voc/$h}
        done
        if [ -n "$first" ]; then
            for sym in $(grep -o 'reinterpret_cast<const char\*>([a-z0-9_]*' "$voc/vocab.cpp" | sed 's/.*(//' | sort -u); do
                grep -q "$sym\[\]" "$voc"/*.hpp || echo "static const unsigned char $sym[] = {0};" >> "$first"
            done
        fi
    fi
    vk=$src/ggml/src/ggml-vulkan/ggml-vulkan.cpp
    if [ -z "${VULKAN_HEADERS:-}" ] && ! grep -q LayerSettingEXT /usr/include/vulkan/vulkan_structs.hpp 2>/dev/null; then
        "$py" - "$vk" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
a = s.find("    VkBool32 enable_best_practice = layer_settings;")
end = "&layer_setting_info);"
b = s.find(end, a)
if a < 0 or b < 0:
    sys.exit("e2e.sh: ggml-vulkan.cpp: the layer-settings block to take out was not found")
s = s[:a] + ("    vk::InstanceCreateInfo instance_create_info(vk::InstanceCreateFlags{}, &app_info, layers, extensions);"
             " /* evoke e2e.sh: Vulkan-Hpp 1.3.239 has no LayerSettingEXT */") + s[b + len(end):]
open(p, "w").write(s)
EOF
    fi
fi

sdcli=$dir/build/bin/sd-cli
if [ ! -x "$sdcli" ]; then
    cm=(cmake -S "$src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DSD_VULKAN=ON -DSD_WEBP=OFF -DSD_WEBM=OFF)
    [ -z "${VULKAN_HEADERS:-}" ] || cm+=(-DVulkan_INCLUDE_DIR="$VULKAN_HEADERS/include")
    "${cm[@]}" > "$dir/cmake.log" 2>&1 || die "cmake of stable-diffusion.cpp failed (see $dir/cmake.log)"
    (cd "$dir/build" && nice -n 10 make -j2 sd-cli > "$dir/build.log" 2>&1) || die "build of stable-diffusion.cpp failed (see $dir/build.log)"
fi
[ -x "$sdcli" ] || die "no $sdcli after the build"

ckpt=$dir/sd15-random.safetensors
[ -f "$ckpt" ] || nice -n 10 "$py" "$here/e2e_checkpoint.py" "$ckpt"
[ -x "$evoke" ] || die "no evoke binary at $evoke (build it, or set EVOKE)"

lvp=$(ls /usr/share/vulkan/icd.d/lvp_icd.*.json 2>/dev/null | head -1 || true)
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -n "$lvp" ]; then export VK_ICD_FILENAMES=$lvp; fi
echo "e2e.sh: sd.cpp $(cat "$dir/sdcpp_commit.txt" 2>/dev/null) (ggml $(cat "$dir/ggml_commit.txt" 2>/dev/null)), ICD ${VK_ICD_FILENAMES:-default}"
exec "$py" "$here/e2e.py" --ckpt "$ckpt" --sdcpp "$sdcli" --evoke "$evoke" --rounds "$rounds" --work "$dir/runs" \
    --out "$repo/bench/E2E.md" "$@"
