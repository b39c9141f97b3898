#!/usr/bin/env python3
"""fixtures_vc2_gguf.py — writes tests/data/nets/vc2/vc2_tiny_unet_q8.gguf: the tiny VideoCrafter2
teacher UNet of vc2_tiny.ckpt (fixtures_vc2.py) stored the way ComfyUI-GGUF's converter stores a
UNet: the checkpoint's own names ("model.diffusion_model." prefix); matrices whose rows hold whole
32-element blocks Q8_0 (ggml's rounding, fixtures_unet_gguf.quant_q8_0); 3x3 convolution kernels
reshaped to rows of 256 and quantised Q8_0 (its "shape_fix"), and the 5-D temporal kernels
[c, c, 3, 1, 1] stored F16 as [c, c, 3] (GGUF holds at most four dimensions), each with its real
shape in the metadata key comfy.gguf.orig_shape.<name> (an INT32 array); other tensors of two or
more dimensions F16, biases and norms F32.

    /usr/bin/python3 tools/ref/fixtures_vc2_gguf.py [tests/data/nets/vc2]

tests/models/test_vc2.c runs it as --diffusion-model (the matrices stay quantised on the device)
against the same file dequantised at load, and against lvdm's output on the unquantised weights.
Deterministic: the blocks are a function of the checkpoint.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures_gguf import gguf, ARR, I32, STR, TYPES  # noqa: E402
from fixtures_unet_gguf import f16_bytes, quant_q8_0  # noqa: E402

PREFIX = "model.diffusion_model."


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "nets", "vc2")
    sd = torch.load(os.path.join(out_dir, "vc2_tiny.ckpt"), map_location="cpu")["state_dict"]
    tensors, kinds = [], {}
    kvs = [("general.architecture", STR, "evoke-test"), ("general.name", STR, "tiny VideoCrafter2 UNet, Q8_0")]
    for name, t in sd.items():
        if not name.startswith(PREFIX):
            continue
        w = t.detach().float().numpy()
        stored = w.shape
        if w.ndim == 2 and name.endswith(".weight") and w.shape[1] % 32 == 0:
            kind, data = "Q8_0", quant_q8_0(w)
        elif w.ndim == 4 and w.shape[2:] == (3, 3) and w.size % 256 == 0:
            kind, data, stored = "Q8_0", quant_q8_0(w), (w.size // 256, 256)
        elif w.ndim == 5:
            kind, data, stored = "F16", f16_bytes(w), w.shape[:3]
        elif w.ndim >= 2:
            kind, data = "F16", f16_bytes(w)
        else:
            kind, data = "F32", w.astype(np.float32).tobytes()
        if stored != w.shape:
            kvs.append((f"comfy.gguf.orig_shape.{name}", ARR, (I32, list(w.shape))))
            kinds["orig_shape"] = kinds.get("orig_shape", 0) + 1
        kinds[kind] = kinds.get(kind, 0) + 1
        tensors.append((name, TYPES[kind][0], list(reversed(stored)), data))
    blob = gguf(kvs, tensors)
    path = os.path.join(out_dir, "vc2_tiny_unet_q8.gguf")
    with open(path, "wb") as f:
        f.write(blob)
    print(f"{path}: {len(blob)} bytes; tensors {kinds}")


if __name__ == "__main__":
    main()
