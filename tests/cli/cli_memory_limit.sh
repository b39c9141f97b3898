#!/usr/bin/env bash
# cli_memory_limit.sh — EVOKE_MEMORY_LIMIT_MB from 8 MiB upwards on the shipped tiny model with a
# small EvoSearch: every budget either completes with the same image and report as an unlimited
# run (the population is split into chunks to fit, and chunks start at any row) or exits 1 with
# an out-of-device-memory message. Never another error, never a partial output.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
run=(generate --model "$src/assets/tiny-sd" --reward "$src/assets/tiny-clip-reward.json" --prompt "a red circle left of a blue square"
     --method evo --steps 8 --nfe 64 --cfg 2 --seed 5)
strip() { /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
for k in ("wall_seconds","gpu_wait_seconds","pipeline_create_seconds","submissions","dispatches","stages"): r.pop(k, None)
r["parameters"].pop("chunk", None); print(json.dumps(r, sort_keys=True))' "$1"; }
"$evoke" "${run[@]}" --report "$tmp/ref.json" -o "$tmp/ref.png" >/dev/null || fail "unlimited run exited $?"
ref=$(strip "$tmp/ref.json")
completed=0 oom=0
for mb in 8 11 12 14 24; do
  rm -f "$tmp/r.json" "$tmp/x.png"
  EVOKE_MEMORY_LIMIT_MB=$mb "$evoke" "${run[@]}" --report "$tmp/r.json" -o "$tmp/x.png" >/dev/null 2>"$tmp/err"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    cmp -s "$tmp/x.png" "$tmp/ref.png" || fail "$mb MiB: the image differs from the unlimited run's"
    [ "$(strip "$tmp/r.json")" = "$ref" ] || fail "$mb MiB: the report differs from the unlimited run's"
    completed=$((completed + 1))
  elif [ "$rc" -eq 1 ] && [ "$(grep -c '' "$tmp/err")" -eq 1 ] && grep -q "out of device memory" "$tmp/err"; then
    [ ! -e "$tmp/r.json" ] && [ ! -e "$tmp/x.png" ] || fail "$mb MiB: out of memory, yet outputs were written"
    oom=$((oom + 1))
  else
    fail "$mb MiB: exit $rc: $(cat "$tmp/err")"
  fi
  echo "$mb MiB: exit $rc"
done
[ "$completed" -gt 0 ] && [ "$oom" -gt 0 ] || fail "expected both outcomes over the range (completed $completed, out of memory $oom)"
echo "cli_memory_limit: ok ($completed completed, $oom out of device memory)"
