#!/usr/bin/env python3
"""fixtures_unet_gguf.py — writes tests/data/nets/unet_gguf.gguf and unet_gguf.json: a tiny
Stable-Diffusion-1.x-structured UNet stored the way stable-diffusion.cpp's converter stores one
(original "model.diffusion_model." names; matrices quantised where their rows hold whole blocks,
everything else kept as it was), with what tools/ref/unet.py computes from the dequantised weights.

    /usr/bin/python3 tools/ref/fixtures_unet_gguf.py GGUF_PY_DIR [OUT_DIR]

GGUF_PY_DIR holds llama.cpp's gguf-py `gguf` package (used here: llama.cpp commit
c392e5094deaf2d1a7c18683214f007fad3fe42b), whose `gguf.quants.dequantize` turns the blocks written
here back into the floats the PyTorch reference runs with, so the reference does not depend on
evoke's own dequantisation. The blocks come from the small quantisers below (Q8_0 as ggml rounds
it; Q4_K from per-sub-block min/max, not ggml's search, which only changes how close the blocks
come to the random weights, not what they decode to). The file is written by fixtures_gguf.py's
writer.

The network (unet_gguf.json) fits the shipped assets/tiny-sd pipeline's text encoder and pixel
space (3 channels, 64-wide text states) so it can stand in for that pipeline's UNet
(--diffusion-model), and is shaped so both quantised kinds occur: one CrossAttnDown / mid /
CrossAttnUp level of 32 channels, time_embedding_dim 256 (time_embedding.linear_2 and every
resnet's time_emb_proj have 256-element rows: Q4_K), every other matrix 32, 64 or 128 wide (Q8_0),
3x3 and 1x1 convolution kernels F16 (rows of 3 or 1 elements hold no blocks; stable-diffusion.cpp
keeps such tensors as they are), biases and norms F32.

Fixture tensors (F32, outside the UNet's names): fixture.sample [2,3,8,8], fixture.timestep [2]
(999, 301), fixture.encoder_hidden_states [2,8,64], fixture.out [2,3,8,8]. Deterministic (fixed
seeds); prints the tensor types and the bytes of the weights at f32, f16 and as stored.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures_gguf import gguf, STR, TYPES  # noqa: E402
from make_fixtures import randomize  # noqa: E402
from unet import UNet2DConditionModel  # noqa: E402

CONFIG = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.21.4",
    "act_fn": "silu",
    "attention_head_dim": 4,
    "block_out_channels": [32],
    "center_input_sample": False,
    "cross_attention_dim": 64,
    "down_block_types": ["CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 3,
    "layers_per_block": 1,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 8,
    "out_channels": 3,
    "sample_size": 8,
    "time_embedding_dim": 256,
    "up_block_types": ["CrossAttnUpBlock2D"],
    "upcast_attention": False,
    "use_linear_projection": True,
}
SEQ = 8
P = "model.diffusion_model."
RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
          "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def original_name(name, layers):
    """diffusers UNet name -> the original (CompVis) one, for configs without down/upsamplers."""
    parts = name.split(".")
    fixed = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
             "time_embedding.linear_2": "time_embed.2", "conv_norm_out": "out.0", "conv_out": "out.2"}
    for k, v in fixed.items():
        if name.startswith(k + "."):
            return P + v + name[len(k):]

    def resnet(rest):
        return RESNET[rest[0]] + "." + ".".join(rest[1:])

    if parts[0] == "down_blocks":
        i, kind, j, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
        blk = 1 + i * (layers + 1) + j
        return P + (f"input_blocks.{blk}.0." + resnet(rest) if kind == "resnets" else f"input_blocks.{blk}.1." + ".".join(rest))
    if parts[0] == "mid_block":
        kind, j, rest = parts[1], int(parts[2]), parts[3:]
        return P + (f"middle_block.{2 * j}." + resnet(rest) if kind == "resnets" else "middle_block.1." + ".".join(rest))
    if parts[0] == "up_blocks":
        i, kind, j, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
        blk = i * (layers + 2) + j
        return P + (f"output_blocks.{blk}.0." + resnet(rest) if kind == "resnets" else f"output_blocks.{blk}.1." + ".".join(rest))
    raise SystemExit(f"no rule for {name}")


def f16_bytes(x):
    return np.asarray(x, dtype=np.float16).tobytes()


def quant_q8_0(w):
    """ggml's quantize_row_q8_0: d = max|x| / 127, q = round(x / d)."""
    b = w.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = amax / 127
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d > 0, np.round(b / d), 0).astype(np.int8)
    out = np.zeros((b.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quant_q4_k(w):
    """Q4_K blocks (256 values: 8 sub-blocks of 32 with 6-bit scales and mins, 4-bit values)."""
    sb = w.reshape(-1, 8, 32).astype(np.float32)
    lo = np.minimum(sb.min(axis=2), 0)                  # y = d*sc*q - dmin*m with m >= 0
    scale = (sb.max(axis=2) - lo) / 15
    mins = -lo
    d = np.maximum(scale.max(axis=1, keepdims=True), 1e-12) / 63
    dmin = np.maximum(mins.max(axis=1, keepdims=True), 1e-12) / 63
    d16, dmin16 = d.astype(np.float16), dmin.astype(np.float16)
    sc = np.clip(np.round(scale / d16.astype(np.float32)), 1, 63).astype(np.uint8)
    m = np.clip(np.round(mins / dmin16.astype(np.float32)), 0, 63).astype(np.uint8)
    eff_d = d16.astype(np.float32) * sc
    eff_m = dmin16.astype(np.float32) * m
    q = np.clip(np.round((sb + eff_m[:, :, None]) / eff_d[:, :, None]), 0, 15).astype(np.uint8)
    n = sb.shape[0]
    out = np.zeros((n, 144), dtype=np.uint8)
    out[:, 0:2] = d16.view(np.uint8).reshape(n, 2)
    out[:, 2:4] = dmin16.view(np.uint8).reshape(n, 2)
    scales = np.zeros((n, 12), dtype=np.uint8)          # ggml's get_scale_min_k4 packing
    for j in range(4):
        scales[:, j] = sc[:, j] | ((sc[:, j + 4] >> 4) << 6)
        scales[:, j + 4] = m[:, j] | ((m[:, j + 4] >> 4) << 6)
        scales[:, j + 8] = (sc[:, j + 4] & 15) | ((m[:, j + 4] & 15) << 4)
    out[:, 4:16] = scales
    for pair in range(4):                               # 32 bytes: sub-block 2p low nibbles, 2p+1 high
        out[:, 16 + 32 * pair:48 + 32 * pair] = q[:, 2 * pair] | (q[:, 2 * pair + 1] << 4)
    return out.tobytes()


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sys.path.insert(0, sys.argv[1])
    from gguf import quants
    from gguf.constants import GGMLQuantizationType as GT
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "nets")
    gen = torch.Generator().manual_seed(1313)
    model = randomize(UNet2DConditionModel(CONFIG), gen)
    layers = CONFIG["layers_per_block"]
    tensors, kinds = [], {}
    sd = {}
    nbytes = {"f32": 0, "f16": 0, "stored": 0}
    for name, t in model.state_dict().items():
        w = t.detach().numpy().astype(np.float32)
        matrix = w.ndim == 2 and name.endswith(".weight")
        if matrix and w.shape[1] % 256 == 0:
            kind, data = "Q4_K", quant_q4_k(w)
        elif matrix and w.shape[1] % 32 == 0:
            kind, data = "Q8_0", quant_q8_0(w)
        elif w.ndim >= 2:
            kind, data = "F16", f16_bytes(w)
        else:
            kind, data = "F32", w.tobytes()
        tid = TYPES[kind][0]
        raw = np.frombuffer(data, dtype=np.uint8)
        if kind in ("Q4_K", "Q8_0"):
            deq = quants.dequantize(raw.reshape(w.shape[0], -1), GT(tid)).astype(np.float32).reshape(w.shape)
        elif kind == "F16":
            deq = np.frombuffer(data, dtype=np.float16).astype(np.float32).reshape(w.shape)
        else:
            deq = w
        sd[name] = torch.from_numpy(deq.copy())
        kinds[kind] = kinds.get(kind, 0) + 1
        nbytes["f32"] += w.size * 4
        nbytes["f16"] += w.size * 2 if w.ndim >= 2 else w.size * 4  # evoke keeps biases and norms f32
        nbytes["stored"] += len(data)
        tensors.append((original_name(name, layers), tid, list(reversed(w.shape)), data))
    model.load_state_dict(sd)
    x = torch.randn((2, CONFIG["in_channels"], 8, 8), generator=gen)
    ts = torch.tensor([999.0, 301.0])
    ctx = torch.randn((2, SEQ, CONFIG["cross_attention_dim"]), generator=gen)
    with torch.no_grad():
        out = model(x, ts, ctx)
    for n, v in (("sample", x), ("timestep", ts), ("encoder_hidden_states", ctx), ("out", out)):
        a = v.numpy().astype(np.float32)
        tensors.append(("fixture." + n, 0, list(reversed(a.shape)), a.tobytes()))
    kvs = [("general.architecture", STR, "evoke-test"), ("general.name", STR, "tiny SD UNet, Q8_0 / Q4_K")]
    blob = gguf(kvs, tensors)
    with open(os.path.join(out_dir, "unet_gguf.gguf"), "wb") as f:
        f.write(blob)
    with open(os.path.join(out_dir, "unet_gguf.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    print(f"unet_gguf.gguf: {len(blob)} bytes; tensors {kinds}; out std {out.std().item():.3f}")
    print(f"weights: f32 {nbytes['f32']} B, f16 {nbytes['f16']} B, as stored {nbytes['stored']} B")


if __name__ == "__main__":
    main()
