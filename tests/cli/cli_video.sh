#!/usr/bin/env bash
# cli_video.sh — videos through the CLI. `evoke score`: a clip's reward is the image reward's
# mean over its frames, the same whether the clip is a .npy [F, H, W, 3], a folder of PNG frames
# or a lossless animated WebP, and equal to the mean of the frames scored one by one as PNGs;
# frame_mean's max_frames picks the first and last of three; a sum mixes both forms.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
model=$src/assets/tiny-sd
clip_dir=$src/assets/tiny-clip
reward=$src/assets/tiny-clip-reward.json
py=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$model/model_index.json" ] || { echo "cli_video: $model absent, skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P="a red circle on the left"

# ---- evoke score on videos ------------------------------------------------------------------
mkdir -p "$tmp/frames"
for s in 1 2 3; do
  "$evoke" generate --model "$model" --prompt "$P" --steps 2 --cfg 2 --seed $s -o "$tmp/frames/f$s.png" >/dev/null || fail "generate seed $s"
done
"$evoke" score --reward "$reward" --json "$tmp"/frames/f1.png "$tmp"/frames/f2.png "$tmp"/frames/f3.png >"$tmp/png.json" || fail "score PNGs"
"$evoke" score --reward "$reward" --prompt "$P" --json "$tmp/frames" >"$tmp/dir.json" || fail "score a frame folder"
# the frames as a .npy clip [3, 32, 32, 3] (from the PNGs' 8-bit values, so all forms hold the same pixels)
$py - "$tmp" <<'PY' || fail "making the .npy clip"
import sys, struct, zlib, numpy as np
def png(path):
    d = open(path, "rb").read(); pos, idat = 8, b""
    while pos < len(d):
        n, k = struct.unpack(">I4s", d[pos:pos + 8]); b = d[pos + 8:pos + 8 + n]; pos += 12 + n
        if k == b"IHDR": w, h = struct.unpack(">II", b[:8])
        if k == b"IDAT": idat += b
    raw = zlib.decompress(idat); out = np.zeros((h, 3 * w), np.int32); prev = np.zeros(3 * w, np.int32)
    for y in range(h):
        f = raw[y * (3 * w + 1)]; line = np.frombuffer(raw[y * (3 * w + 1) + 1:(y + 1) * (3 * w + 1)], np.uint8).astype(np.int32)
        cur = np.zeros(3 * w, np.int32)
        for i in range(3 * w):
            a = cur[i - 3] if i >= 3 else 0; b = prev[i]; c = prev[i - 3] if i >= 3 else 0
            p = a + b - c; pr = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)
            cur[i] = (line[i] + [0, a, b, (a + b) // 2, pr][f]) & 255
        out[y] = cur; prev = cur
    return out.reshape(h, w, 3)
t = sys.argv[1]
np.save(t + "/clip.npy", np.stack([png("%s/frames/f%d.png" % (t, i)) for i in (1, 2, 3)]).astype(np.float32) / 255)
PY
"$evoke" score --reward "$reward" --prompt "$P" --json "$tmp/clip.npy" >"$tmp/npy.json" || fail "score a .npy clip"
cat >"$tmp/cap.json" <<J
{"type":"frame_mean","max_frames":2,"reward":{"type":"clip_score","model":"$clip_dir"}}
J
cat >"$tmp/sum.json" <<J
{"type":"sum","terms":[{"weight":1,"reward":{"type":"clip_score","model":"$clip_dir"}},
 {"weight":2,"reward":{"type":"frame_mean","max_frames":2,"reward":{"type":"clip_score","model":"$clip_dir"}}}]}
J
"$evoke" score --reward "$tmp/cap.json" --prompt "$P" --json "$tmp/clip.npy" >"$tmp/cap.out" || fail "score with max_frames"
"$evoke" score --reward "$tmp/sum.json" --prompt "$P" --json "$tmp/clip.npy" >"$tmp/sum.out" || fail "score with a sum"
webp=""
if command -v ffmpeg >/dev/null && ffmpeg -hide_banner -encoders 2>/dev/null | grep -q libwebp_anim; then
  ffmpeg -loglevel error -framerate 8 -i "$tmp/frames/f%d.png" -c:v libwebp_anim -lossless 1 -loop 0 "$tmp/clip.webp" ||
    fail "ffmpeg could not make a WebP"
  "$evoke" score --reward "$reward" --prompt "$P" --json "$tmp/clip.webp" >"$tmp/webp.json" || fail "score an animated WebP"
  webp=$tmp/webp.json
else
  echo "cli_video: ffmpeg with libwebp_anim absent: the WebP input is not checked here (tests/formats/test_video.c reads WebP)"
fi
$py - "$tmp" $webp <<'PY' || fail "video scores"
import json, sys
t = sys.argv[1]
r = [e["reward"] for e in json.load(open(t + "/png.json"))["images"]]
mean = sum(r) / 3
files = [t + "/dir.json", t + "/npy.json"] + sys.argv[2:]
for f in files:
    e = json.load(open(f))["images"][0]
    assert e["frames"] == 3, (f, e)
    assert abs(e["reward"] - mean) <= 1e-5, (f, e["reward"], mean)
cap = json.load(open(t + "/cap.out"))["images"][0]["reward"]
assert abs(cap - (r[0] + r[2]) / 2) <= 1e-5, (cap, r)
s = json.load(open(t + "/sum.out"))["images"][0]["reward"]
assert abs(s - (mean + 2 * cap)) <= 1e-5, (s, mean, cap)
print("  frames %s, mean %.6f, first+last %.6f, sum %.6f: %d forms agree" % (r, mean, cap, s, len(files)))
PY
echo "cli_video: ok"
