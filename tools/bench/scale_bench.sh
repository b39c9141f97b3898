#!/usr/bin/env bash
# scale_bench.sh — one search at 1 and 2 MPI ranks (bench/SCALE.md): the search's wall time from
# its report, the whole process's, and rank 0's communication (collectives, bytes sent and
# received, host seconds inside them) from `--progress`; RUNS runs each, printed as a table with
# median, min and max. Every run's report must equal the 1-rank run's (timings aside).
#   tools/bench/scale_bench.sh [toy|sd] [RUNS]     (default: sd 5)
#   toy: the 2-D mixture, EvoSearch at 5,000 NFE (communication-bound); sd: the shipped
#   text-to-image model, EvoSearch at 320 NFE, 8 steps, guidance 2 (the demo's search).
set -euo pipefail
cd "$(dirname "$0")/../.."
which=${1:-sd}
runs=${2:-5}
evoke=${EVOKE:-build/evoke}
"$evoke" --version | grep -q MPI || { echo "scale_bench.sh: $evoke was built without MPI" >&2; exit 2; }
case "$which" in
  toy) args=(generate --model assets/gmm/toy2d.json --reward assets/gmm/toy2d_reward.json --method evo --steps 50 --nfe 5000 --seed 3) ;;
  sd) args=(generate --model assets/tiny-sd --reward assets/tiny-clip-reward.json --prompt "a red circle on the left" --method evo
            --steps 8 --nfe 320 --cfg 2 --seed 0) ;;
  *) echo "usage: scale_bench.sh [toy|sd] [RUNS]" >&2; exit 2 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
strip() { /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
for k in ("wall_seconds","gpu_wait_seconds","pipeline_create_seconds","submissions","dispatches"): r.pop(k, None)
r["parameters"].pop("chunk", None); print(json.dumps(r, sort_keys=True))' "$1"; }
echo "ranks,run,search_s,process_s,collectives,bytes_sent,bytes_received,collective_s" >"$tmp/rows.csv"
for i in $(seq 1 "$runs"); do
  for n in 1 2; do # interleaved, so that the machine's load falls on both alike
    t0=$(date +%s.%N)
    mpirun --oversubscribe --allow-run-as-root -np $n "$evoke" "${args[@]}" --progress --report "$tmp/r$n.json" >"$tmp/out" 2>&1 \
      || { cat "$tmp/out"; exit 1; }
    t1=$(date +%s.%N)
    [ -f "$tmp/ref.json" ] || cp "$tmp/r$n.json" "$tmp/ref.json"
    [ "$(strip "$tmp/r$n.json")" = "$(strip "$tmp/ref.json")" ] || { echo "scale_bench.sh: the $n-rank report differs" >&2; exit 1; }
    /usr/bin/python3 - "$tmp/r$n.json" "$tmp/out" $n $i "$t0" "$t1" >>"$tmp/rows.csv" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1])); out = open(sys.argv[2]).read()
m = re.search(r"rank 0 of \d+ \(\w+\): (\d+) collectives, (\d+) bytes sent, (\d+) received, ([\d.]+) s", out)
c, s, rcv, cs = m.groups() if m else (0, 0, 0, 0)
print(f"{sys.argv[3]},{sys.argv[4]},{r['wall_seconds']:.3f},{float(sys.argv[6]) - float(sys.argv[5]):.3f},{c},{s},{rcv},{cs}")
PY
  done
done
/usr/bin/python3 - "$tmp/rows.csv" "$tmp/ref.json" <<'PY'
import csv, json, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]))); ref = json.load(open(sys.argv[2]))
print(f"search: {ref['method']}, NFE {ref['nfe']}, {len(ref['generations'])} generations, populations "
      f"{[g['population'] for g in ref['generations']]}")
print("| ranks | runs | search s: median (min–max) | process s: median (min–max) | collectives | bytes sent / received (rank 0) | s in collectives: median (min–max) |")
print("|---:|---:|---|---|---:|---|---|")
for n in ("1", "2"):
    rs = [r for r in rows if r["ranks"] == n]
    f = lambda k: [float(r[k]) for r in rs]
    m = lambda k: f"{st.median(f(k)):.3f} ({min(f(k)):.3f}–{max(f(k)):.3f})"
    print(f"| {n} | {len(rs)} | {m('search_s')} | {m('process_s')} | {rs[0]['collectives']} | {rs[0]['bytes_sent']} / {rs[0]['bytes_received']} | {m('collective_s')} |")
PY
