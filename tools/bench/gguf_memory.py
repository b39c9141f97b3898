#!/usr/bin/env python3
"""gguf_memory.py — device bytes of a denoiser's weights as evoke holds them: all f32, f16
(matrices and convolution kernels f16, biases and norms f32: --f16), and from a GGUF file
quantised to Q8_0 or Q4_K the way stable-diffusion.cpp's converter writes one (a matrix is
quantised when its rows hold whole blocks; convolution kernels, whose rows are 3 or 1 values,
and vectors keep their type: f16 kernels, f32 vectors), with the quantised matrices kept
quantised on the device (EVK_DTYPE_QUANT) and the rest as stored.

    /usr/bin/python3 tools/bench/gguf_memory.py

Models (shapes from their configs, no weights needed):
  * SD 1.5's UNet: tools/ref/unet.py built from the real unet/config.json values (the
    parameters only: its state dict's shapes).
  * SD 3.5 Medium's transformer (MMDiT-X): diffusers SD3Transformer2DModel's parameter shapes for
    its config (24 layers, 24 heads of 64, joint_attention_dim 4096, pooled 2048, patch 2,
    16 channels, dual attention in layers 0-12, qk RMS norm, pos_embed_max_size 384), listed
    below; the 384²-position sin-cos table (pos_embed, 226 M values the checkpoint stores) is
    shown on its own line since it is not a weight the matmul reads.
"""
import os
import sys

BLOCK = {"Q8_0": (32, 34), "Q4_K": (256, 144)}

SD15_UNET = {
    "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False, "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "use_linear_projection": False, "upcast_attention": False,
}


def sd15_shapes():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
    import torch
    import torch.nn as nn
    from unet import UNet2DConditionModel
    # shapes only: skip the initialisers (860 M parameters)
    for f in ("kaiming_uniform_", "uniform_", "normal_", "ones_", "zeros_"):
        setattr(nn.init, f, lambda t, *a, **k: t)
    torch.set_grad_enabled(False)
    m = UNet2DConditionModel(SD15_UNET)
    return [(n, tuple(p.shape)) for n, p in m.state_dict().items()]


def sd35m_shapes():
    D, L, ctx, pooled, patch, cin, dual = 1536, 24, 4096, 2048, 2, 16, set(range(13))
    s = [("pos_embed.proj.weight", (D, cin, patch, patch)), ("pos_embed.proj.bias", (D,)),
         ("time_text_embed.timestep_embedder.linear_1.weight", (D, 256)), ("time_text_embed.timestep_embedder.linear_1.bias", (D,)),
         ("time_text_embed.timestep_embedder.linear_2.weight", (D, D)), ("time_text_embed.timestep_embedder.linear_2.bias", (D,)),
         ("time_text_embed.text_embedder.linear_1.weight", (D, pooled)), ("time_text_embed.text_embedder.linear_1.bias", (D,)),
         ("time_text_embed.text_embedder.linear_2.weight", (D, D)), ("time_text_embed.text_embedder.linear_2.bias", (D,)),
         ("context_embedder.weight", (D, ctx)), ("context_embedder.bias", (D,)),
         ("norm_out.linear.weight", (2 * D, D)), ("norm_out.linear.bias", (2 * D,)),
         ("proj_out.weight", (patch * patch * cin, D)), ("proj_out.bias", (patch * patch * cin,))]

    def lin(name, o, i, bias=True):
        s.append((name + ".weight", (o, i)))
        if bias:
            s.append((name + ".bias", (o,)))

    for b in range(L):
        p, last = f"transformer_blocks.{b}.", b == L - 1
        lin(p + "norm1.linear", (9 if b in dual else 6) * D, D)
        lin(p + "norm1_context.linear", (2 if last else 6) * D, D)
        for n in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0") + (() if last else ("to_add_out",)):
            lin(p + "attn." + n, D, D)
        for n in ("norm_q", "norm_k", "norm_added_q", "norm_added_k"):
            s.append((p + "attn." + n + ".weight", (64,)))
        if b in dual:
            for n in ("to_q", "to_k", "to_v", "to_out.0"):
                lin(p + "attn2." + n, D, D)
            for n in ("norm_q", "norm_k"):
                s.append((p + "attn2." + n + ".weight", (64,)))
        for ff in ("ff",) + (() if last else ("ff_context",)):
            lin(p + ff + ".net.0.proj", 4 * D, D)
            lin(p + ff + ".net.2", D, 4 * D)
    return s


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def device_bytes(shapes, mode):
    total = 0
    for _, shape in shapes:
        n = numel(shape)
        if len(shape) == 1:
            total += 4 * n                  # biases, norms: f32 always
        elif mode == "f32":
            total += 4 * n
        elif mode == "f16" or len(shape) != 2:
            total += 2 * n                  # f16, and kernels of quantised files (stored f16)
        else:
            elems, nbytes = BLOCK[mode]
            total += n // elems * nbytes if shape[-1] % elems == 0 else 2 * n  # rows without whole blocks stay f16
    return total


def report(name, shapes, extra=None):
    params = sum(numel(s) for _, s in shapes)
    mats = [s for _, s in shapes if len(s) == 2]
    print(f"{name}: {params / 1e6:.1f} M parameters, {sum(numel(s) for s in mats) / 1e6:.1f} M in matrices")
    base = device_bytes(shapes, "f16")
    for mode in ("f32", "f16", "Q8_0", "Q4_K"):
        b = device_bytes(shapes, mode)
        kept = ""
        if mode in BLOCK:
            q = sum(numel(s) for s in mats if s[-1] % BLOCK[mode][0] == 0)
            kept = f"; {q / 1e6:.1f} M values quantised"
        print(f"  {mode:5s} {b / 2**20:9.1f} MiB  ({b / base:.2f} of f16{kept})")
    if extra:
        print("  " + extra)


def main():
    report("SD 1.5 UNet", sd15_shapes())
    report("SD 3.5 Medium transformer", sd35m_shapes(),
           f"plus pos_embed [1, 147456, 1536]: {147456 * 1536 * 2 / 2**20:.1f} MiB at f16 ({147456 * 1536 * 4 / 2**20:.1f} MiB f32)")


if __name__ == "__main__":
    main()
