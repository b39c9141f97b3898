#!/usr/bin/env bash
# cli_mpi.sh — a search spread over devices and processes gives what one device gives, byte for
# byte: `evoke generate` with --devices 0,0 / 0,0,0 (logical devices on one physical one) and,
# when evoke was built with MPI, under `mpirun -np 1/2/3`, for sample / bon / fk (resampling) /
# evo on populations that do not divide evenly, the report (timings aside) and the images of the
# shipped text-to-image model; `evoke demo` with its prompts spread over devices (--devices 0,0)
# and over ranks writes the same report and pictures. Faults: a rank that fails mid-run
# (EVOKE_FAULT_RANK), is killed outright (SIGKILL, a segfault: its watcher process reports it), or
# hangs ends the run promptly with one message naming the rank, exit status 1, nothing written.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
gmm=$src/assets/gmm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3
strip() { $py -c 'import json,sys; r=json.load(open(sys.argv[1]))
for k in ("stages","wall_seconds","gpu_wait_seconds","pipeline_create_seconds","submissions","dispatches"): r.pop(k, None)
r["parameters"].pop("chunk", None); print(json.dumps(r, sort_keys=True))' "$1"; }
mpi=0
if "$evoke" --version | grep -q MPI && command -v mpirun >/dev/null; then mpi=1; else echo "cli_mpi: evoke built without MPI or no mpirun: --devices only"; fi
mpirun_n() { local n=$1; shift; timeout 900 mpirun --oversubscribe --allow-run-as-root -np "$n" "$@"; }

# ---- the toy mixture: every strategy ------------------------------------------------------------
toy=(generate --model "$gmm/toy2d.json" --reward "$gmm/toy2d_reward.json" --steps 20 --seed 5)
declare -A opts=([sample]="--n 7" [bon]="--n 11" [fk]="--n 13 --lambda 200" [evo]="--nfe 700")
for m in sample bon fk evo; do
  # shellcheck disable=SC2086
  t0=$SECONDS
  "$evoke" "${toy[@]}" --method $m ${opts[$m]} --report "$tmp/$m.json" >/dev/null || fail "$m: one device exited $?"
  [ $m = evo ] && base=$((SECONDS - t0)) # the whole run on one device: what a prompt end is measured against
  ref=$(strip "$tmp/$m.json")
  for d in 0,0 0,0,0; do
    # shellcheck disable=SC2086
    "$evoke" "${toy[@]}" --method $m ${opts[$m]} --devices $d --report "$tmp/$m-d.json" >/dev/null || fail "$m --devices $d exited $?"
    [ "$(strip "$tmp/$m-d.json")" = "$ref" ] || fail "$m --devices $d: the report differs from one device's"
  done
  [ $mpi = 1 ] || continue
  for n in 1 2 3; do
    # shellcheck disable=SC2086
    mpirun_n $n "$evoke" "${toy[@]}" --method $m ${opts[$m]} --report "$tmp/$m-$n.json" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "$m -np $n exited"; }
    [ "$(strip "$tmp/$m-$n.json")" = "$ref" ] || fail "$m -np $n: the report differs from one device's"
    [ "$(grep -c '^fk: \|^evo: \|^bon: \|^sample: ' "$tmp/out")" = 1 ] || fail "$m -np $n: not one summary line: $(cat "$tmp/out")"
  done
done
$py -c 'import json,sys; r=json.load(open(sys.argv[1])); assert any(g.get("resampled") for g in r["generations"]), "fk never resampled"' "$tmp/fk.json" \
  || fail "the fk case does not resample (it must move particles between ranks)"

# ---- the shipped text-to-image model: the best image and the grid, byte for byte ----------------
sd=(generate --model "$src/assets/tiny-sd" --reward "$src/assets/tiny-clip-reward.json" --prompt "a red circle on the left" --steps 4
    --cfg 0 --method evo --evolution-schedule 2 --population-schedule 5,3 --elites 1 --seed 1)
"$evoke" "${sd[@]}" -o "$tmp/sd.png" --grid "$tmp/sdg.png" --report "$tmp/sd.json" >/dev/null || fail "tiny-sd: one device exited $?"
"$evoke" "${sd[@]}" --devices 0,0 -o "$tmp/sd-d.png" --grid "$tmp/sdg-d.png" --report "$tmp/sd-d.json" >/dev/null || fail "tiny-sd --devices 0,0"
cmp -s "$tmp/sd.png" "$tmp/sd-d.png" && cmp -s "$tmp/sdg.png" "$tmp/sdg-d.png" || fail "tiny-sd --devices 0,0: the images differ"
[ "$(strip "$tmp/sd-d.json")" = "$(strip "$tmp/sd.json")" ] || fail "tiny-sd --devices 0,0: the report differs"
if [ $mpi = 1 ]; then
  mpirun_n 2 "$evoke" "${sd[@]}" -o "$tmp/sd-2.png" --grid "$tmp/sdg-2.png" --report "$tmp/sd-2.json" >/dev/null 2>&1 || fail "tiny-sd -np 2"
  cmp -s "$tmp/sd.png" "$tmp/sd-2.png" && cmp -s "$tmp/sdg.png" "$tmp/sdg-2.png" || fail "tiny-sd -np 2: the images differ"
  [ "$(strip "$tmp/sd-2.json")" = "$(strip "$tmp/sd.json")" ] || fail "tiny-sd -np 2: the report differs"
