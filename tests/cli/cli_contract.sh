#!/usr/bin/env bash
# cli_contract.sh — the CLI contract, row by row from tests/cli/contract.tsv: for each hostile or
# edge input, the exit code (0 success, 1 runtime failure, 2 bad usage or input; 130/143 after
# SIGINT/SIGTERM), the one line on stderr (matched by a regular expression), the files that must
# exist afterwards and those that must not (no output from a failed run, and never a temporary
# file left behind). Rows run in a fresh directory each, with damaged models, rewards, PNGs and
# .npy files made here from the shipped assets.
#   cli_contract.sh EVOKE [ROW-NAME-REGEX]
set -u
evoke=$(realpath "$1")
only=${2:-}
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
table=$src/tests/cli/contract.tsv
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
py=/usr/bin/python3

# ---- fixtures -------------------------------------------------------------------------------
fx=$tmp/fixtures
mkdir -p "$fx"
cp -r "$src/assets/tiny-sd" "$fx/sd_trunc" && truncate -s 100000 "$fx/sd_trunc/unet/diffusion_pytorch_model.safetensors"
cp -r "$src/assets/tiny-sd" "$fx/sd_badjson" && printf '{"sample_size": 32,' >"$fx/sd_badjson/unet/config.json"
cp -r "$src/assets/tiny-sd" "$fx/sd_noindex" && rm "$fx/sd_noindex/model_index.json"
cp -r "$src/assets/tiny-sd" "$fx/sd_noweights" && rm "$fx/sd_noweights/unet/diffusion_pytorch_model.safetensors"
cp -r "$src/assets/tiny-sd" "$fx/sd_header" && printf '\xff\xff\xff\xff\xff\xff\x00\x00' |
  dd of="$fx/sd_header/unet/diffusion_pytorch_model.safetensors" bs=1 seek=0 conv=notrunc status=none
cp -r "$src/assets/tiny-sd" "$fx/sd_badsched" && printf '{"_class_name":"DDIMScheduler","prediction_type":"x_or_y"}' \
  >"$fx/sd_badsched/scheduler/scheduler_config.json"
printf '{"family":"gmm","dim":2,' >"$fx/broken.json"
printf '{"family":"gmm","dim":2,"schedule":"vp","components":[{"weight":1,"mean":[0,0,0],"std":1}]}' >"$fx/gmm_baddim.json"
printf '{"family":"gmm","dim":2,"schedule":"vp","components":[{"weight":1,"mean":[0,0],"std":-1}]}' >"$fx/gmm_badstd.json"
printf '{"type":"linear"}' >"$fx/reward_nodir.json"
printf '{"type":"telepathy"}' >"$fx/reward_unknown.json"
printf '{"type":"clip_score","model":"no-such-clip"}' >"$fx/reward_nomodel.json"
printf '{"type":"sum","terms":[]}' >"$fx/reward_emptysum.json"
printf '[1,2,3]' >"$fx/reward_array.json"
: >"$fx/empty.json"
printf 'not a directory' >"$fx/afile"
mkdir -p "$fx/adir"
$py - "$fx" <<'PY' || { echo "FAIL: fixtures"; exit 1; }
import struct, sys, zlib
fx = sys.argv[1]

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

def png(w, h, text=b"a red circle on the left", pixel=lambda x, y: (255, 255, 255)):
    raw = b"".join(b"\0" + b"".join(bytes(pixel(x, y)) for x in range(w)) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + (chunk(b"tEXt", b"prompt\0" + text) if text else b"")
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def red_circle(x, y):
    return (220, 30, 30) if (x - 9) ** 2 + (y - 16) ** 2 <= 16 else (255, 255, 255)

good = png(32, 32, pixel=red_circle)
open(fx + "/good.png", "wb").write(good)
bad = bytearray(good); bad[8 + 8 + 13] ^= 0xff  # IHDR's CRC
open(fx + "/badcrc_ihdr.png", "wb").write(bad)
bad = bytearray(good); bad[-1] ^= 0x01  # IEND's CRC
open(fx + "/badcrc_iend.png", "wb").write(bad)
open(fx + "/truncated.png", "wb").write(good[:60])
open(fx + "/notpng.png", "wb").write(b"GIF89a definitely not a png")
open(fx + "/zero.png", "wb").write(b"")
garbage = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", b"\x78\x9c not zlib at all") + chunk(b"IEND", b""))
open(fx + "/badidat.png", "wb").write(garbage)
huge = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1 << 30, 1 << 30, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))
open(fx + "/huge.png", "wb").write(huge)
open(fx + "/noprompt.png", "wb").write(png(32, 32, text=None, pixel=red_circle))

def npy(shape, descr="<f4", data=None, fortran=False, magic=b"\x93NUMPY"):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, "True" if fortran else "False", "".join("%d," % s for s in shape))
    header = header.encode() + b" " * (64 - (len(header) + 11) % 64) + b"\n"
    n = 1
    for s in shape: n *= s
    if data is None:
        data = struct.pack("<%df" % n, *[((i * 7919) % 1000) / 500.0 - 1.0 for i in range(n)])
    return magic + b"\x01\x00" + struct.pack("<H", len(header)) + header + data

