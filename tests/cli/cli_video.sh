#!/usr/bin/env bash
# cli_video.sh — videos through the CLI. `evoke score`: a clip's reward is the image reward's
# mean over its frames, the same whether the clip is a .npy [F, H, W, 3], a folder of PNG frames
# or a lossless animated WebP, and equal to the mean of the frames scored one by one as PNGs;
# frame_mean's max_frames picks the first and last of three; a sum mixes both forms.
# `evoke generate` on the tiny ModelScope pipeline (tests/data/nets/modelscope, 4 frames of
# 16x16): the CLI reproduces diffusers' TextToVideoSDPipeline video from its latents (DDIM η = 0,
# guidance 7.5, 3 steps); the best clip as animated WebP (4 frames, 16x16, prompt and parameters
# in XMP), a PNG strip equal to the raw array, MP4 through ffmpeg (frames, size, comment) and the
# population grid; Best-of-N, particle sampling and EvoSearch over videos spend exactly their
# NFE (EvoSearch's video default at 4 steps: S = 0,1,2, P = 10,5,5,5, 85 NFE), give the same
# result in chunks of one clip, and `evoke score` on the written .npy and WebP gives the reward
# the search reported. On the tiny VideoCrafter2 / T2V-Turbo checkpoint (tests/data/nets/vc2):
# the LCM student from the reference's latents and per-step noise (--noise) reproduces
# T2V-Turbo's own video; EvoSearch and Best-of-N over its videos spend exactly their budget at one
# model call per step (guidance through the w-embedding).
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
# ---- evoke generate with a video model ------------------------------------------------------
ms=$src/tests/data/nets/modelscope
[ -f "$ms/model_index.json" ] || { echo "cli_video: $ms absent, the generate part skipped"; echo "cli_video: ok"; exit 0; }
V=(--model "$ms" --prompt "$P" --frames 4 -W 16 -H 16)
"$evoke" generate "${V[@]}" --negative-prompt "" --steps 3 --cfg 7.5 --sampler ddim --eta 0 --latents "$ms/latents.npy" \
  --output-raw "$tmp/ref.npy" -o "$tmp/ref.webp" >/dev/null || fail "generate the reference video"
