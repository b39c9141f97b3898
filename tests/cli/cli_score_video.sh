#!/usr/bin/env bash
# cli_score_video.sh — `evoke score --reward R.json --prompt P video…` with the video rewards on
# the tiny upstream-checked models of tests/data/nets/vrewards (tools/ref/fixtures_video_rewards.py):
# HPSv2 (a clip's mean over its frames), ViCLIP and T2V-Turbo's mixed reward (1 · HPSv2 + 2 · ViCLIP)
# on two .npy clips [17, 12, 20, 3] give the upstream code's scores (relative 1e-4); the same clip as
# a folder of PNG frames scores as its 8-bit quantisation does; ViCLIP on a single image and on a
# clip shorter than 8 frames is refused with a message and exit 1.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
d=$src/tests/data/nets/vrewards
py=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['prompt'])" "$d/expected.json")

for r in hpsv2 viclip mixed; do
  "$evoke" score --reward "$d/$r.json" --prompt "$P" --json "$d/clip0.npy" "$d/clip1.npy" >"$tmp/$r.json" || fail "score $r"
done
$py - "$tmp" "$d/expected.json" <<'PY' || fail "scores differ from the upstream code"
import json, sys
t, e = sys.argv[1], json.load(open(sys.argv[2]))
for r in ("hpsv2", "viclip", "mixed"):
    got = [i["reward"] for i in json.load(open(f"{t}/{r}.json"))["images"]]
    for g, w in zip(got, e[r]):
        assert abs(g - w) <= 1e-4 * max(1.0, abs(w)), (r, got, e[r])
    assert len(got) == 2, got
    print(r, got, "upstream", e[r])
PY

# a folder of PNG frames: the 8-bit frames, scored like the .npy of the same 8-bit values
mkdir -p "$tmp/frames"
$py - "$d/clip0.npy" "$tmp" <<'PY' || fail "write frames"
import sys, zlib, struct, numpy as np
c = np.round(np.load(sys.argv[1]) * 255).astype(np.uint8)
np.save(sys.argv[2] + "/q.npy", (c.astype(np.float32) / 255))
def png(path, a):
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))
    ch = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + ch(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + ch(b"IDAT", zlib.compress(raw)) + ch(b"IEND", b""))
for i, f in enumerate(c):
    png(f"{sys.argv[2]}/frames/f{i:02d}.png", f)
PY
"$evoke" score --reward "$d/mixed.json" --prompt "$P" "$tmp/frames" >"$tmp/dir.out" || fail "score a frame folder"
"$evoke" score --reward "$d/mixed.json" --prompt "$P" "$tmp/q.npy" >"$tmp/q.out" || fail "score the quantised clip"
[ "$(cut -f1 -d' ' "$tmp/dir.out")" = "$(cut -f1 -d' ' "$tmp/q.out")" ] || fail "frame folder $(cat "$tmp/dir.out") vs .npy $(cat "$tmp/q.out")"

# refusals: ViCLIP needs videos of at least 8 frames
$py -c "import numpy as np,sys; np.save(sys.argv[1], np.load(sys.argv[2])[:5])" "$tmp/short.npy" "$d/clip0.npy"
$py -c "import numpy as np,sys; np.save(sys.argv[1], np.load(sys.argv[2])[0])" "$tmp/image.npy" "$d/clip0.npy"
"$evoke" score --reward "$d/viclip.json" --prompt "$P" "$tmp/short.npy" >"$tmp/out" 2>"$tmp/err" && fail "a 5-frame clip was scored"
grep -q "the model takes 8 frames, the clips have 5" "$tmp/err" || fail "message: $(cat "$tmp/err")"
"$evoke" score --reward "$d/viclip.json" --prompt "$P" "$tmp/image.npy" >"$tmp/out" 2>"$tmp/err" && fail "an image was scored by ViCLIP"
grep -q "scores videos, and these samples are not videos" "$tmp/err" || fail "message: $(cat "$tmp/err")"
echo "cli_score_video: ok"