fi

# ---- the demo: prompts over devices and ranks, one report ---------------------------------------
head -3 "$src/assets/prompts/demo.txt" >"$tmp/prompts.txt"
demo=(demo --image --prompts "$tmp/prompts.txt" --methods sample,bon --budgets 8 --steps 4 --cfg 0)
dstrip() { $py -c 'import json,sys; r=json.load(open(sys.argv[1])); r.pop("seconds")
for x in r["results"]: x.pop("seconds")
print(json.dumps(r, sort_keys=True))' "$1"; }
"$evoke" "${demo[@]}" --out "$tmp/demo1" >/dev/null 2>&1 || fail "demo: one process exited $?"
"$evoke" "${demo[@]}" --devices 0,0 --out "$tmp/demo-d" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "demo --devices 0,0 exited"; }
grep -q "^evoke demo: 2 devices, prompts spread over them" "$tmp/out" || { cat "$tmp/out"; fail "demo --devices 0,0: not spread"; }
[ "$(dstrip "$tmp/demo-d/report.json")" = "$(dstrip "$tmp/demo1/report.json")" ] || fail "demo --devices 0,0: report.json differs"
for f in grid.png curve.png accuracy.png; do cmp -s "$tmp/demo-d/$f" "$tmp/demo1/$f" || fail "demo --devices 0,0: $f differs"; done
if [ $mpi = 1 ]; then
  for n in 2; do # 2 + 1 prompts
    mpirun_n $n "$evoke" "${demo[@]}" --out "$tmp/demo$n" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "demo -np $n exited"; }
    [ "$(dstrip "$tmp/demo$n/report.json")" = "$(dstrip "$tmp/demo1/report.json")" ] || fail "demo -np $n: report.json differs"
    cmp -s "$tmp/demo$n/grid.png" "$tmp/demo1/grid.png" || fail "demo -np $n: grid.png differs"
  done
fi

# ---- faults: one message naming the rank, non-zero exit, nothing written, no hang ---------------
expect_fault() { # what rc-pattern message-pattern command...
  local what=$1 rcpat=$2 msgpat=$3; shift 3
  rm -f "$tmp/f.json"
  local t0=$SECONDS
  "$@" --report "$tmp/f.json" >"$tmp/fout" 2>&1
  local rc=$? took=$((SECONDS - t0))
  [[ $rc =~ ^($rcpat)$ ]] || { cat "$tmp/fout"; fail "$what: exit status $rc"; }
  [ -e "$tmp/f.json" ] && fail "$what: a report was written"
  ls "$tmp" | grep -q '^f\.json\.' && fail "$what: a temporary report was left"
  # a hang would last EVOKE_SHARD_TIMEOUT (600 s); a prompt end, about one run (slow under ASan and load)
  [ $took -lt $((60 + 4 * base)) ] || fail "$what: took $took s (one device's whole run: $base s)"
  grep -q "$msgpat" "$tmp/fout" || { cat "$tmp/fout"; fail "$what: no message '$msgpat'"; }
  [ "$(grep -c '^evoke' "$tmp/fout")" = 1 ] || { cat "$tmp/fout"; fail "$what: not exactly one evoke message"; }
}
run=("$evoke" "${toy[@]}" --method evo --nfe 700)
EVOKE_FAULT_RANK=1 expect_fault "threads, rank 1 fails" 1 '^evoke: rank 1: injected fault' "${run[@]}" --devices 0,0,0
if [ $mpi = 1 ]; then
  EVOKE_FAULT_RANK=1 expect_fault "-np 2, rank 1 fails" 1 '^evoke: rank 1: injected fault' mpirun_n 2 "${run[@]}"
  EVOKE_FAULT_RANK=0 expect_fault "-np 3, rank 0 fails" 1 '^evoke: rank 0: injected fault' mpirun_n 3 "${run[@]}"
  EVOKE_FAULT_RANK=1 EVOKE_SHARD_TIMEOUT=4 EVOKE_FAULT_KIND=hang expect_fault "-np 2, rank 1 hangs" 1 \
    '^evoke: rank 0: timed out after 4 s waiting for the other ranks' mpirun_n 2 "${run[@]}"
  # a rank killed outright (no chance to say anything): its watcher process names it, exit 1
  EVOKE_FAULT_RANK=1 EVOKE_FAULT_KIND=kill EVOKE_FAULT_AT=7 expect_fault "-np 3, rank 1 killed" 1 \
    '^evoke: rank 1 of 3 ended (killed by signal 9, Killed) after evo generation 1; nothing written$' mpirun_n 3 "${run[@]}"
  EVOKE_FAULT_RANK=0 EVOKE_FAULT_KIND=segv expect_fault "-np 2, rank 0 crashes" 1 \
    '^evoke: rank 0 of 2 ended (killed by signal 11, Segmentation fault) before its first generation ended; nothing written$' \
    mpirun_n 2 "${run[@]}"
fi
echo "cli_mpi: ok"