$py - "$tmp/ref.npy" "$ms/video.npy" <<'PY' || fail "the video differs from diffusers' pipeline"
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
e = float(np.linalg.norm(a - b) / np.linalg.norm(b))
print("  TextToVideoSDPipeline video: shape %s, rel L2 %.3g" % (a.shape, e))
assert a.shape == b.shape == (4, 16, 16, 3) and e <= 1e-3
PY
# the WebP: an animation of 4 16x16 frames with the prompt and the parameters in its XMP chunk
$py - "$tmp/ref.webp" "$P" <<'PY' || fail "ref.webp is not the 4-frame animation with its metadata"
import sys, struct
d = open(sys.argv[1], "rb").read()
assert d[:4] == b"RIFF" and d[8:12] == b"WEBP", d[:16]
pos, frames, xmp, size = 12, 0, b"", None
while pos + 8 <= len(d):
    k, n = d[pos:pos + 4], struct.unpack("<I", d[pos + 4:pos + 8])[0]
    body = d[pos + 8:pos + 8 + n]
    if k == b"VP8X": size = (1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little"))
    if k == b"ANMF": frames += 1
    if k == b"XMP ": xmp = body
    pos += 8 + n + (n & 1)
assert frames == 4 and size == (16, 16), (frames, size)
x = xmp.decode()
assert sys.argv[2] in x and "&quot;frames&quot;:4" in x.replace('"', "&quot;") and "&quot;method&quot;:&quot;sample&quot;" in x.replace('"', "&quot;"), x
PY
"$evoke" score --reward "$reward" --json "$tmp/ref.webp" >"$tmp/ref_webp.json" || fail "score the written WebP (its own prompt)"
"$evoke" score --reward "$reward" --prompt "$P" --json "$tmp/ref.npy" >"$tmp/ref_npy.json" || fail "score the written .npy"
$py - "$tmp/ref_webp.json" "$tmp/ref_npy.json" <<'PY' || fail "the WebP and the raw clip score differently"
import json, sys
a, b = (json.load(open(f))["images"][0] for f in sys.argv[1:])
assert a["frames"] == b["frames"] == 4 and abs(a["reward"] - b["reward"]) <= 0.02, (a, b)  # 8-bit frames vs f32
PY
# Best-of-N over videos: exact NFE, the strip equals the raw clip, the grid, and score = the reported reward
"$evoke" generate "${V[@]}" --steps 3 --cfg 0 --reward "$reward" --method bon --nfe 12 --seed 4 --report "$tmp/bon.json" \
  -o "$tmp/bon.png" --grid "$tmp/grid.png" --output-raw "$tmp/bon.npy" >/dev/null || fail "bon over videos"
"$evoke" generate "${V[@]}" --steps 3 --cfg 0 --reward "$reward" --method bon --nfe 12 --seed 4 --chunk 1 \
  --report "$tmp/bon1.json" >/dev/null || fail "bon over videos in chunks of 1"
"$evoke" score --reward "$reward" --prompt "$P" --json "$tmp/bon.npy" >"$tmp/bon_score.json" || fail "score the best clip"
$py - "$tmp" <<'PY' || fail "Best-of-N over videos"
import json, struct, sys, zlib, numpy as np
t = sys.argv[1]
r, r1 = json.load(open(t + "/bon.json")), json.load(open(t + "/bon1.json"))
assert r["nfe"] == 12 and len(r["population"]) == 4, (r["nfe"], len(r["population"]))
assert r1["nfe"] == 12 and r1["best_reward"] == r["best_reward"], (r["best_reward"], r1["best_reward"])
assert abs(r["best_reward"] - max(r["population_rewards"])) <= 1e-6
s = json.load(open(t + "/bon_score.json"))["images"][0]
assert s["frames"] == 4 and abs(s["reward"] - r["best_reward"]) <= 1e-5, (s, r["best_reward"])
def png(path):
    d = open(path, "rb").read(); pos, idat, text = 8, b"", {}
    while pos < len(d):
        n, k = struct.unpack(">I4s", d[pos:pos + 8]); b = d[pos + 8:pos + 8 + n]; pos += 12 + n
        if k == b"IHDR": w, h = struct.unpack(">II", b[:8])
        if k == b"IDAT": idat += b
        if k == b"tEXt": key, _, v = b.partition(b"\0"); text[key.decode()] = v.decode()
    raw = zlib.decompress(idat); out = np.zeros((h, 3 * w), np.int32); prev = np.zeros(3 * w, np.int32)
    for y in range(h):
        f = raw[y * (3 * w + 1)]; line = np.frombuffer(raw[y * (3 * w + 1) + 1:(y + 1) * (3 * w + 1)], np.uint8).astype(np.int32)
        cur = np.zeros(3 * w, np.int32)
        for i in range(3 * w):
            a = cur[i - 3] if i >= 3 else 0; b = prev[i]; c = prev[i - 3] if i >= 3 else 0
            p = a + b - c; pr = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)
            cur[i] = (line[i] + [0, a, b, (a + b) // 2, pr][f]) & 255
        out[y] = cur; prev = cur
    return out.reshape(h, w, 3), text
strip, text = png(t + "/bon.png")
raw = np.load(t + "/bon.npy")
assert strip.shape == (16, 64, 3), strip.shape
want = np.concatenate(list(raw), axis=1) * 255
assert np.abs(strip - want).max() <= 1.0, np.abs(strip - want).max()
p = json.loads(text["parameters"])
assert p["frames"] == 4 and p["method"] == "bon" and p["nfe"] == 12 and text["prompt"], text
g = open(t + "/grid.png", "rb").read(24)
assert g[:8] == b"\x89PNG\r\n\x1a\n"
gw, gh = struct.unpack(">II", g[16:24])
assert gw > 4 * 16 * 4 and gh > 4 * 16 * 4, (gw, gh)  # 4 rows of 4 frames, upscaled 4x
PY
# EvoSearch's video default at 4 steps and particle sampling: exact NFE
"$evoke" generate "${V[@]}" --steps 4 --cfg 0 --reward "$reward" --method evo --report "$tmp/evo.json" >/dev/null || fail "evo over videos"
"$evoke" generate "${V[@]}" --steps 4 --cfg 0 --reward "$reward" --method fk --n 4 --report "$tmp/fk.json" >/dev/null || fail "fk over videos"
$py - "$tmp" <<'PY' || fail "EvoSearch / particle sampling over videos"
import json, sys
t = sys.argv[1]
e = json.load(open(t + "/evo.json"))
p = e["parameters"]
assert e["nfe"] == 85 and p["evolution_schedule"] == [0, 1, 2] and p["population_schedule"] == [10, 5, 5, 5] and p["elites"] == 2, (e["nfe"], p)
assert [g["nfe"] for g in e["generations"]] == [40, 60, 75, 85], e["generations"]
f = json.load(open(t + "/fk.json"))
assert f["nfe"] == 16, f["nfe"]
print("  evo over videos: NFE %d, best %.4f; fk: NFE %d, best %.4f" % (e["nfe"], e["best_reward"], f["nfe"], f["best_reward"]))
PY
if command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; then
  "$evoke" generate "${V[@]}" --steps 2 --cfg 0 -o "$tmp/v.mp4" >/dev/null || fail "generate an MP4"
  info=$(ffprobe -v error -count_frames -show_entries stream=width,height,nb_read_frames:format_tags=comment -of compact "$tmp/v.mp4")
  [[ $info == *"width=16|height=16|nb_read_frames=4"* && $info == *"comment=$P"* ]] || fail "v.mp4: $info"
else
  echo "cli_video: ffmpeg absent: MP4 output not checked"
fi
# ---- T2V-Turbo (VideoCrafter2 student): the reference LCM video, searches at one call per step
vc=$src/tests/data/nets/vc2
if [ -f "$vc/vc2_tiny.ckpt" ]; then
  T2V=(--model "$vc/vc2_tiny.ckpt" --config "$vc/vc2_tiny.yaml" --diffusion-model "$vc/vc2_tiny_turbo_unet.pt"
       --prompt "a red fox running through snow, cinematic" -W 16 -H 16 --frames 4 --steps 4 --sampler lcm --cfg 7.5)
  "$evoke" generate "${T2V[@]}" --latents "$vc/lcm_latents.npy" --noise "$vc/lcm_noise.npy" --output-raw "$tmp/t2v.npy" \
    >/dev/null || fail "T2V-Turbo with the reference noise"
  "$evoke" generate "${T2V[@]}" --latents "$vc/lcm_latents.npy" --output-raw "$tmp/t2v_drawn.npy" >/dev/null || fail "T2V-Turbo"
  $py - "$tmp/t2v.npy" "$tmp/t2v_drawn.npy" "$vc/lcm_video.npy" <<'PY' || fail "T2V-Turbo's LCM video"
import sys, numpy as np
a, d, b = (np.load(f) for f in sys.argv[1:])
e, e2 = (float(np.linalg.norm(x - b) / np.linalg.norm(b)) for x in (a, d))
print("  T2V-Turbo LCM video with the reference noise: rel L2 %.3g (drawn noise: %.3g)" % (e, e2))
assert a.shape == b.shape == (4, 16, 16, 3) and e <= 1e-3 and e2 > 1e-2
PY
  "$evoke" generate "${T2V[@]}" --reward "$reward" --method evo --nfe 66 --report "$tmp/t2v_evo.json" -o "$tmp/t2v.webp" >/dev/null ||
    fail "evo over T2V-Turbo videos"
  "$evoke" generate "${T2V[@]}" --reward "$reward" --method bon --nfe 8 --report "$tmp/t2v_bon.json" >/dev/null || fail "bon over T2V-Turbo videos"
  $py - "$tmp" <<'PY' || fail "searches over T2V-Turbo videos"
import json, sys
t = sys.argv[1]
e, b = json.load(open(t + "/t2v_evo.json")), json.load(open(t + "/t2v_bon.json"))
p = e["parameters"]
# the budget rule at 4 steps: 6 everywhere costs 78 with S = 0,1,2, 66 with S = 0,1
assert e["nfe"] == 66 and p["evolution_schedule"] == [0, 1] and p["population_schedule"] == [6, 6, 6], (e["nfe"], p)
assert [g["nfe"] for g in e["generations"]] == [24, 48, 66], e["generations"]
assert b["nfe"] == 8 and len(b["population"]) == 2, (b["nfe"], len(b["population"]))
print("  T2V-Turbo: evo NFE %d best %.4f, bon NFE %d best %.4f" % (e["nfe"], e["best_reward"], b["nfe"], b["best_reward"]))
PY
  [ -s "$tmp/t2v.webp" ] || fail "t2v.webp not written"
else
  echo "cli_video: $vc absent, the T2V-Turbo part skipped"
fi
echo "cli_video: ok"
