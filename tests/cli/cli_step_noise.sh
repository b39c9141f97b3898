#!/usr/bin/env bash
# cli_step_noise.sh — `evoke generate --latents L.npy --noise N.npy` against the PyTorch reference
# of tests/data/step_noise (tools/ref/fixtures_step_noise.py: the shipped tiny-sd, 4 steps,
# guidance 2): DDIM η = 1 and LCM with the same initial and per-step noise give the reference's
# image (rel L2 ≤ 1e-3); the noise is read as [steps, N, ...] and as [steps, ...] for one sample;
# with two trajectories in chunks of one, the first takes the given noise and the second its own
# draws; without --noise the image differs (the noise is really used).
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
model=$src/assets/tiny-sd
data=$src/tests/data/step_noise
py=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$model/model_index.json" ] || { echo "cli_step_noise: $model absent, skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gen() { "$evoke" generate --model "$model" --prompt "a red circle on the left" --negative-prompt "" --steps 4 --cfg 2 \
        --latents "$data/latents.npy" "$@" >/dev/null || fail "generate $* exited $?"; }
# rel L2 of A against B: at most (le) or above (gt) a bound
cmp_npy() {
  $py - "$@" <<'PY'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
e = float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b))
print("  %s vs %s: rel L2 %.3g" % (sys.argv[1].split("/")[-1], sys.argv[2].split("/")[-1], e))
ok = e <= float(sys.argv[4]) if sys.argv[3] == "le" else e > float(sys.argv[4])
sys.exit(0 if a.shape == b.shape and ok else 1)
PY
}
gen --sampler ddim --eta 1 --noise "$data/noise.npy" --output-raw "$tmp/ddim.npy"
cmp_npy "$tmp/ddim.npy" "$data/ddim.npy" le 1e-3 || fail "DDIM eta 1 with given noise differs from the reference"
gen --sampler lcm --noise "$data/noise.npy" --output-raw "$tmp/lcm.npy"
cmp_npy "$tmp/lcm.npy" "$data/lcm.npy" le 1e-3 || fail "LCM with given noise differs from the reference"
# one sample's noise without the N axis
$py -c 'import sys, numpy as np; np.save(sys.argv[2], np.load(sys.argv[1])[:, 0])' "$data/noise.npy" "$tmp/noise4.npy"
gen --sampler lcm --noise "$tmp/noise4.npy" --output-raw "$tmp/lcm4.npy"
cmp_npy "$tmp/lcm4.npy" "$data/lcm.npy" le 1e-3 || fail "LCM with [steps, ...sample] noise differs from the reference"
# two trajectories, one per model call: the first has the given noise (and is the image written)
gen --sampler ddim --eta 1 --noise "$data/noise.npy" --n 2 --chunk 1 --output-raw "$tmp/ddim2.npy" --report "$tmp/r.json"
cmp_npy "$tmp/ddim2.npy" "$data/ddim.npy" le 1e-3 || fail "the first of two trajectories differs from the reference"
$py - "$tmp/r.json" <<'PY' || fail "report: not 16 NFE, or the second trajectory equals the first"
import json, sys, numpy as np
r = json.load(open(sys.argv[1]))
assert r["nfe"] == 16, r["nfe"]
p = np.array(r["population"], dtype=np.float64)
assert p.shape[0] == 2 and np.linalg.norm(p[1] - p[0]) > 0.1 * np.linalg.norm(p[0]), "the two samples coincide"
PY
# without the given noise, the sampler draws its own: a different image
gen --sampler ddim --eta 1 --output-raw "$tmp/drawn.npy"
cmp_npy "$tmp/drawn.npy" "$data/ddim.npy" gt 1e-2 || fail "the image without --noise equals the reference: the noise was not used"
echo "cli_step_noise: ok"