open(fx + "/latents.npy", "wb").write(npy((1, 3, 32, 32)))
open(fx + "/latents_count.npy", "wb").write(npy((5,)))
open(fx + "/latents_f64.npy", "wb").write(npy((1, 3, 32, 32), "<f8", b"\0" * 8 * 3072))
open(fx + "/latents_fortran.npy", "wb").write(npy((1, 3, 32, 32), fortran=True))
open(fx + "/latents_trunc.npy", "wb").write(npy((1, 3, 32, 32))[:500])
open(fx + "/latents_magic.npy", "wb").write(npy((1, 3, 32, 32), magic=b"\x93NUMPX"))
open(fx + "/latents_nan.npy", "wb").write(npy((1, 3, 32, 32), data=struct.pack("<f", float("nan")) * 3072))
open(fx + "/latents_nhwc.npy", "wb").write(npy((1, 32, 32, 3)))
open(fx + "/latents_hwc.npy", "wb").write(npy((32, 32, 3)))
open(fx + "/latents_flat.npy", "wb").write(npy((3072,)))
open(fx + "/clip_bad_dims.npy", "wb").write(npy((2, 32, 32, 4)))
open(fx + "/clip_range.npy", "wb").write(npy((2, 32, 32, 3)))
open(fx + "/clip_ok.npy", "wb").write(npy((2, 32, 32, 3), data=struct.pack("<f", 0.5) * (2 * 32 * 32 * 3)))
open(fx + "/noise_2steps.npy", "wb").write(npy((2, 1, 3, 32, 32)))
open(fx + "/noise_nan.npy", "wb").write(npy((2, 3, 32, 32), data=struct.pack("<f", 0.5) * 3072 + struct.pack("<f", float("inf")) * 3072))
PY

# ---- helpers usable in the table's commands ---------------------------------------------------
# within S CMD...: CMD must end within S seconds (else exit 124: the row fails).
within() { local s=$1; shift; timeout --kill-after=10 "$s" "$@"; }
# signal_after SIG S CMD...: run CMD, send it SIG after S seconds, return its exit status. Job
# control gives CMD its own process group with SIGINT at its default, as at a terminal.
signal_after() {
  local sig=$1 delay=$2; shift 2
  set -m
  "$@" &
  local pid=$!
  set +m
  sleep "$delay"
  kill -s "$sig" "$pid" 2>/dev/null
  wait "$pid"
}
# signal_in_write SIG CMD...: run CMD under gdb, stopped at the first fsync() (inside the atomic
# writer, with its temporary file open), deliver SIG there and return CMD's exit status.
signal_in_write() {
  local sig=$1; shift
  command -v gdb >/dev/null || return 77
  local out
  out=$(gdb -q -batch -nx -ex 'set breakpoint pending on' -ex 'handle SIGINT SIGTERM nostop noprint pass' \
        -ex 'break fsync' -ex run -ex "signal SIG$sig" --args "$@" 2>&1 </dev/null)
  if [[ $out =~ exited\ with\ code\ ([0-7]+) ]]; then return $((8#${BASH_REMATCH[1]}))
  elif [[ $out =~ exited\ normally ]]; then return 0
  elif [[ $out =~ terminated\ with\ signal\ SIG([A-Z]+) ]]; then
    case ${BASH_REMATCH[1]} in INT) return 130 ;; TERM) return 143 ;; *) return 139 ;; esac
  fi
  echo "signal_in_write: no exit status in gdb's output: $out" >&2
  return 99
}
export -f within signal_after signal_in_write

# ---- the rows ---------------------------------------------------------------------------------
E=$evoke S=$src TINY=$src/assets/tiny-sd CLIP=$src/assets/tiny-clip-reward.json GMM=$src/assets/gmm/toy2d.json \
  GREW=$src/assets/gmm/toy2d_reward.json
export E S TINY CLIP GMM GREW fx
fails=0 rows=0 skipped=0
while IFS=$'\t' read -r name code regex exist absent cmd; do
  [[ -z $name || $name == \#* ]] && continue
  [[ -n $only && ! $name =~ $only ]] && continue
  rows=$((rows + 1))
  dir=$tmp/rows/$rows
  mkdir -p "$dir"
  start=$(date +%s)
  (cd "$dir" && eval "$cmd") >"$dir.out" 2>"$dir.err"
  rc=$?
  secs=$(($(date +%s) - start))
  if [ "$rc" -eq 77 ]; then echo "skip  $name (needs gdb)"; skipped=$((skipped + 1)); continue; fi
  why=""
  [ "$rc" -eq "$code" ] || why="exit code $rc, expected $code"
  if [ -z "$why" ] && [ "$regex" != "-" ]; then
    lines=$(grep -c '' "$dir.err")
    if [ "$code" -ne 0 ] && [ "$lines" -ne 1 ]; then why="expected one line on stderr, got $lines"
    elif ! grep -Eq -- "$regex" "$dir.err"; then why="stderr does not match /$regex/"; fi
  fi
  for f in $exist; do [ "$f" = "-" ] || [ -e "$dir/$f" ] || why="${why:+$why; }$f missing"; done
  for f in $absent; do [ "$f" = "-" ] || [ ! -e "$dir/$f" ] || why="${why:+$why; }$f exists"; done
  left=$(cd "$dir" && find . -name '.evk-*' -o -name '*.tmp' | head -3 | tr '\n' ' ')
  [ -z "$left" ] || why="${why:+$why; }temporary files left: $left"
  if [ -n "$why" ]; then
    fails=$((fails + 1))
    echo "FAIL  $name: $why (${secs} s)"
    echo "      command: $cmd"
    sed 's/^/      stderr: /' "$dir.err" | head -5
  else
    echo "ok    $name (${secs} s)"
  fi
done <"$table"
echo "cli_contract: $rows rows, $fails failed, $skipped skipped"
[ "$rows" -gt 0 ] && [ "$fails" -eq 0 ]
