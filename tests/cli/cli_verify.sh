#!/usr/bin/env bash
# cli_verify.sh — `evoke verify`: a matching caption passes (exit 0) and each claim is listed, a
# caption with one attribute changed fails (exit 1) naming the failing claim, the prompt comes
# from the image's own text chunk when --prompt is absent, --json is valid JSON with the claims,
# and unknown words, missing or non-PNG files and bad options get the documented exit codes.
set -u
evoke=$1
data=${EVOKE_TEST_DATA:-$(dirname "$0")/../data}/verifier
single=$data/sample_single.png
pair=$data/sample_pair.png
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$evoke" verify --prompt "a large green circle in the center" "$single"); rc=$?
[ $rc -eq 0 ] || fail "matching caption: exit $rc: $out"
grep -q "PASS" <<<"$out" || fail "no PASS in: $out"
grep -q "\[pass\] the green object is a circle" <<<"$out" || fail "shape claim not listed: $out"
grep -q "\[pass\] the green object is large" <<<"$out" || fail "size claim not listed: $out"

out=$("$evoke" verify --prompt "a large green triangle in the center" "$single"); rc=$?
[ $rc -eq 1 ] || fail "wrong shape: exit $rc (expected 1): $out"
grep -q "FAIL" <<<"$out" || fail "no FAIL in: $out"
grep -q "\[FAIL\] the green object is a triangle .*circle" <<<"$out" || fail "failing claim not shown with what was found: $out"

# the prompt stored in the PNG's "prompt" text chunk
out=$("$evoke" verify "$single" "$pair"); rc=$?
[ $rc -eq 0 ] || fail "embedded prompts: exit $rc: $out"
grep -q "2 of 2 images pass" <<<"$out" || fail "no summary: $out"
grep -q "cyan circle right of a green circle" <<<"$out" || fail "embedded pair prompt not used: $out"

# options may follow the images
out=$("$evoke" verify "$pair" --prompt "a cyan circle left of a green circle"); rc=$?
[ $rc -eq 1 ] || fail "swapped relation: exit $rc: $out"
grep -q "\[FAIL\] the cyan object is left of the green object" <<<"$out" || fail "relation claim: $out"

json=$("$evoke" verify --json --prompt "a cyan circle right of a green circle" "$pair" "$single"); rc=$?
[ $rc -eq 1 ] || fail "--json with one failing image: exit $rc"
printf '%s' "$json" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["total"] == 2 and d["passed"] == 1, d
a, b = d["images"]
assert a["pass"] is True and b["pass"] is False, d
assert [c["kind"] for c in a["claims"]] == ["colour", "colour", "shape", "shape", "position"], a["claims"]
assert all(c["pass"] for c in a["claims"]), a
assert {o["colour"] for o in a["objects"]} == {"cyan", "green"}, a["objects"]
assert not b["categories"]["colour"], b
' || fail "--json is not the expected JSON: $json"

# bad input
err=$("$evoke" verify --prompt "a magenta circle on the left" "$single" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "unknown word: exit $rc (expected 2)"
grep -q "unknown word 'magenta'" <<<"$err" || fail "unknown word not named: $err"
err=$("$evoke" verify --prompt "a red circle" "$single" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "incomplete caption: exit $rc (expected 2)"
err=$("$evoke" verify --prompt "a red circle on the left" "$tmp/missing.png" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "missing file: exit $rc (expected 2: bad input, as in every command)"
grep -q "missing.png" <<<"$err" || fail "missing file not named: $err"
echo "not a png" >"$tmp/text.png"
err=$("$evoke" verify --prompt "a red circle on the left" "$tmp/text.png" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "non-PNG: exit $rc (expected 2)"
grep -q "not a PNG" <<<"$err" || fail "non-PNG message: $err"
cp "$data/atlas.png" "$tmp/noprompt.png"
err=$("$evoke" verify "$tmp/noprompt.png" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "no prompt anywhere: exit $rc (expected 2)"
grep -q -- "--prompt" <<<"$err" || fail "no-prompt message does not mention --prompt: $err"
"$evoke" verify --prompt "a red circle on the left" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no image not rejected with 2"
"$evoke" verify --bogus "$single" >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option not rejected with 2"
"$evoke" verify "$single" --prompt >/dev/null 2>&1; [ $? -eq 2 ] || fail "--prompt without a value not rejected with 2"
"$evoke" verify --help | grep -q "usage: evoke verify" || fail "--help"
"$evoke" --help | grep -q "verify" || fail "evoke --help does not list verify"
echo "cli_verify: ok"
