#!/usr/bin/env bash
# cli_tiny_video.sh — the shipped video models (assets/tiny-video) in evoke against the PyTorch
# training code that made them (tests/data/nets/tiny_video, written by tools/train/ship_video.py
# from the same float16 weights): the teacher's DDIM (10 steps, guidance 7.5) and the T2V-Turbo
# student's 4-step LCM (w 7.5 embedded, the steps' injected noise given) from the same initial
# latents reproduce the reference clips, and the shipped frame reward (hpsv2 type, its own
# tokenizer/ folder), ViCLIP and the mixed reward.json score them as the PyTorch models do.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
m=${EVOKE_TINY_VIDEO:-$src/assets/tiny-video}
d=${EVOKE_TINY_VIDEO_FIXTURES:-$src/tests/data/nets/tiny_video}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3
P=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['prompt'])" "$d/expected.json")

"$evoke" generate --model "$m/model.ckpt" --prompt "$P" --negative-prompt "" --frames 8 --fps 8 --steps 10 --sampler ddim \
  --eta 0 --cfg 7.5 --latents "$d/latents.npy" --output-raw "$tmp/teacher.npy" >"$tmp/out.txt" 2>&1 ||
  fail "teacher exited $?: $(cat "$tmp/out.txt")"
grep -q "NFE 20," "$tmp/out.txt" || fail "teacher: 10 guided steps should be 20 NFE: $(cat "$tmp/out.txt")"
"$evoke" generate --model "$m/model.ckpt" --diffusion-model "$m/unet_mg.pt" --prompt "$P" --frames 8 --fps 8 --steps 4 \
  --cfg 7.5 --latents "$d/latents.npy" --noise "$d/noise.npy" --output-raw "$tmp/student.npy" >"$tmp/out.txt" 2>&1 ||
  fail "student exited $?: $(cat "$tmp/out.txt")"
grep -q "NFE 4," "$tmp/out.txt" || fail "student: 4 LCM steps should be 4 NFE: $(cat "$tmp/out.txt")"
$py - "$tmp" "$d" <<'PY' || fail "clips differ from the PyTorch reference"
import sys
import numpy as np
t, d = sys.argv[1], sys.argv[2]
for n in ("teacher", "student"):
    a, b = np.load(f"{t}/{n}.npy"), np.load(f"{d}/{n}_video.npy")
    assert a.shape == b.shape == (8, 32, 32, 3), (a.shape, b.shape)
    e = np.linalg.norm(a - b) / np.linalg.norm(b)
    print(f"{n} rel L2 {e:.3g}, max |diff| {np.abs(a - b).max():.3g}")
    assert e <= 2e-3, (n, e)
PY

# the rewards on the reference clips
for r in hpsv2 viclip; do
  f=$([ $r = hpsv2 ] && echo hpsv2/open_clip_pytorch_model.bin || echo viclip/ViClip-tiny.pth)
  printf '{"type": "%s", "model": "%s"}\n' $r "$m/$f" >"$tmp/$r.json"
done
cp "$m/reward.json" "$tmp/mixed.json" && sed -i "s|\"hpsv2/|\"$m/hpsv2/|; s|\"viclip/|\"$m/viclip/|" "$tmp/mixed.json"
for r in hpsv2 viclip mixed; do
  "$evoke" score --reward "$tmp/$r.json" --prompt "$P" --json "$d/teacher_video.npy" "$d/student_video.npy" >"$tmp/$r.out" ||
    fail "score $r exited $?"
done
$py - "$tmp" "$d/expected.json" <<'PY' || fail "rewards differ from the PyTorch models"
import json, sys
t, e = sys.argv[1], json.load(open(sys.argv[2]))
for r in ("hpsv2", "viclip", "mixed"):
    got = [i["reward"] for i in json.load(open(f"{t}/{r}.out"))["images"]]
    assert len(got) == 2, got
    for g, w in zip(got, e[r]):
        assert abs(g - w) <= 5e-4 * max(1.0, abs(w)), (r, got, e[r])  # f16 matrices on the device
    print(r, got, "PyTorch", e[r])
PY
echo "cli_tiny_video: ok"
