"""Write the safetensors fixtures of tests/formats/test_safetensors.c with the Python reference writer
(tools/ref/safetensors_io.py), so the C reader is checked against files it did not write.

    /usr/bin/python3 tools/ref/fixtures_safetensors.py [tests/data/safetensors]

mixed.safetensors        F32/F16/BF16/F64/I64 tensors, a scalar, an empty tensor, metadata, and
                         "expect.<dtype>.<name>" tensors holding what converting each tensor to f32 or
                         f16 storage must give (computed here with numpy/torch rounding).
sharded/                 model.safetensors.index.json + two shards ("text_model." names).
single_file_tiny.safetensors
                         original-layout names of a single-file SD checkpoint that need more than a
                         rename: OpenCLIP's fused in_proj (split into q/k/v) and the VAE's 1x1-conv
                         attention weights (read as linear), with the expected pieces beside them.
Values come from a fixed formula (no randomness), so re-running gives identical files.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402


def values(n, k):
    i = np.arange(n, dtype=np.float64)
    return (np.sin(0.37 * i + k) * (1.0 + 0.5 * k) + 0.01 * (i % 7)).astype(np.float64)


def bf16(a32):
    return torch.from_numpy(np.ascontiguousarray(a32, dtype=np.float32)).to(torch.bfloat16)


def main(out):
    os.makedirs(os.path.join(out, "sharded"), exist_ok=True)
    f32 = values(3 * 5 * 7, 1).astype(np.float32).reshape(3, 5, 7)
    f16 = (values(33 * 5, 2) * 3.0).astype(np.float16).reshape(33, 5)
    b16 = bf16(values(4 * 9, 3).reshape(4, 9) * 100.0)
    f64 = values(6, 4) * 1e-3
    t = {
        "w.f32": f32, "w.f16": f16, "w.bf16": b16, "w.f64": f64,
        "ids": np.arange(5, dtype=np.int64) * 7 - 3,
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 4), dtype=np.float32),
        # what f32 storage must hold
        "expect.f32.w.f16": f16.astype(np.float32),
        "expect.f32.w.bf16": b16.to(torch.float32),
        "expect.f32.w.f64": f64.astype(np.float32),
        # what f16 storage must hold (round to nearest even, from the f32 value for bf16)
        "expect.f16.w.f32": f32.astype(np.float16),
        "expect.f16.w.bf16": b16.to(torch.float32).to(torch.float16),
        "expect.f16.w.f64": f64.astype(np.float32).astype(np.float16),
    }
    st.save_file(t, os.path.join(out, "mixed.safetensors"), {"format": "pt", "note": "evoke fixture"})

    a = {"text_model.a.weight": values(12, 5).astype(np.float32).reshape(3, 4),
         "text_model.b.bias": values(4, 6).astype(np.float16)}
    b = {"text_model.c.weight": values(10, 7).astype(np.float32).reshape(2, 5),
         "vision_model.d": values(3, 8).astype(np.float32)}
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    st.save_file(a, os.path.join(out, "sharded", names[0]))
    st.save_file(b, os.path.join(out, "sharded", names[1]))
    index = {"metadata": {"total_size": 0}, "weight_map": {**{k: names[0] for k in a}, **{k: names[1] for k in b}}}
    with open(os.path.join(out, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")

    C = 8
    inw = values(3 * C * C, 9).astype(np.float32).reshape(3 * C, C)
    inb = values(3 * C, 10).astype(np.float32)
    q = values(C * C, 11).astype(np.float16).reshape(C, C, 1, 1)
    s = {
        "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight": inw,
        "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_bias": inb,
        "first_stage_model.decoder.mid.attn_1.q.weight": q,
        "expect.q_proj.weight": inw[0:C], "expect.k_proj.weight": inw[C:2 * C], "expect.v_proj.weight": inw[2 * C:],
        "expect.q_proj.bias": inb[0:C], "expect.k_proj.bias": inb[C:2 * C], "expect.v_proj.bias": inb[2 * C:],
        "expect.to_q.weight": q.reshape(C, C).astype(np.float32),
    }
    st.save_file(s, os.path.join(out, "single_file_tiny.safetensors"))
    for name in ["mixed.safetensors", "single_file_tiny.safetensors"]:
        st.load_file(os.path.join(out, name))  # the reference reader accepts what it wrote
    print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "safetensors"))
