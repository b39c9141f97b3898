#!/usr/bin/env bash
# cli_vc2.sh — `evoke generate` on the tiny VideoCrafter2 fixture (tests/data/nets/vc2, made by
# tools/ref/fixtures_vc2.py from T2V-Turbo's lvdm code): lvdm's DDIM with classifier-free guidance
# from the reference's initial latents reproduces the reference video (plain, and with
# VideoCrafter2's use_scale x̂0 rescaling); the T2V-Turbo student
# (--diffusion-model) samples with one model call per LCM step (NFE = steps); bad input is exit 2,
# one message, nothing written.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
d=$src/tests/data/nets/vc2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3
prompt="a red fox running through snow, cinematic"

"$evoke" generate --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" --prompt "$prompt" --negative-prompt "" -W 16 -H 16 \
  --frames 4 --steps 4 --sampler ddim --eta 0 --cfg 5 --latents "$d/ddim_latents.npy" --output-raw "$tmp/ddim.npy" \
  >"$tmp/out.txt" 2>&1 || fail "ddim run exited $?: $(cat "$tmp/out.txt")"
grep -q "NFE 8," "$tmp/out.txt" || fail "ddim with guidance: 4 steps should be 8 NFE: $(cat "$tmp/out.txt")"
$py - "$tmp/ddim.npy" "$d/ddim_video.npy" <<'PY' || fail "ddim video differs from the reference"
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == b.shape == (4, 16, 16, 3), (a.shape, b.shape)
e = np.linalg.norm(a - b) / np.linalg.norm(b)
print(f"ddim video rel L2 {e:.3g}")
assert e <= 1e-3, e
PY

# VideoCrafter2's use_scale (scale_b 0.7): lvdm's DDIM rescales x̂0
"$evoke" generate --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny_scale.yaml" --prompt "$prompt" --negative-prompt "" -W 16 -H 16 \
  --frames 4 --steps 4 --sampler ddim --eta 0 --cfg 5 --latents "$d/ddim_latents.npy" --output-raw "$tmp/ddim_scale.npy" \
  >"$tmp/out.txt" 2>&1 || fail "ddim use_scale run exited $?: $(cat "$tmp/out.txt")"
$py - "$tmp/ddim_scale.npy" "$d/ddim_scale_video.npy" "$d/ddim_video.npy" <<'PY' || fail "ddim use_scale video differs from the reference"
import sys
import numpy as np
a, b, plain = np.load(sys.argv[1]), np.load(sys.argv[2]), np.load(sys.argv[3])
e = np.linalg.norm(a - b) / np.linalg.norm(b)
print(f"ddim use_scale video rel L2 {e:.3g} (vs plain DDIM's video: {np.linalg.norm(plain - b) / np.linalg.norm(b):.3g})")
assert e <= 1e-3, e
assert np.linalg.norm(plain - b) / np.linalg.norm(b) > 1e-2  # the rescaling matters
PY

# the student: guidance through its w-embedding, one call per step
"$evoke" generate --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" --diffusion-model "$d/vc2_tiny_turbo_unet.pt" \
  --prompt "$prompt" -W 16 -H 16 --frames 4 --steps 4 --sampler lcm --cfg 7.5 --output-raw "$tmp/lcm.npy" >"$tmp/out.txt" 2>&1 ||
  fail "lcm run exited $?: $(cat "$tmp/out.txt")"
grep -q "NFE 4," "$tmp/out.txt" || fail "guidance-embedded LCM: 4 steps should be 4 NFE: $(cat "$tmp/out.txt")"
$py -c "import numpy as np, sys; a = np.load(sys.argv[1]); assert a.shape == (4, 16, 16, 3) and np.isfinite(a).all() and a.std() > 0.01" "$tmp/lcm.npy" ||
  fail "lcm video"
# a budget of 8 model calls at 4 steps is two student samples (two with guidance by CFG would need 16)
"$evoke" generate --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" --diffusion-model "$d/vc2_tiny_turbo_unet.pt" \
  --prompt "$prompt" -W 16 -H 16 --frames 4 --steps 4 --nfe 8 --cfg 7.5 --output-raw "$tmp/lcm2.npy" >"$tmp/out.txt" 2>&1 ||
  fail "lcm budget run exited $?: $(cat "$tmp/out.txt")"
grep -q "2 samples, NFE 8," "$tmp/out.txt" || fail "guidance-embedded budget: $(cat "$tmp/out.txt")"

# bad input: exit 2, one line, nothing written
bad() {
  local what=$1 want=$2; shift 2
  "$evoke" generate "$@" --prompt p --output-raw "$tmp/bad.npy" >"$tmp/bad.out" 2>"$tmp/bad.err"
  rc=$?
  [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2 ($(cat "$tmp/bad.err"))"
  grep -q -- "$want" "$tmp/bad.err" || fail "$what: message lacks '$want': $(cat "$tmp/bad.err")"
  [ ! -e "$tmp/bad.npy" ] || fail "$what: wrote output"
}
bad "non-UNet diffusion model" "time_embed.0.weight' is missing" --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" \
  --diffusion-model "$d/vc2_tiny_ref.safetensors"
bad "missing diffusion model" "--diffusion-model" --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" --diffusion-model "$tmp/none.pt"
bad "odd size" "multiples of 4" --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" -W 18 -H 16
$py -c "import torch, sys; torch.save([torch.zeros(4, 2), torch.zeros(2, 3)], sys.argv[1])" "$tmp/unet_lora.pt" 2>/dev/null &&
  bad "LoRA list over a base without time_cond_proj" "merged UNet" --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" \
    --diffusion-model "$tmp/unet_lora.pt"
head -c 3000 "$d/vc2_tiny.ckpt" >"$tmp/trunc.ckpt"
bad "truncated checkpoint" "not a model evoke knows" --model "$tmp/trunc.ckpt" --config "$d/vc2_tiny.yaml"
printf 'model:\n  params:\n\tunet_config: 1\n' >"$tmp/tab.yaml"
bad "tab in yaml" "tab.yaml:3" --model "$d/vc2_tiny.ckpt" --config "$tmp/tab.yaml"
echo "cli_vc2: ok"
