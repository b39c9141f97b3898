#!/usr/bin/env bash
# cli_sd3.sh — an SD3 pipeline folder through `evoke generate` with no family-specific options:
# the tiny MMDiT-X pipeline of tests/data/nets/sd3 with the diffusers pipeline's initial latents,
# 3 Euler steps at guidance 4, reproduces StableDiffusion3Pipeline's output image (HWC in [0, 1],
# tools/ref/fixtures_sd3.py) within 1e-3 relative, from the folder and from the single-file
# checkpoint with the folder as --config, and with a quantised GGUF transformer
# (--diffusion-model sd3_gguf.gguf: ComfyUI-GGUF's layout, Q8_0 / Q4_K matrices kept quantised on
# the device) against the same pipeline on its dequantised weights; the default (stochastic flow) sampler and a
# best-of-N search run; an image size the transformer cannot take is exit code 2, no output.
set -u
evoke=$1
src=${EVOKE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
nets=$src/tests/data/nets
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$evoke" generate --model "$nets/sd3" --prompt "a red circle left of a blue square" --negative-prompt "" -W 24 -H 16 \
    --steps 3 --cfg 4 --sampler euler --latents "$nets/sd3_latents.npy" --output-raw "$tmp/out.npy" \
    || fail "generate exited $?"
/usr/bin/python3 - "$tmp/out.npy" "$nets/sd3_image.npy" <<'PY' || fail "the image differs from diffusers' pipeline"
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == b.shape == (16, 24, 3), (a.shape, b.shape)
e = float(np.linalg.norm(a - b) / np.linalg.norm(b))
print("sd3 CLI image vs diffusers: rel L2 %.2e" % e)
assert e < 1e-3, e
PY

# the same transformer as a single-file checkpoint (original MMDiT names) with the folder as --config
"$evoke" generate --model "$nets/sd3_single.safetensors" --config "$nets/sd3" --prompt "a red circle left of a blue square" \
    --negative-prompt "" -W 24 -H 16 --steps 3 --cfg 4 --sampler euler --latents "$nets/sd3_latents.npy" \
    --output-raw "$tmp/single.npy" || fail "single-file generate exited $?"
/usr/bin/python3 - "$tmp/single.npy" "$nets/sd3_image.npy" <<'PY' || fail "the single-file image differs from diffusers' pipeline"
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
e = float(np.linalg.norm(a - b) / np.linalg.norm(b))
print("sd3 single-file CLI image vs diffusers: rel L2 %.2e" % e)
assert e < 1e-3, e
PY

# a quantised GGUF transformer (tools/ref/fixtures_sd3_gguf.py) with the rest of the pipeline from
# a folder whose transformer/ holds only its config
mkdir -p "$tmp/sd3q/transformer"
for c in model_index.json scheduler text_encoder text_encoder_2 tokenizer tokenizer_2 vae; do ln -s "$nets/sd3/$c" "$tmp/sd3q/$c"; done
cp "$nets/sd3_gguf.json" "$tmp/sd3q/transformer/config.json"
"$evoke" generate --model "$tmp/sd3q" --diffusion-model "$nets/sd3_gguf.gguf" --prompt "a red circle left of a blue square" \
    --negative-prompt "" -W 24 -H 16 --steps 3 --cfg 4 --sampler euler --latents "$nets/sd3_latents.npy" \
    --output-raw "$tmp/gguf.npy" || fail "GGUF generate exited $?"
/usr/bin/python3 - "$tmp/gguf.npy" "$nets/sd3_gguf_image.npy" <<'PY' || fail "the GGUF image differs from diffusers' pipeline on the dequantised weights"
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == b.shape == (16, 24, 3), (a.shape, b.shape)
e = float(np.linalg.norm(a - b) / np.linalg.norm(b))
print("sd3 GGUF (Q8_0/Q4_K) CLI image vs diffusers on the dequantised weights: rel L2 %.2e" % e)
assert e < 1e-3, e
PY
# the same file without its folder's transformer config fails by name, writing nothing
"$evoke" generate --model "$nets/sd3" --diffusion-model "$nets/sd3_gguf.gguf" --prompt "x" -W 24 -H 16 --steps 2 \
    --output-raw "$tmp/mismatch.npy" > "$tmp/mismatch.log" 2>&1 && fail "a GGUF of other widths than the config loaded"
grep -q "sd3_gguf.gguf (--diffusion-model)" "$tmp/mismatch.log" || { cat "$tmp/mismatch.log"; fail "no message naming the file"; }
[ ! -e "$tmp/mismatch.npy" ] || fail "a failed run wrote its output"

# the family's default sampler (flow-sde) under a best-of-N search with guidance, PNG out
"$evoke" generate --model "$nets/sd3" --prompt "a blue square" -W 16 -H 16 --steps 2 --cfg 3 --method bon --n 2 \
    --reward "$src/assets/tiny-clip-reward.json" -o "$tmp/bon.png" > "$tmp/bon.log" 2>&1 || { cat "$tmp/bon.log"; fail "best-of-N exited $?"; }
[ -s "$tmp/bon.png" ] || fail "best-of-N wrote no image"

# 22 px is not a multiple of VAE factor x patch (4): usage error, nothing written
"$evoke" generate --model "$nets/sd3" --prompt "x" -W 22 -H 16 --steps 2 --output-raw "$tmp/bad.npy" > "$tmp/bad.log" 2>&1
rc=$?
[ $rc -eq 2 ] || { cat "$tmp/bad.log"; fail "a bad size exited $rc, expected 2"; }
grep -q "multiples of 4" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "no message naming the size rule"; }
[ ! -e "$tmp/bad.npy" ] || fail "a failed run wrote its output"
echo "cli_sd3: ok"
