#!/usr/bin/env bash
# cli_modelscope.sh — `evoke generate` on the tiny ModelScope text-to-video folder of
# tests/data/nets/modelscope reproduces the video diffusers' TextToVideoSDPipeline made from the
# same initial latents (DDIM, η = 0, guidance 7.5, 3 steps, 4 frames of 16×16; --output-raw is
# f32 [F, H, W, 3] in [0, 1]); --diffusion-model swaps the UNet's weights (T2V-Turbo's student:
# one call per LCM step, and T2V-Turbo's own MS pipeline's video from its latents and noise), and
# with T2V-Turbo v1's LoRA list merged over it (--lora; refused over the teacher's UNet); a
# UNet with a missing or mis-shaped tensor is exit 2 with one line
# naming the tensor and the file, and nothing written.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
model=$src/tests/data/nets/modelscope
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3
args=(--prompt "a red circle on the left" --negative-prompt "" -W 16 -H 16 --frames 4 --steps 3 --sampler ddim --eta 0 --cfg 7.5
      --latents "$model/latents.npy")

out=$("$evoke" generate --model "$model" "${args[@]}" --output-raw "$tmp/out/video.npy") || fail "generate exited $?"
grep -q "^sample: 1 sample, NFE 6" <<<"$out" || fail "generate: $out"
$py - "$tmp/out/video.npy" "$model/video.npy" <<'PY' || fail "the video differs from diffusers'"
import sys
import numpy as np
got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
assert got.dtype == np.float32 and got.shape == want.shape == (4, 16, 16, 3), (got.dtype, got.shape, want.shape)
err = float(np.linalg.norm(got - want) / np.linalg.norm(want))
print("cli_modelscope: video rel L2 %.3g, max abs %.3g" % (err, float(np.abs(got - want).max())))
assert err <= 1e-3, err
PY

# the denoiser's weights from another file (the same UNet here: the same video)
"$evoke" generate --model "$model" "${args[@]}" --diffusion-model "$model/unet/diffusion_pytorch_model.safetensors" \
  --output-raw "$tmp/dm.npy" >/dev/null || fail "--diffusion-model exited $?"
cmp -s "$tmp/dm.npy" "$tmp/out/video.npy" || fail "--diffusion-model with the folder's own UNet changed the video"
# T2V-Turbo's student (time_cond_proj in its weights): guidance through its w-embedding, one call
# per LCM step
out=$("$evoke" generate --model "$model" --prompt "a red circle" -W 16 -H 16 --frames 4 --steps 3 --sampler lcm --cfg 7.5 \
  --diffusion-model "$model/unet_lcm/diffusion_pytorch_model.safetensors" --output-raw "$tmp/lcm.npy") || fail "student exited $?"
grep -q "^sample: 1 sample, NFE 3" <<<"$out" || fail "student: $out"
[ -s "$tmp/lcm.npy" ] || fail "student: no video"
# ... and against T2V-Turbo's own MS pipeline (fixtures_modelscope_lcm.py): 4 steps from 50 origin
# steps, its initial latents and the noise its scheduler injected
"$evoke" generate --model "$model" --prompt "a red circle on the left" -W 16 -H 16 --frames 4 --steps 4 --sampler lcm \
  --lcm-origin-steps 50 --cfg 7.5 --diffusion-model "$model/unet_lcm/diffusion_pytorch_model.safetensors" \
  --latents "$model/lcm_latents.npy" --noise "$model/lcm_noise.npy" --output-raw "$tmp/lcm4.npy" >/dev/null || fail "student LCM exited $?"
$py - "$tmp/lcm4.npy" "$model/lcm_video.npy" <<'PY' || fail "the student's LCM video differs from T2V-Turbo's MS pipeline"
import sys
import numpy as np
got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
err = float(np.linalg.norm(got - want) / np.linalg.norm(want))
print("cli_modelscope: T2V-Turbo MS LCM video rel L2 %.3g" % err)
assert got.shape == want.shape and err <= 1e-3, (got.shape, err)
PY

# T2V-Turbo (MS) v1's LoRA list over the student's UNet: runs, and moves the video; the list over
# the teacher's own UNet (no time_embedding.cond_proj) is exit 2 with the reason, nothing written
"$evoke" generate --model "$model" --prompt "a red circle on the left" -W 16 -H 16 --frames 4 --steps 4 --sampler lcm \
  --lcm-origin-steps 50 --cfg 7.5 --diffusion-model "$model/unet_lcm/diffusion_pytorch_model.safetensors" --lora "$model/unet_lora.pt" \
  --latents "$model/lcm_latents.npy" --noise "$model/lcm_noise.npy" --output-raw "$tmp/lora.npy" >/dev/null || fail "--lora exited $?"
$py - "$tmp/lora.npy" "$tmp/lcm4.npy" <<'PY' || fail "the LoRA list did not change the student's video"
import sys
import numpy as np
got, plain = np.load(sys.argv[1]), np.load(sys.argv[2])
d = float(np.linalg.norm(got - plain) / np.linalg.norm(plain))
print("cli_modelscope: the LoRA list moves the video by %.3g" % d)
assert got.shape == plain.shape and np.isfinite(got).all() and d > 1e-3, d
PY
err=$("$evoke" generate --model "$model" --prompt "a red circle" -W 16 -H 16 --frames 4 --steps 4 \
  --diffusion-model "$model/unet_lora.pt" --output-raw "$tmp/bad_lora.npy" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "the list over the teacher: exit $rc ($err)"
grep -q "time_embedding.cond_proj with random weights" <<<"$err" || fail "the list over the teacher: $err"
[ ! -e "$tmp/bad_lora.npy" ] || fail "the list over the teacher: an output was written"

# damaged copies of the folder: one UNet tensor missing, one mis-shaped
for how in missing shape; do
  d=$tmp/$how
  mkdir -p "$d"
  for c in model_index.json text_encoder tokenizer vae scheduler; do cp -r "$model/$c" "$d/"; done
  mkdir "$d/unet" && cp "$model/unet/config.json" "$d/unet/"
  $py - "$model/unet/diffusion_pytorch_model.safetensors" "$d/unet/diffusion_pytorch_model.safetensors" $how <<PY || fail "damaging the UNet"
import sys
sys.path.insert(0, "$src/tools/ref")
from safetensors_io import load_file, save_file
t = load_file(sys.argv[1])
name = "down_blocks.0.temp_attentions.0.proj_in.weight"
if sys.argv[3] == "missing":
    del t[name]
else:
    t[name] = t[name][:, :-1].copy()
save_file(t, sys.argv[2])
PY
  err=$("$evoke" generate --model "$d" "${args[@]}" --output-raw "$tmp/$how.npy" 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "$how tensor: exit $rc ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "$how tensor: more than one line: $err"
  grep -q "down_blocks.0.temp_attentions.0.proj_in.weight" <<<"$err" && grep -q "unet/diffusion_pytorch_model.safetensors" <<<"$err" \
    || fail "$how tensor: the message does not name the tensor and the file: $err"
  [ ! -e "$tmp/$how.npy" ] || fail "$how tensor: an output was written"
done
echo "cli_modelscope: ok"
