#!/usr/bin/env python3
"""e2e_checkpoint.py — writes a random-weight Stable Diffusion 1.5 single-file checkpoint in the
original (CompVis) tensor names and the real shapes, F16 safetensors, for the end-to-end benchmark
(tools/bench/e2e.sh) that runs evoke and stable-diffusion.cpp on the same file.

    /usr/bin/python3 tools/bench/e2e_checkpoint.py OUT.safetensors [--seed 0]

The tensor list is built here from the SD 1.5 architecture (v1-inference.yaml) the way ldm's
openaimodel.UNetModel, autoencoder's Encoder/Decoder and transformers' CLIPTextModel name their
parameters, so no upstream code is needed:
  - model.diffusion_model.*: model_channels 320, channel_mult 1,2,4,4, 2 res blocks per level,
    attention at the first three levels and in the middle, num_heads 8 (so 8 heads of 40, 80 and
    160 channels), context 768, 1×1-conv proj_in/proj_out; 859.5 M parameters;
  - first_stage_model.*: the KL-f8 autoencoder (encoder, decoder, quant_conv, post_quant_conv),
    ch 128, ch_mult 1,2,4,4, 2 res blocks (3 in the decoder), z 4; 83.7 M parameters;
  - cond_stage_model.transformer.text_model.*: CLIP ViT-L/14's text tower (12 layers, 768 wide,
    vocabulary 49,408, 77 positions); 123.1 M parameters.
Values: weights normal with std 1/sqrt(fan_in) (activations stay finite through the network),
biases 0.02·normal, norm scales 1 + 0.05·normal, embeddings 0.02·normal; F16 throughout (~2.1 GB).
The file is written tensor by tensor (peak memory: the largest tensor), then renamed into place.
Only the timing of a generation means anything with these weights, never the picture.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def unet():
    """ldm openaimodel.UNetModel (SD 1.x), parameter names and shapes."""
    t = {}
    mc, mult, nres, ctx, temb = 320, (1, 2, 4, 4), 2, 768, 1280

    def lin(name, o, i, bias=True):
        t[name + ".weight"] = (o, i)
        if bias:
            t[name + ".bias"] = (o,)

    def conv(name, o, i, k):
        t[name + ".weight"] = (o, i, k, k)
        t[name + ".bias"] = (o,)

    def norm(name, c):
        t[name + ".weight"] = (c,)
        t[name + ".bias"] = (c,)

    def res(name, i, o):
        norm(name + ".in_layers.0", i)
        conv(name + ".in_layers.2", o, i, 3)
        lin(name + ".emb_layers.1", o, temb)
        norm(name + ".out_layers.0", o)
        conv(name + ".out_layers.3", o, o, 3)
        if i != o:
            conv(name + ".skip_connection", o, i, 1)

    def attn(name, c):
        norm(name + ".norm", c)
        conv(name + ".proj_in", c, c, 1)
        b = name + ".transformer_blocks.0"
        for a, kv in (("attn1", c), ("attn2", ctx)):
            lin(f"{b}.{a}.to_q", c, c, False)
            lin(f"{b}.{a}.to_k", c, kv, False)
            lin(f"{b}.{a}.to_v", c, kv, False)
            lin(f"{b}.{a}.to_out.0", c, c)
        lin(b + ".ff.net.0.proj", 8 * c, c)
        lin(b + ".ff.net.2", c, 4 * c)
        for n in ("norm1", "norm2", "norm3"):
            norm(f"{b}.{n}", c)
        conv(name + ".proj_out", c, c, 1)

    lin("time_embed.0", temb, mc)
    lin("time_embed.2", temb, temb)
    conv("input_blocks.0.0", mc, 4, 3)
    chans, ch, blk = [mc], mc, 1
    for level, m in enumerate(mult):
        for _ in range(nres):
            res(f"input_blocks.{blk}.0", ch, m * mc)
            ch = m * mc
            if level < 3:
                attn(f"input_blocks.{blk}.1", ch)
            chans.append(ch)
            blk += 1
        if level != len(mult) - 1:
            conv(f"input_blocks.{blk}.0.op", ch, ch, 3)
            chans.append(ch)
            blk += 1
    res("middle_block.0", ch, ch)
    attn("middle_block.1", ch)
    res("middle_block.2", ch, ch)
    blk = 0
    for level, m in list(enumerate(mult))[::-1]:
        for i in range(nres + 1):
            skip = chans.pop()
            res(f"output_blocks.{blk}.0", ch + skip, m * mc)
            ch = m * mc
            j = 1
            if level < 3:
                attn(f"output_blocks.{blk}.1", ch)
                j = 2
            if level and i == nres:
                conv(f"output_blocks.{blk}.{j}.conv", ch, ch, 3)
            blk += 1
    norm("out.0", ch)
    conv("out.2", 4, ch, 3)
    return {"model.diffusion_model." + k: v for k, v in t.items()}


def vae():
    """ldm AutoencoderKL (KL-f8), parameter names and shapes."""
    t = {}

    def conv(name, o, i, k):
        t[name + ".weight"] = (o, i, k, k)
        t[name + ".bias"] = (o,)

    def norm(name, c):
        t[name + ".weight"] = (c,)
        t[name + ".bias"] = (c,)

    def res(name, i, o):
        norm(name + ".norm1", i)
        conv(name + ".conv1", o, i, 3)
        norm(name + ".norm2", o)
        conv(name + ".conv2", o, o, 3)
        if i != o:
            conv(name + ".nin_shortcut", o, i, 1)

    def mid(name, c):
        res(name + ".block_1", c, c)
        norm(name + ".attn_1.norm", c)
        for n in ("q", "k", "v", "proj_out"):
            conv(f"{name}.attn_1.{n}", c, c, 1)
        res(name + ".block_2", c, c)

    ch, mult, z = 128, (1, 2, 4, 4), 4
    conv("encoder.conv_in", ch, 3, 3)
    c = ch
    for i, m in enumerate(mult):
        for j in range(2):
            res(f"encoder.down.{i}.block.{j}", c, ch * m)
            c = ch * m
        if i != len(mult) - 1:
            conv(f"encoder.down.{i}.downsample.conv", c, c, 3)
    mid("encoder.mid", c)
    norm("encoder.norm_out", c)
    conv("encoder.conv_out", 2 * z, c, 3)
    conv("quant_conv", 2 * z, 2 * z, 1)
    conv("post_quant_conv", z, z, 1)
    c = ch * mult[-1]
    conv("decoder.conv_in", c, z, 3)
    mid("decoder.mid", c)
    for i in reversed(range(len(mult))):
        for j in range(3):
            res(f"decoder.up.{i}.block.{j}", c, ch * mult[i])
            c = ch * mult[i]
        if i != 0:
            conv(f"decoder.up.{i}.upsample.conv", c, c, 3)
    norm("decoder.norm_out", c)
    conv("decoder.conv_out", 3, c, 3)
    return {"first_stage_model." + k: v for k, v in t.items()}


def clip_text():
    """transformers CLIPTextModel (ViT-L/14 text tower), as SD 1.x checkpoints hold it."""
    t, d = {}, 768
    p = "cond_stage_model.transformer.text_model."
    t[p + "embeddings.token_embedding.weight"] = (49408, d)
    t[p + "embeddings.position_embedding.weight"] = (77, d)
    for i in range(12):
        q = f"{p}encoder.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[f"{q}self_attn.{n}.weight"] = (d, d)
            t[f"{q}self_attn.{n}.bias"] = (d,)
        for n in ("layer_norm1", "layer_norm2"):
            t[f"{q}{n}.weight"] = (d,)
            t[f"{q}{n}.bias"] = (d,)
        t[q + "mlp.fc1.weight"] = (4 * d, d)
        t[q + "mlp.fc1.bias"] = (4 * d,)
        t[q + "mlp.fc2.weight"] = (d, 4 * d)
        t[q + "mlp.fc2.bias"] = (d,)
    t[p + "final_layer_norm.weight"] = (d,)
    t[p + "final_layer_norm.bias"] = (d,)
    return t


def value(rng, name, shape):
    n = int(np.prod(shape))
    if "embedding" in name:
        v = 0.02 * rng.standard_normal(n, dtype=np.float32)
    elif len(shape) == 1 and name.endswith(".weight"):        # norm scales
        v = 1 + 0.05 * rng.standard_normal(n, dtype=np.float32)
    elif len(shape) == 1:
        v = 0.02 * rng.standard_normal(n, dtype=np.float32)
    else:
        v = rng.standard_normal(n, dtype=np.float32) / np.sqrt(n // shape[0])
    return v.astype(np.float16)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    parts = {"unet": unet(), "vae": vae(), "text": clip_text()}
    tensors = {}
    for k, v in parts.items():
        print(f"{k}: {sum(int(np.prod(s)) for s in v.values()) / 1e6:.1f} M parameters, {len(v)} tensors")
        tensors.update(v)
    header, off = {"__metadata__": {"format": "pt", "note": "random weights, SD 1.5 shapes (evoke tools/bench)"}}, 0
    for k, s in tensors.items():
        n = 2 * int(np.prod(s))
        header[k] = {"dtype": "F16", "shape": list(s), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(a.seed)
    tmp = a.out + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for k, s in tensors.items():
            f.write(value(rng, k, s).tobytes())
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: {len(tensors)} tensors, {off / 2**30:.2f} GiB")


if __name__ == "__main__":
    sys.exit(main())
