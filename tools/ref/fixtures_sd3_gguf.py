#!/usr/bin/env python3
"""fixtures_sd3_gguf.py — the GGUF fixtures of tests/cli/cli_sd3.sh and tests/models/test_sd3.c: a tiny SD3.5-style (MMDiT-X)
transformer as a quantised GGUF file laid out as ComfyUI-GGUF's SD3 files are, and what diffusers'
StableDiffusion3Pipeline computes with the dequantised weights.

Writes to tests/data/nets/ (next to the tests/data/nets/sd3 pipeline of fixtures_sd3.py, whose
text encoders, tokenizers, VAE and scheduler it reuses unchanged):

  sd3_gguf.gguf        the transformer: original MMDiT names with the "model.diffusion_model."
                       prefix stripped ("joint_blocks.0.x_block.attn.qkv.weight", "pos_embed", ...),
                       general.architecture "sd3", tensor types as ComfyUI-GGUF's converter and
                       its llama.cpp quantize patch (tools/lcpp_sd3.patch) choose them: 1-D tensors
                       F32; pos_embed, x_embedder, t_embedder, y_embedder, context_embedder and
                       final_layer F16; the joint blocks' matrices quantised — Q4_K where a row
                       holds whole 256-element super-blocks (the MLPs' fc2), Q8_0 elsewhere.
  sd3_gguf.json        its transformer config (64 channels = 2 heads of 32, 2 layers, layer 0 dual
                       attention, qk_norm rms_norm): the test puts it in a copy of the sd3 folder
  sd3_gguf_image.npy   the pipeline's output image (HWC in [0, 1]) for the prompt, size, steps,
                       guidance and initial latents (sd3_latents.npy) of cli_sd3.sh, with the
                       transformer's weights replaced by the GGUF file's, dequantised

The file is written by llama.cpp's gguf-py (GGUFWriter); Q8_0 blocks by gguf-py's own quantiser
(gguf.quants.quantize, ggml's rounding); Q4_K blocks by fixtures_unet_gguf.py's quantiser (gguf-py
has no K-quant quantiser). Every quantised tensor is dequantised with gguf.quants.dequantize, so the
reference does not depend on evoke's dequantisation; the dequantised state dict goes back to
diffusers' names through diffusers' own convert_sd3_transformer_checkpoint_to_diffusers.

How to run (the environment of fixtures_sd3.py, plus gguf-py):

    git --git-dir=<llama.cpp mirror> archive c392e5094deaf2d1a7c18683214f007fad3fe42b gguf-py | tar -x
    PYTHONPATH=<diffusers v0.31.0 src>:<shims>:gguf-py:tools/ref /usr/bin/python3 tools/ref/fixtures_sd3_gguf.py [OUT_DIR]

gguf-py imports sentencepiece for LLM vocabularies; an empty stand-in module is enough here.
Seeded: re-running writes identical files.
"""
import json
import os
import sys

import numpy as np
import torch

import fixtures_sd3 as f3  # noqa: E402  (sets up the diffusers / transformers environment)
from fixtures_unet_gguf import quant_q4_k  # noqa: E402

import gguf  # noqa: E402
from gguf.constants import GGMLQuantizationType as GT  # noqa: E402

TRANSFORMER_Q = dict(f3.TRANSFORMER_X, num_layers=2, attention_head_dim=32, num_attention_heads=2, caption_projection_dim=64,
                     pos_embed_max_size=8, dual_attention_layers=[0])
P = "model.diffusion_model."
KEEP_F16 = ("final_layer.", "t_embedder.", "y_embedder.", "x_embedder.", "context_embedder.")  # lcpp_sd3.patch


def kind_of(name, a):
    if a.ndim == 1:
        return "F32"
    if name == "pos_embed" or any(name.startswith(k) for k in KEEP_F16) or a.ndim != 2:
        return "F16"
    if a.shape[1] % 256 == 0:
        return "Q4_K"
    return "Q8_0" if a.shape[1] % 32 == 0 else "F16"


