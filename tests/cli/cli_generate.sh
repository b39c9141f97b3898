#!/usr/bin/env bash
# cli_generate.sh — `evoke generate` on the shipped toy mixture: reports hold what they promise
# (exact NFE, population, per-generation rows), the same seed gives the same report, chunked
# runs equal unchunked ones, --progress prints, and every kind of bad input is one line on
# stderr, exit code 2 and no report.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
gmm=$src/assets/gmm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3

# ---- good runs ------------------------------------------------------------------------------
for m in sample bon fk evo; do
  "$evoke" generate --model "$gmm/toy2d.json" --reward "$gmm/toy2d_reward.json" --method $m --steps 50 --nfe 5000 --seed 3 \
    --report "$tmp/$m.json" >/dev/null || fail "$m run exited $?"
  $py - "$tmp/$m.json" $m <<'PY' || fail "$m report"
import json, sys
r = json.load(open(sys.argv[1])); m = sys.argv[2]
for k in ("method", "parameters", "nfe", "reward_calls", "wall_seconds", "best_reward", "best_sample", "population",
          "population_rewards", "generations"):
    assert k in r, k
assert r["method"] == m and r["nfe"] == 5000, (r["method"], r["nfe"])
assert len(r["best_sample"]) == 2 and len(r["population"]) == len(r["population_rewards"])
assert all(len(v) == 2 for v in r["population"])
assert max(r["population_rewards"]) <= r["best_reward"] + 1e-6
for g in r["generations"]:
    for k in ("step", "population", "best_reward", "mean_reward", "min_reward", "nfe"):
        assert k in g, k
assert r["generations"][-1]["nfe"] == 5000
if m == "evo":
    assert r["parameters"]["population_schedule"] == [42, 26, 26, 26, 30], r["parameters"]
    assert r["parameters"]["evolution_schedule"] == [0, 20, 30, 40] and r["reward_calls"] == 150
    assert len(r["generations"]) == 5 and len(r["population"]) == 30
if m in ("bon", "sample"):
    assert r["parameters"]["n"] == 100 and len(r["population"]) == 100
# per-stage times: every step ran at least once (evo and fk revisit steps), times are sums >= 0
st = r["stages"]
assert len(st["steps"]) == 50 and [s["step"] for s in st["steps"]] == list(range(50)), st["steps"][:3]
assert all(s["runs"] >= 1 and s["seconds"] >= 0 and s["gpu_seconds"] is None for s in st["steps"])
assert st["reward_runs"] >= 1 and st["reward_seconds"] >= 0 and st["load_seconds"] >= 0 and st["text_seconds"] >= 0
assert sum(s["seconds"] for s in st["steps"]) <= r["wall_seconds"] + 1e-6
if m in ("bon", "sample"):
    assert all(s["runs"] == 1 for s in st["steps"]), [s["runs"] for s in st["steps"]]
PY
done

# same seed -> the same report (timings aside); chunked -> the same report
strip='import json,sys; r=json.load(open(sys.argv[1])); [r.pop(k) for k in ("wall_seconds","gpu_wait_seconds","pipeline_create_seconds","submissions","dispatches","stages")]; r["parameters"].pop("chunk"); print(json.dumps(r, sort_keys=True))'
"$evoke" generate --model "$gmm/toy2d.json" --reward "$gmm/toy2d_reward.json" --method evo --steps 50 --nfe 5000 --seed 3 \
  --report "$tmp/evo2.json" >/dev/null || fail "second evo run"
"$evoke" generate --model "$gmm/toy2d.json" --reward "$gmm/toy2d_reward.json" --method evo --steps 50 --nfe 5000 --seed 3 --chunk 7 \
  --report "$tmp/evo3.json" >/dev/null || fail "chunked evo run"
a=$($py -c "$strip" "$tmp/evo.json"); b=$($py -c "$strip" "$tmp/evo2.json"); c=$($py -c "$strip" "$tmp/evo3.json")
[ "$a" = "$b" ] || fail "same seed, different reports"
[ "$a" = "$c" ] || fail "chunked report differs from unchunked"

# without a reward: plain sampling, one sample unless asked, rewards null in the report
"$evoke" generate --model "$gmm/toy2d.json" --steps 20 --seed 3 --report "$tmp/plain.json" >/dev/null || fail "plain sampling run"
$py - "$tmp/plain.json" <<'PY' || fail "plain sampling report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["method"] == "sample" and r["parameters"]["n"] == 1 and r["nfe"] == 20, r["parameters"]
assert r["reward_calls"] == 0 and r["best_reward"] is None and r["population_rewards"] is None
assert r["best_sample"] == r["population"][0]
PY

# progress lines
err=$("$evoke" generate --model "$gmm/toy2d.json" --reward "$gmm/toy2d_reward.json" --method evo --steps 20 --nfe 2000 \
      --report "$tmp/p.json" --progress 2>&1 >/dev/null) || fail "progress run"
[ "$(grep -c 'generation .* nfe .* best' <<<"$err")" -eq 5 ] || fail "expected 5 progress lines, got: $err"

# a budget below one generation of 6: EvoSearch is one generation (Best-of-N), and says so
"$evoke" generate --model "$gmm/toy2d.json" --reward "$gmm/toy2d_reward.json" --method evo --steps 50 --nfe 250 \
  --report "$tmp/small.json" >/dev/null || fail "small-budget evo run"
$py -c 'import json,sys; r=json.load(open(sys.argv[1])); p=r["parameters"]
assert r["nfe"] == 250 and p["evolution_schedule"] == [] and p["population_schedule"] == [5] and "single generation" in p["note"], r' \
  "$tmp/small.json" || fail "small-budget evo report"

