#!/usr/bin/env bash
# cli_bench.sh — `evoke bench` on the small cases: the table and the peak line are printed,
# --json writes valid JSON with the documented keys, and bad usage exits with 2.
set -u
evoke=$1
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$evoke" bench --quick --kernel matmul --runs 2 --json "$tmp/new/b.json") || fail "evoke bench exited $?: $out"
mv "$tmp/new/b.json" "$tmp/b.json" # --json created the missing folder
grep -q "^peak:" <<<"$out" || fail "no peak line in: $out"
grep -q "timestamp" <<<"$out" || fail "the table does not say where times come from: $out"
grep -q "^matmul " <<<"$out" || fail "no matmul row in: $out"
[ -f "$tmp/b.json" ] || fail "--json wrote nothing"
ls "$tmp" | grep -q tmp && fail "temporary file left beside the JSON"
/usr/bin/python3 - "$tmp/b.json" <<'PY' || fail "JSON lacks the documented keys"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("name", "type", "driver"):
    assert k in d["device"], k
assert d["peak"]["gflops"] > 0 and d["peak"]["gbps"] > 0, d["peak"]
mm = [r for r in d["results"] if r["kernel"] == "matmul"]
assert mm, d["results"]
for r in mm:
    for k in ("kernel", "shape", "dtype", "median_ms", "min_ms", "gflops", "gbps", "peak_pct"):
        assert k in r, k
    assert 0 < r["min_ms"] <= r["median_ms"], r
    assert r["gflops"] > 0 and r["peak_pct"] > 0, r
PY

"$evoke" bench --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option not rejected with 2"
"$evoke" bench --runs 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--runs 0 not rejected with 2"
"$evoke" bench --runs x >/dev/null 2>&1; [ $? -eq 2 ] || fail "--runs x not rejected with 2"
"$evoke" bench --kernel no_such_kernel >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown kernel not rejected with 2"
"$evoke" bench extra >/dev/null 2>&1; [ $? -eq 2 ] || fail "stray argument not rejected with 2"
"$evoke" bench --json >/dev/null 2>&1; [ $? -eq 2 ] || fail "--json without a value not rejected with 2"
"$evoke" bench --help | grep -q "usage: evoke bench" || fail "--help"
echo "cli_bench: ok"