def load_folder(folder):
    """The sd3 pipeline's components other than the transformer, from its files."""
    def weights(model, path):
        model.load_state_dict(f3.st.load_file(path, as_torch=True))
        return model.eval()
    tes = []
    for sub in ("text_encoder", "text_encoder_2"):
        with open(os.path.join(folder, sub, "config.json")) as f:
            cfg = json.load(f)
        tes.append(weights(f3.CLIPTextModelWithProjection(cfg), os.path.join(folder, sub, "model.safetensors")))
    vae = f3.AutoencoderKL(**f3.VAE).eval()
    missing = vae.load_state_dict(f3.st.load_file(os.path.join(folder, "vae", "diffusion_pytorch_model.safetensors"), as_torch=True), strict=False)
    assert all(k.startswith("encoder.") or k.startswith("quant_conv") for k in missing.missing_keys), missing
    assert not missing.unexpected_keys, missing
    toks = [f3.CLIPTokenizer(os.path.join(folder, sub)) for sub in ("tokenizer", "tokenizer_2")]
    return tes, toks, vae, f3.FlowMatchEulerDiscreteScheduler(**f3.SCHEDULER)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(f3.ROOT, "tests", "data", "nets")
    gen = torch.Generator().manual_seed(1313 + 13)
    transformer = f3.SD3Transformer2DModel(**TRANSFORMER_Q).eval()
    f3.randomize(transformer, gen)
    original = f3.to_original(f3.state(transformer), TRANSFORMER_Q)

    writer = gguf.GGUFWriter(os.path.join(out, "sd3_gguf.gguf"), arch="sd3")
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    deq, kinds, nbytes = {}, {}, {"f32": 0, "stored": 0}
    for full, t in original.items():
        name = full[len(P):]
        a = t.numpy().astype(np.float32)
        kind = kind_of(name, a)
        if kind == "F32":
            data, back = a, a
        elif kind == "F16":
            data = a.astype(np.float16)
            back = data.astype(np.float32)
        else:
            data = gguf.quants.quantize(a, GT.Q8_0) if kind == "Q8_0" else \
                np.frombuffer(quant_q4_k(a), dtype=np.uint8).reshape(a.shape[0], -1)
            back = gguf.quants.dequantize(data, GT[kind]).astype(np.float32).reshape(a.shape)
            assert np.abs(back - a).max() <= 0.15 * np.abs(a).max(), (name, kind)  # the blocks do encode the weights
        writer.add_tensor(name, data, raw_dtype=GT[kind])
        deq[full] = torch.from_numpy(np.ascontiguousarray(back))
        kinds[kind] = kinds.get(kind, 0) + 1
        nbytes["f32"] += a.size * 4
        nbytes["stored"] += data.nbytes
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert {"Q8_0", "Q4_K", "F16", "F32"} <= set(kinds), kinds

    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers
    back = convert_sd3_transformer_checkpoint_to_diffusers(deq)
    want = f3.state(transformer)
    assert set(back) == set(want), set(back) ^ set(want)
    transformer.load_state_dict(back)
    f3.save_config(transformer.config, os.path.join(out, "sd3_gguf.json"),
                   {"_diffusers_version": "0.31.0", "_class_name": "SD3Transformer2DModel"})

    (te1, te2), (tok1, tok2), vae, scheduler = load_folder(os.path.join(out, "sd3"))
    pipe = f3.StableDiffusion3Pipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=te1, tokenizer=tok1,
                                       text_encoder_2=te2, tokenizer_2=tok2, text_encoder_3=None, tokenizer_3=None)
    latents = torch.from_numpy(np.load(os.path.join(out, "sd3_latents.npy")))
    with torch.no_grad():
        image = pipe(f3.PROMPT, negative_prompt="", height=f3.H, width=f3.W, num_inference_steps=f3.STEPS,
                     guidance_scale=f3.CFG, latents=latents.clone(), output_type="np").images
    img = np.ascontiguousarray(image[0]).astype(np.float32)
    f3.check(torch.from_numpy(img), "image")
    np.save(os.path.join(out, "sd3_gguf_image.npy"), img)
    size = os.path.getsize(os.path.join(out, "sd3_gguf.gguf"))
    print(f"sd3_gguf.gguf: {size} bytes; tensors {kinds}; weights f32 {nbytes['f32']} B, as stored {nbytes['stored']} B")


if __name__ == "__main__":
    main()
