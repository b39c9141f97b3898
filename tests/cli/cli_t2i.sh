#!/usr/bin/env bash
# cli_t2i.sh — text-to-image through the CLI on the shipped model: plain `evoke generate` with a
# prompt and -o writes one image and nothing else; a search writes the best image (with its
# prompt in a PNG text chunk, equal to the raw array), the population grid and the report;
# `evoke score` gives the same reward for the PNG; `evoke demo` writes its report and pictures;
# output folders that do not exist yet are created, and the demo finds the shipped model from any
# folder; bad input is exit code 2 with one line and no output file.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
model=$src/assets/tiny-sd
reward=$src/assets/tiny-clip-reward.json
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$model/model_index.json" ] || { echo "cli_t2i: $model absent, skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$evoke" generate --model "$model" --reward "$reward" --prompt "a red circle on the left" --method bon --n 2 \
      --steps 4 --cfg 0 --seed 3 --report "$tmp/r/r.json" -o "$tmp/img/a/best.png" --grid "$tmp/img/b/grid.png" \
      --output-raw "$tmp/raw/best.npy") || fail "generate exited $?"
for f in r/r.json img/a/best.png img/b/grid.png raw/best.npy; do [ -s "$tmp/$f" ] || fail "generate did not write $f"; done
mv "$tmp/img/a/best.png" "$tmp/best.png"
best=$(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["nfe"]==8, r["nfe"]; print(r["best_reward"])' "$tmp/r/r.json") \
  || fail "report: unexpected content"
head -c 6 "$tmp/raw/best.npy" | grep -q "NUMPY" || fail "best.npy is not a .npy file"
# the PNG and the raw array are the same image (decoded once by the search)
/usr/bin/python3 - "$tmp/best.png" "$tmp/raw/best.npy" <<'PY' || fail "best.png and best.npy differ"
import sys, zlib, struct
data = open(sys.argv[1], "rb").read()
pos, idat, w, h = 8, b"", 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
    if kind == b"IHDR": w, h = struct.unpack(">II", body[:8]); assert body[8:10] == b"\x08\x02", body[8:10]
    if kind == b"IDAT": idat += body
raw = zlib.decompress(idat); rows = []; prev = bytearray(3 * w)
for y in range(h):  # PNG row filters
    f, line = raw[y * (3 * w + 1)], bytearray(raw[y * (3 * w + 1) + 1:(y + 1) * (3 * w + 1)])
    for i in range(3 * w):
        a = line[i - 3] if i >= 3 else 0; b = prev[i]; c = prev[i - 3] if i >= 3 else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
png = b"".join(rows)
npy = open(sys.argv[2], "rb").read()  # .npy: magic, version, header length, header, f32 data
hlen = struct.unpack("<H", npy[8:10])[0]
header, values = npy[10:10 + hlen].decode(), struct.unpack("<%df" % (h * w * 3), npy[10 + hlen:])
assert "'<f4'" in header and "(%d, %d, 3)" % (h, w) in header, header
worst = max(abs(png[i] / 255 - min(1.0, max(0.0, v))) for i, v in enumerate(values))
assert worst <= 0.5 / 255 + 1e-6, worst
PY
# the PNG carries its prompt: score it without --prompt and compare with the search's reward
scored=$("$evoke" score --reward "$reward" "$tmp/best.png" | awk '{print $1}') || fail "score exited $?"
/usr/bin/python3 -c 'import sys; a,b=map(float,sys.argv[1:]); assert abs(a-b) < 2e-2, (a,b)' "$best" "$scored" \
  || fail "score of the written PNG ($scored) is not the search's best reward ($best)"
"$evoke" verify "$tmp/best.png" >/dev/null; rc=$?
[ $rc -eq 0 ] || [ $rc -eq 1 ] || fail "verify of a generated PNG exited $rc"

# plain generation: a prompt and -o, no reward, no report
mkdir "$tmp/plain"
out=$("$evoke" generate --model "$model" --prompt "a red circle" --steps 4 --cfg 2 -o "$tmp/plain/x.png") || fail "plain generate exited $?"
[ "$(ls "$tmp/plain")" = "x.png" ] && [ -s "$tmp/plain/x.png" ] || fail "plain generate wrote: $(ls "$tmp/plain")"
grep -q "^sample: 1 sample, NFE 8" <<<"$out" || fail "plain generate: $out"
# searches need a reward: exit 2, one line naming the shipped one, nothing written
for m in bon fk evo; do
  err=$("$evoke" generate --model "$model" --prompt "a red circle" --method $m --steps 4 -o "$tmp/nope.png" 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "$m without a reward: exit $rc"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && grep -q "assets/tiny-clip-reward.json" <<<"$err" || fail "$m without a reward: $err"
  [ ! -e "$tmp/nope.png" ] || fail "$m without a reward wrote an image"
done

# bad input: exit 2, one line, nothing written
err=$("$evoke" generate --model "$model" --reward "$reward" --method bon --n 2 --steps 4 --report "$tmp/x.json" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "missing --prompt: exit $rc"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "missing --prompt: more than one line: $err"
[ ! -e "$tmp/x.json" ] || fail "a report was written after bad input"
"$evoke" generate --model "$src/assets/gmm/toy2d.json" --reward "$reward" --prompt x --method bon --n 2 --report "$tmp/x.json" \
  >/dev/null 2>&1; [ $? -eq 2 ] || fail "--prompt with a non-text model accepted"
err=$("$evoke" generate --model "$tmp/no-such-model" --reward "$reward" --prompt x --method bon --n 2 --report "$tmp/x.json" 2>&1)
[ $? -eq 2 ] && [ "$err" = "evoke generate: --model: no such file or directory: $tmp/no-such-model (see \`evoke generate --help\`)" ] || fail "a missing model folder: $err"
"$evoke" generate --model "$src/assets/gmm/toy2d.json" --reward "$src/assets/gmm/toy2d_reward.json" --method bon --n 2 -o "$tmp/x.png" \
  >/dev/null 2>&1; [ $? -eq 2 ] || fail "-o with a model that makes no images accepted"
[ ! -e "$tmp/x.png" ] || fail "an image was written after bad input"

# the demo on one prompt, without guidance to keep it short, run from another folder with the
# shipped model and reward (its defaults) into an output folder two levels down
printf 'a blue square at the top\n' > "$tmp/prompts.txt"
(cd "$tmp" && "$evoke" demo --image --prompts prompts.txt --nfe 70 --steps 8 --cfg 0 --out runs/demo >/dev/null 2>&1) || fail "demo exited $?"
mv "$tmp/runs/demo" "$tmp/demo"
for f in grid.png curve.png accuracy.png report.md report.json; do [ -s "$tmp/demo/$f" ] || fail "demo did not write $f"; done
/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert [(x["method"], x["budget"]) for x in r] == [("sample", 8), ("bon", 11), ("bon", 35), ("bon", 70), ("evo", 11), ("evo", 35), ("evo", 70)], r
# below one generation of 6 (6 trajectories of 8 steps and 6 more from step 0: 96 NFE) EvoSearch is
# Best-of-N under the small-budget rule, the same trajectories, and the report says so
evo = {x["budget"]: x for x in r if x["method"] == "evo"}
bon = {x["budget"]: x for x in r if x["method"] == "bon"}
assert evo[70]["schedule"] == "one generation of 8 = Best-of-N", evo[70]
assert all(evo[b]["reward"] == bon[b]["reward"] and evo[b]["nfe"] == bon[b]["nfe"] for b in evo), (evo, bon)
for x in r:
    assert set(x) >= {"prompt", "method", "budget", "nfe", "reward", "verifier_pass", "seconds"}, x
    assert isinstance(x["verifier_pass"], bool) and x["nfe"] <= x["budget"], x
' "$tmp/demo/report.json" || fail "demo report.json is not as documented"
grep -q '^- 70 NFE: one generation of 8 = Best-of-N$' "$tmp/demo/report.md" || fail "demo report.md does not give EvoSearch's schedule per budget"
printf 'a red circle\nthe moon over water\n' > "$tmp/bad.txt"
"$evoke" demo --model "$model" --reward "$reward" --prompts "$tmp/bad.txt" --out "$tmp/bad" >/dev/null 2>&1; [ $? -eq 2 ] || fail "a prompt outside the grammar was accepted"
# --diffusion-model: the pipeline's text encoder, tokenizer and scheduler with the UNet of a
# quantised GGUF file (tests/data/nets/unet_gguf.gguf, its config in unet/); without the option
# the folder has no UNet weights, and a GGUF that holds no UNet is an error naming the file
gg=$tmp/gguf-model
mkdir -p "$gg/unet"
for f in model_index.json text_encoder tokenizer scheduler; do ln -s "$model/$f" "$gg/$f"; done
cp "$src/tests/data/nets/unet_gguf.json" "$gg/unet/config.json"
"$evoke" generate --model "$gg" --diffusion-model "$src/tests/data/nets/unet_gguf.gguf" --prompt "a red circle" -W 8 -H 8 \
  --steps 2 --cfg 2 --seed 1 --output-raw "$tmp/gguf.npy" >/dev/null || fail "generate with --diffusion-model exited $?"
[ -s "$tmp/gguf.npy" ] || fail "generate with --diffusion-model wrote no array"
"$evoke" generate --model "$gg" --prompt "a red circle" -W 8 -H 8 --steps 2 --output-raw "$tmp/none.npy" >/dev/null 2>&1
[ $? -ne 0 ] && [ ! -e "$tmp/none.npy" ] || fail "a folder without UNet weights was accepted"
msg=$("$evoke" generate --model "$gg" --diffusion-model "$src/tests/data/gguf/q8_0.gguf" --prompt "a red circle" -W 8 -H 8 \
      --steps 2 --output-raw "$tmp/bad.npy" 2>&1 >/dev/null)
[ $? -ne 0 ] && [ ! -e "$tmp/bad.npy" ] && echo "$msg" | grep -q "q8_0.gguf: not a UNet" || fail "a GGUF without a UNet: $msg"
echo "cli_t2i: ok"