# ---- bad input: one line, exit 2, no report ---------------------------------------------------
printf '{"family":"gmm","dim":2,' >"$tmp/broken.json"
printf '{"family":"gmm","dim":2,"schedule":"vp","components":[{"weight":1,"mean":[0,0,0],"std":1}]}' >"$tmp/baddim.json"
printf '{"type":"linear"}' >"$tmp/badreward.json"
expect_usage() {
  local what=$1; shift
  rm -f "$tmp/bad.json"
  local err rc
  err=$("$evoke" generate --report "$tmp/bad.json" "$@" 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq 2 ] || fail "$what: exit code $rc, expected 2 ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "$what: expected one line, got: $err"
  [ ! -e "$tmp/bad.json" ] || fail "$what: a report was written"
  [ -z "$(ls -A "$tmp" | grep '\.tmp')" ] || fail "$what: a temporary report was left"
}
M=(--model "$gmm/toy2d.json"); R=(--reward "$gmm/toy2d_reward.json")
expect_usage "malformed model JSON" --model "$tmp/broken.json" "${R[@]}" --method bon
expect_usage "model mean of the wrong length" --model "$tmp/baddim.json" "${R[@]}" --method bon
expect_usage "malformed reward JSON" "${M[@]}" --reward "$tmp/broken.json" --method bon
expect_usage "reward without a direction" "${M[@]}" --reward "$tmp/badreward.json" --method bon
expect_usage "dimension mismatch" "${M[@]}" --reward "$gmm/toy64d_reward.json" --method bon
expect_usage "empty evolution schedule" "${M[@]}" "${R[@]}" --method evo --evolution-schedule ""
expect_usage "empty population schedule" "${M[@]}" "${R[@]}" --method evo --population-schedule ","
expect_usage "schedule not increasing" "${M[@]}" "${R[@]}" --method evo --evolution-schedule 0,20,20,40
expect_usage "schedule beyond T" "${M[@]}" "${R[@]}" --method evo --steps 50 --evolution-schedule 0,20,30,50
expect_usage "elites >= population" "${M[@]}" "${R[@]}" --method evo --elites 26
expect_usage "NFE too small" "${M[@]}" "${R[@]}" --method bon --steps 50 --nfe 49
expect_usage "NFE too small for evo" "${M[@]}" "${R[@]}" --method evo --steps 50 --nfe 49
expect_usage "unknown method" "${M[@]}" "${R[@]}" --method greedy
expect_usage "sampler for another schedule" "${M[@]}" "${R[@]}" --method bon --sampler euler
expect_usage "missing --model" "${R[@]}" --method bon
expect_usage "model path that does not exist" --model "$tmp/no-such-model.json" "${R[@]}" --method bon
expect_usage "a file that is no model" --model "$gmm/toy2d_reward.json" "${R[@]}" --method bon
expect_usage "search without a reward" "${M[@]}" --method evo
expect_usage "image options with a mixture" "${M[@]}" "${R[@]}" --method bon --f16
err=$("$evoke" generate --model "$tmp/no-such-model.json" --report "$tmp/bad.json" 2>&1)
[ "$err" = "evoke generate: --model: no such file or directory: $tmp/no-such-model.json (see \`evoke generate --help\`)" ] || fail "missing model message: $err"
err=$("$evoke" generate --model "$gmm/toy2d_reward.json" --report "$tmp/bad.json" 2>&1)
[ "$err" = "evoke: $gmm/toy2d_reward.json is not a model evoke knows (families: gmm, sd3, modelscope, vc2, sd)" ] || fail "unknown model message: $err"
err=$("$evoke" generate "${M[@]}" --method fk --report "$tmp/bad.json" 2>&1)
grep -q "reward.*assets/tiny-clip-reward.json" <<<"$err" || fail "a search without a reward does not name the shipped one: $err"
err=$("$evoke" generate "${M[@]}" "${R[@]}" --method bon 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "nothing to write" <<<"$err" || fail "no output asked: exit $rc, $err"
expect_usage "unknown option" "${M[@]}" "${R[@]}" --method bon --bogus
# ---- output paths: missing folders are created; one that cannot be is one line before any work --
"$evoke" generate "${M[@]}" "${R[@]}" --method bon --steps 10 --nfe 100 --report "$tmp/new/deeper/r.json" >/dev/null \
  || fail "report in a missing folder: exit $?"
[ -s "$tmp/new/deeper/r.json" ] || fail "report in a missing folder was not written"
: >"$tmp/plain"
err=$("$evoke" generate "${M[@]}" "${R[@]}" --method bon --report "$tmp/plain/r.json" 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 1 ] || fail "report under a file: exit code $rc, expected 1 ($err)"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && grep -q -- "--report: cannot create the folder $tmp/plain" <<<"$err" \
  || fail "report under a file: expected one line naming the folder, got: $err"
err=$("$evoke" generate "${M[@]}" "${R[@]}" --method bon --report "$tmp/new" 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] && grep -q "is a folder" <<<"$err" || fail "report onto a folder: exit code $rc ($err)"
"$evoke" generate --help | grep -q "usage: evoke generate" || fail "--help"
# what --model accepts comes from the model registry
"$evoke" generate --help | grep -q "^  gmm " || fail "--help does not list the gmm family"
"$evoke" generate --help | grep -q "^  sd " || fail "--help does not list the sd family"
"$evoke" --help | grep -q "generate" || fail "evoke --help does not list generate"
echo "cli_generate: ok"
