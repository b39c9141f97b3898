#!/usr/bin/env bash
# cli_vc2.sh — `evoke generate` on the tiny VideoCrafter2 fixture (tests/data/nets/vc2, made by
# tools/ref/fixtures_vc2.py from T2V-Turbo's lvdm code): lvdm's DDIM with classifier-free guidance
# from the reference's initial latents reproduces the reference video (plain, and with
# VideoCrafter2's use_scale x̂0 rescaling); the T2V-Turbo student
# (--diffusion-model) samples with one model call per LCM step (NFE = steps); T2V-Turbo-v2's motion
# guidance (--motion-guidance), w (also one per sample: --cfg W1,W2) and the LoRA list (--lora)
# against T2VTurboVC2Pipeline (tools/ref/fixtures_vc2_v2.py); bad input is exit 2, one message,
# nothing written.
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

# T2V-Turbo-v2 motion guidance and w through the embedding, against T2VTurboVC2Pipeline (fixtures_vc2_v2.py:
# a student whose output depends on w and the motion scale), with the pipeline's latents and noise
close() {  # close GOT WANT OTHER WHAT: GOT matches WANT to 1e-3 and not OTHER
  $py - "$@" <<'PY'
import sys
import numpy as np
a, b, o = (np.load(p) for p in sys.argv[1:4])
e, eo = np.linalg.norm(a - b) / np.linalg.norm(b), np.linalg.norm(a - o) / np.linalg.norm(o)
print(f"{sys.argv[4]}: rel L2 {e:.3g} (vs the other reference {eo:.3g})")
assert a.shape == b.shape and e <= 1e-3 and eo > 1e-2, (a.shape, e, eo)
PY
}
v2=(--model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny_v2.yaml" --diffusion-model "$d/vc2_tiny_v2_unet.safetensors" --prompt "$prompt"
  -W 16 -H 16 --frames 4 --fps 16 --steps 4 --sampler lcm --lcm-origin-steps 50)
"$evoke" generate "${v2[@]}" --cfg 7.5 --motion-guidance 0.1 --motion-percentage 0.3 --latents "$d/mg_latents.npy" \
  --noise "$d/mg_noise.npy" --output-raw "$tmp/mg.npy" >"$tmp/out.txt" 2>&1 || fail "motion run exited $?: $(cat "$tmp/out.txt")"
grep -q "NFE 4," "$tmp/out.txt" || fail "motion guidance: 4 steps should be 4 NFE: $(cat "$tmp/out.txt")"
close "$tmp/mg.npy" "$d/mg_video.npy" "$d/w75_video.npy" "motion guidance 0.1 (30%)" || fail "motion-guided video differs"
"$evoke" generate "${v2[@]}" --cfg 3 --latents "$d/mg_latents.npy" --noise "$d/mg_noise.npy" --output-raw "$tmp/w3.npy" \
  >"$tmp/out.txt" 2>&1 || fail "w 3 run exited $?: $(cat "$tmp/out.txt")"
close "$tmp/w3.npy" "$d/w3_video.npy" "$d/w75_video.npy" "w 3" || fail "w 3 video differs"
# a w per sample: two trajectories from the same latents and noise, sample 0 (the one written) with its own w
$py - "$d/mg_latents.npy" "$d/mg_noise.npy" "$tmp/l2.npy" "$tmp/n2.npy" <<'PY'
import sys
import numpy as np
lat, noise = np.load(sys.argv[1]), np.load(sys.argv[2])
np.save(sys.argv[3], np.concatenate([lat, lat]))
np.save(sys.argv[4], np.concatenate([noise, noise], axis=1))
PY
for ws in "3,7.5 w3" "7.5,3 w75"; do
  set -- $ws
  "$evoke" generate "${v2[@]}" --n 2 --cfg "$1" --latents "$tmp/l2.npy" --noise "$tmp/n2.npy" --output-raw "$tmp/items.npy" \
    >"$tmp/out.txt" 2>&1 || fail "--cfg $1 run exited $?: $(cat "$tmp/out.txt")"
  other=w75; [ "$2" = w75 ] && other=w3
  close "$tmp/items.npy" "$d/$2_video.npy" "$d/${other}_video.npy" "--cfg $1, sample 0" || fail "--cfg $1: sample 0 differs"
done
# T2V-Turbo v1's LoRA list merged at load over a base with time_cond_proj: runs, and moves the video
"$evoke" generate "${v2[@]}" --lora "$d/vc2_tiny_lora.pt" --cfg 7.5 --latents "$d/mg_latents.npy" --noise "$d/mg_noise.npy" \
  --output-raw "$tmp/lora.npy" >"$tmp/out.txt" 2>&1 || fail "--lora run exited $?: $(cat "$tmp/out.txt")"
$py -c "import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); assert np.linalg.norm(a - b) / np.linalg.norm(b) > 1e-2" \
  "$tmp/lora.npy" "$d/w75_video.npy" || fail "--lora left the video unchanged"

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
bad "motion guidance without motion_cond_proj" "motion_cond_proj" --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" \
  --diffusion-model "$d/vc2_tiny_turbo_unet.pt" --sampler lcm --steps 4 --motion-guidance 0.1
bad "motion percentage alone" "--motion-guidance" --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" --motion-percentage 0.5
bad "a w per item with CFG" "guidance-embedded" --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" --steps 2 --n 2 --cfg 5,3
bad "a w per item with evo" "sample and bon" "${v2[@]}" --cfg 7.5,3 --method evo --reward "$src/assets/tiny-clip-reward.json"
bad "--lora on a base without time_cond_proj" "random weights" --model "$d/vc2_tiny.ckpt" --config "$d/vc2_tiny.yaml" \
  --lora "$d/vc2_tiny_lora.pt"
head -c 3000 "$d/vc2_tiny.ckpt" >"$tmp/trunc.ckpt"
bad "truncated checkpoint" "not a model evoke knows" --model "$tmp/trunc.ckpt" --config "$d/vc2_tiny.yaml"
printf 'model:\n  params:\n\tunet_config: 1\n' >"$tmp/tab.yaml"
bad "tab in yaml" "tab.yaml:3" --model "$d/vc2_tiny.ckpt" --config "$tmp/tab.yaml"
echo "cli_vc2: ok"
