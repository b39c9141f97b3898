#!/usr/bin/env bash
# cli_demo_video.sh — `evoke demo --video` on the shipped video models (assets/tiny-video): for one
# prompt, the teacher (50 DDIM steps with guidance: 100 NFE), the 4-step student (4 NFE) and
# EvoSearch over the student at 24 NFE write their clips, video.png and report rows of
# kind "video" with every documented field; each clip's WebP carries its prompt, `evoke verify`
# gives the same verdict as the report and `evoke score` with the shipped mixed reward the same
# reward (up to the 8-bit quantisation of the file); bad input is exit 2 with one message and
# nothing written.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
assets=$src/assets/tiny-video
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3

echo "a green circle moving down" >"$tmp/prompts.txt"
"$evoke" demo --video --prompts "$tmp/prompts.txt" --nfe 24 --out "$tmp/demo" >"$tmp/out.txt" 2>&1 || fail "demo --video exited $?: $(tail -5 "$tmp/out.txt")"
for f in video.png report.md report.json video/1-teacher.webp video/1-student.webp video/1-student-evo.webp; do
  [ -s "$tmp/demo/$f" ] || fail "demo --video did not write $f"
done
$py - "$tmp/demo/report.json" <<'PY' || fail "report.json is not as documented"
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
assert len(rows) == 3, rows
keys = {"kind", "model", "method", "steps", "nfe", "reward", "verifier_pass", "seconds", "file", "prompt"}
for r in rows:
    assert keys <= set(r), (keys - set(r), r)
    assert r["kind"] == "video" and isinstance(r["verifier_pass"], bool), r
got = [(r["model"], r["method"], r["steps"], r["nfe"]) for r in rows]
assert got[0] == ("teacher", "sample", 50, 100), got
assert got[1] == ("student", "sample", 4, 4), got
assert got[2][:3] == ("student", "evo", 4) and 4 < got[2][3] <= 24, got
assert rows[2]["budget"] == 24 and rows[2]["schedule"] == "one generation of 6 = Best-of-N", rows[2]
PY
# each file: its own prompt inside, the report's verdict and (8-bit) reward
for k in 0 1 2; do
  f=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][$k]['file'])" "$tmp/demo/report.json")
  "$evoke" verify --json "$tmp/demo/$f" >"$tmp/verify.json"
  "$evoke" score --reward "$assets/reward.json" --json "$tmp/demo/$f" >"$tmp/score.json" || fail "score $f exited $?"
  $py - "$tmp/demo/report.json" $k "$tmp/verify.json" "$tmp/score.json" <<'PY' || fail "$f: verdict or reward differ from the report"
import json, sys
row = json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]
v = json.load(open(sys.argv[3]))["images"][0]
s = json.load(open(sys.argv[4]))["images"][0]["reward"]
assert v["prompt"] == row["prompt"] and v["pass"] == row["verifier_pass"], (v, row)
assert abs(s - row["reward"]) <= 0.02, (s, row["reward"])
print(row["file"], row["reward"], s, v["pass"])
PY
done

# bad input: exit 2, one message, no output folder
echo "a red circle on the left" >"$tmp/bad.txt"
"$evoke" demo --video --prompts "$tmp/bad.txt" --out "$tmp/bad" >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "an image caption was accepted by --video"
grep -q "video prompt 1" "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ -e "$tmp/bad" ] && fail "a refused run left $tmp/bad"
"$evoke" demo --video --budgets 80 --out "$tmp/bad" >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "--video took --budgets"
grep -q "apply to the image part" "$tmp/err" || fail "message: $(cat "$tmp/err")"
"$evoke" demo --video --image --out "$tmp/bad" >/dev/null 2>&1; [ $? -eq 2 ] || fail "--video --image was accepted"
"$evoke" demo --video --model "$tmp/none" --out "$tmp/bad" >/dev/null 2>&1; [ $? -eq 2 ] || fail "a missing model folder was accepted"
[ -e "$tmp/bad" ] && fail "a refused run left $tmp/bad"
echo "cli_demo_video: ok"
