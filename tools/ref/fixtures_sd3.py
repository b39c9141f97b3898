"""Fixtures of tests/models/test_sd3.c and tests/cli/cli_sd3.sh from the REAL diffusers code.

Builds tiny random-weight Stable Diffusion 3 pipelines with diffusers v0.31.0's own
SD3Transformer2DModel, AutoencoderKL, FlowMatchEulerDiscreteScheduler and
StableDiffusion3Pipeline, and writes

  tests/data/nets/sd3/                  a StableDiffusion3Pipeline folder (model_index.json,
                                        transformer/, text_encoder/, text_encoder_2/, tokenizer/,
                                        tokenizer_2/, vae/, scheduler/) — MMDiT-X: qk_norm
                                        "rms_norm", dual_attention_layers (0,), 3 layers
  tests/data/nets/sd3_fixture.safetensors  what the pipeline computes with it (see below)
  tests/data/nets/sd3_single.safetensors  the MMDiT-X transformer as a single-file checkpoint with
                                        the original MMDiT names (diffusers' converter maps it back
                                        exactly; checked here)
  tests/data/nets/sd3_plain.json/.safetensors  an SD3.0-style transformer (no qk norm, no dual
                                        attention) with one call's inputs and output
  tests/data/nets/sd3_latents.npy, sd3_image.npy  the CLI test's initial latents and the
                                        pipeline's output image (HWC in [0, 1])

How to run (from a scratch folder outside the repository, nothing is installed):

    git --git-dir=<diffusers mirror> archive v0.31.0 src | tar -x     # github:huggingface/diffusers
    PYTHONPATH=<scratch>/src:<shims>:tools/ref /usr/bin/python3 tools/ref/fixtures_sd3.py [tests/data/nets]

diffusers' imports need huggingface_hub (github:huggingface/huggingface_hub v0.26.2, src/) and small
stand-ins for tqdm, filelock, importlib_metadata and safetensors (loading goes through
tools/ref/safetensors_io.py) with dist-info METADATA files so its version checks pass. torch 1.13
has no F.scaled_dot_product_attention: the plain softmax(q·kᵀ/√d)·v is installed under that name.
transformers is replaced by this file's CLIPTextModelWithProjection (tools/ref/clip.py's text
transformer + text_projection, returning (text_embeds, ..., hidden_states) as transformers does)
and CLIPTokenizer (tools/ref/clip_tokenizer.py), registered as the module `transformers` before the
pipeline is imported; text_encoder_3 / tokenizer_3 are None, so the pipeline zero-fills the T5 slot
itself. Seeded: re-running writes identical files.

Fixture tensors (F32 unless said): ids_l / ids_g [2, 77] I32 (prompt, then ""), per encoder;
prompt_embeds [1, 154, 32], pooled [1, 32], negative_prompt_embeds, negative_pooled (the
pipeline's encode_prompt); call_x [2, 16, 8, 12], call_t [2], call_context [2, 154, 32],
call_pooled [2, 32], call_out (one transformer call); latents [1, 16, 8, 12] (initial), sigmas
[4], timesteps [3], noise_pred.i (guided, cfg 4) and latents.i (after step i), image [1, 16, 24,
3] (output_type "np"), decoded [1, 3, 16, 24] (vae.decode of the final latents, unclamped).
"""
import importlib.machinery
import json
import os
import shutil
import sys
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402
from clip import TEXT_DEFAULTS, CLIPTextTransformer  # noqa: E402
from clip_tokenizer import CLIPTokenizer as RefTokenizer  # noqa: E402

if not hasattr(F, "scaled_dot_product_attention"):
    def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
        assert attn_mask is None and not is_causal and dropout_p == 0.0
        s = q @ k.transpose(-2, -1) * (scale if scale is not None else q.shape[-1] ** -0.5)
        return s.softmax(-1) @ v
    F.scaled_dot_product_attention = _sdpa


# ---- the transformers stand-ins ------------------------------------------------------------
class _Out(tuple):
    pass


class CLIPTextModelWithProjection(nn.Module):
    """transformers' CLIPTextModelWithProjection: text_model + text_projection (no bias);
    forward(ids, output_hidden_states=True) -> (text_embeds, last_hidden_state, hidden_states)."""

    def __init__(self, config):
        super().__init__()
        c = dict(TEXT_DEFAULTS)
        c.update(config)
        self.config = types.SimpleNamespace(**c)
        self.c = c
        self.text_model = CLIPTextTransformer(c)
        self.text_projection = nn.Linear(c["hidden_size"], c["projection_dim"], bias=False)

    @property
    def dtype(self):
        return torch.float32

    def forward(self, ids, output_hidden_states=False):
        tm = self.text_model
        L = ids.shape[1]
        x = tm.embeddings(ids)
        mask = torch.full((L, L), float("-inf")).triu(1)[None, None]
        hidden = [x]
        for layer in tm.encoder.layers:
            x = layer(x, mask)
            hidden.append(x)
        last = tm.final_layer_norm(x)
        if self.c["eos_token_id"] == 2:
            pos = ids.argmax(-1)
        else:
            pos = (ids == self.c["eos_token_id"]).int().argmax(-1)
        pooled = last[torch.arange(ids.shape[0]), pos]
        out = _Out((self.text_projection(pooled), last, tuple(hidden)))
        out.text_embeds, out.last_hidden_state, out.hidden_states = out[0], out[1], out[2]
        return out


class CLIPTokenizer:
    """The calls StableDiffusion3Pipeline makes on a transformers CLIPTokenizer."""

    def __init__(self, folder):
        self.ref = RefTokenizer(folder)
        self.model_max_length = self.ref.max_length

    def __call__(self, prompts, padding="max_length", max_length=None, truncation=False, return_tensors="pt", **_):
        rows = []
        for p in prompts if isinstance(prompts, list) else [prompts]:
            toks = self.ref.tokenize(p)
            if truncation:
                toks = toks[: (max_length or self.model_max_length) - 2]
            rows.append([self.ref.bos_id] + toks + [self.ref.eos_id])
        n = max_length if padding == "max_length" else max(len(r) for r in rows)
        ids = torch.tensor([r + [self.ref.pad_id] * (n - len(r)) for r in rows], dtype=torch.long)
        return types.SimpleNamespace(input_ids=ids, attention_mask=torch.ones_like(ids))

    def batch_decode(self, ids):
        return [self.ref.decode(list(r)) for r in ids.tolist()]


_tf = types.ModuleType("transformers")
_tf.__spec__ = importlib.machinery.ModuleSpec("transformers", None)
_tf.__version__ = "4.46.0"
_tf.CLIPTextModelWithProjection = CLIPTextModelWithProjection
_tf.CLIPTokenizer = CLIPTokenizer
_tf.T5EncoderModel = type("T5EncoderModel", (nn.Module,), {})
_tf.T5TokenizerFast = type("T5TokenizerFast", (), {})
for _c in (CLIPTextModelWithProjection, CLIPTokenizer, _tf.T5EncoderModel, _tf.T5TokenizerFast):
    _c.__module__ = "transformers"


def _placeholder(name):  # other transformers names diffusers' modules import but this pipeline never uses
    if name.startswith("__"):
        raise AttributeError(name)
    cls = type(name, (), {"__module__": "transformers"})
    setattr(_tf, name, cls)
    return cls


_tf.__getattr__ = _placeholder
_tf.__path__ = []
_tfu = types.ModuleType("transformers.utils")
_tfu.FLAX_WEIGHTS_NAME, _tfu.SAFE_WEIGHTS_NAME, _tfu.WEIGHTS_NAME = "flax_model.msgpack", "model.safetensors", "pytorch_model.bin"
_tf.utils = _tfu
sys.modules["transformers"] = _tf
sys.modules["transformers.utils"] = _tfu

from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL  # noqa: E402
from diffusers.models.transformers.transformer_sd3 import SD3Transformer2DModel  # noqa: E402
from diffusers.pipelines.stable_diffusion_3.pipeline_stable_diffusion_3 import StableDiffusion3Pipeline  # noqa: E402
from diffusers.schedulers.scheduling_flow_match_euler_discrete import FlowMatchEulerDiscreteScheduler  # noqa: E402

# ---- configs --------------------------------------------------------------------------------
TRANSFORMER_X = {
    "sample_size": 8, "patch_size": 2, "in_channels": 16, "num_layers": 3, "attention_head_dim": 8,
    "num_attention_heads": 2, "joint_attention_dim": 32, "caption_projection_dim": 16,
    "pooled_projection_dim": 32, "out_channels": 16, "pos_embed_max_size": 16,
    "dual_attention_layers": [0], "qk_norm": "rms_norm",
}
TRANSFORMER_PLAIN = dict(TRANSFORMER_X, num_layers=2, dual_attention_layers=[], qk_norm=None)
CLIP_L = {"vocab_size": 610, "hidden_size": 16, "intermediate_size": 32, "projection_dim": 16, "num_hidden_layers": 3,
          "num_attention_heads": 2, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
          "bos_token_id": 608, "eos_token_id": 2, "pad_token_id": 1, "model_type": "clip_text_model",
          "architectures": ["CLIPTextModelWithProjection"]}
CLIP_G = dict(CLIP_L, hidden_size=12, intermediate_size=48, num_attention_heads=3, hidden_act="gelu",
              eos_token_id=609, layer_norm_eps=1e-5)
VAE = {"in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 2,
       "up_block_types": ["UpDecoderBlock2D"] * 2, "block_out_channels": [8, 16], "layers_per_block": 1,
       "act_fn": "silu", "latent_channels": 16, "norm_num_groups": 4, "sample_size": 16,
       "scaling_factor": 1.5305, "shift_factor": 0.0609, "use_quant_conv": False, "use_post_quant_conv": False,
       "force_upcast": True}
SCHEDULER = {"num_train_timesteps": 1000, "shift": 3.0}
PROMPT = "a red circle left of a blue square"
STEPS, CFG, H, W = 3, 4.0, 16, 24


def randomize(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5)
            elif name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def save_config(obj_config, path, extra):
    d = {k: v for k, v in dict(obj_config).items() if not k.startswith("_")}
    d = dict(extra, **d)
    with open(path, "w") as f:
        json.dump(d, f, indent=2, sort_keys=True, default=list)
        f.write("\n")


def state(model):
    return {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}


def check(t, what):
    a = t.detach().float().numpy()
    assert np.isfinite(a).all(), what
    assert a.std() > 1e-3, (what, a.std())


def to_original(sd, cfg):
    """diffusers names -> the original MMDiT single-file names (fused qkv, [shift | scale] order of
    the continuous adaptive norms), everything under "model.diffusion_model."."""
    P, o, L = "model.diffusion_model.", {}, cfg["num_layers"]

    def swap(t):  # diffusers' swap_scale_shift is its own inverse
        a, b = t.chunk(2, dim=0)
        return torch.cat([b, a], dim=0)
    top = {"pos_embed.pos_embed": "pos_embed", "pos_embed.proj": "x_embedder.proj",
           "time_text_embed.timestep_embedder.linear_1": "t_embedder.mlp.0",
           "time_text_embed.timestep_embedder.linear_2": "t_embedder.mlp.2",
           "time_text_embed.text_embedder.linear_1": "y_embedder.mlp.0",
           "time_text_embed.text_embedder.linear_2": "y_embedder.mlp.2", "context_embedder": "context_embedder",
           "norm_out.linear": "final_layer.adaLN_modulation.1", "proj_out": "final_layer.linear"}
    for k, v in top.items():
        if k == "pos_embed.pos_embed":
            o[P + v] = sd[k]
            continue
        for suf in ("weight", "bias"):
            t = sd[f"{k}.{suf}"]
            o[f"{P}{v}.{suf}"] = swap(t) if k == "norm_out.linear" else t
    for i in range(L):
        b, ob = f"transformer_blocks.{i}.", f"{P}joint_blocks.{i}."
        for suf in ("weight", "bias"):
            o[f"{ob}x_block.attn.qkv.{suf}"] = torch.cat([sd[f"{b}attn.to_{c}.{suf}"] for c in "qkv"])
            o[f"{ob}context_block.attn.qkv.{suf}"] = torch.cat([sd[f"{b}attn.add_{c}_proj.{suf}"] for c in "qkv"])
            if f"{b}attn2.to_q.{suf}" in sd:
                o[f"{ob}x_block.attn2.qkv.{suf}"] = torch.cat([sd[f"{b}attn2.to_{c}.{suf}"] for c in "qkv"])
                o[f"{ob}x_block.attn2.proj.{suf}"] = sd[f"{b}attn2.to_out.0.{suf}"]
            pairs = {"attn.to_out.0": "x_block.attn.proj", "attn.to_add_out": "context_block.attn.proj",
                     "norm1.linear": "x_block.adaLN_modulation.1", "norm1_context.linear": "context_block.adaLN_modulation.1",
                     "ff.net.0.proj": "x_block.mlp.fc1", "ff.net.2": "x_block.mlp.fc2",
                     "ff_context.net.0.proj": "context_block.mlp.fc1", "ff_context.net.2": "context_block.mlp.fc2"}
            for k, v in pairs.items():
                if f"{b}{k}.{suf}" in sd:
                    t = sd[f"{b}{k}.{suf}"]
                    o[f"{ob}{v}.{suf}"] = swap(t) if (k == "norm1_context.linear" and i == L - 1) else t
        for k, v in {"attn.norm_q": "x_block.attn.ln_q", "attn.norm_k": "x_block.attn.ln_k",
                     "attn.norm_added_q": "context_block.attn.ln_q", "attn.norm_added_k": "context_block.attn.ln_k",
                     "attn2.norm_q": "x_block.attn2.ln_q", "attn2.norm_k": "x_block.attn2.ln_k"}.items():
            if f"{b}{k}.weight" in sd:
                o[f"{ob}{v}.weight"] = sd[f"{b}{k}.weight"]
    assert sum(t.numel() for t in o.values()) == sum(t.numel() for t in sd.values())
    return o


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "nets")
    gen = torch.Generator().manual_seed(1313)
    torch.manual_seed(1313)
    folder = os.path.join(out, "sd3")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    for sub in ("transformer", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "vae", "scheduler"):
        os.makedirs(os.path.join(folder, sub))
    # tokenizers: the shipped tiny CLIP vocabulary; the second pads with "!" as OpenCLIP-G's does
    tok_src = os.path.join(ROOT, "assets", "tiny-sd", "tokenizer")
    for sub in ("tokenizer", "tokenizer_2"):
        for fn in ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tok_src, fn), os.path.join(folder, sub, fn))
    for fn in ("special_tokens_map.json", "tokenizer_config.json"):
        p = os.path.join(folder, "tokenizer_2", fn)
        with open(p) as f:
            d = json.load(f)
        d["pad_token"] = "!"
        with open(p, "w") as f:
            json.dump(d, f, indent=2)
            f.write("\n")

    transformer = SD3Transformer2DModel(**TRANSFORMER_X).eval()
    randomize(transformer, gen)
    te1, te2 = CLIPTextModelWithProjection(CLIP_L).eval(), CLIPTextModelWithProjection(CLIP_G).eval()
    randomize(te1, gen)
    randomize(te2, gen)
    vae = AutoencoderKL(**VAE).eval()
    randomize(vae, gen)
    scheduler = FlowMatchEulerDiscreteScheduler(**SCHEDULER)
    tok1, tok2 = CLIPTokenizer(os.path.join(folder, "tokenizer")), CLIPTokenizer(os.path.join(folder, "tokenizer_2"))
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=te1, tokenizer=tok1,
                                    text_encoder_2=te2, tokenizer_2=tok2, text_encoder_3=None, tokenizer_3=None)

    # the folder: configs as diffusers / transformers write them, weights under their names
    ver = {"_diffusers_version": "0.31.0"}
    save_config(transformer.config, os.path.join(folder, "transformer", "config.json"), dict(ver, _class_name="SD3Transformer2DModel"))
    save_config(vae.config, os.path.join(folder, "vae", "config.json"), dict(ver, _class_name="AutoencoderKL"))
    save_config(scheduler.config, os.path.join(folder, "scheduler", "scheduler_config.json"),
                dict(ver, _class_name="FlowMatchEulerDiscreteScheduler"))
    for sub, te in (("text_encoder", te1), ("text_encoder_2", te2)):
        with open(os.path.join(folder, sub, "config.json"), "w") as f:
            json.dump(te.c, f, indent=2, sort_keys=True)
            f.write("\n")
        st.save_file(state(te), os.path.join(folder, sub, "model.safetensors"))
    st.save_file(state(transformer), os.path.join(folder, "transformer", "diffusion_pytorch_model.safetensors"))
    vae_state = {k: v for k, v in state(vae).items() if not k.startswith("encoder.")}  # the decoder is all a pipeline runs
    st.save_file(vae_state, os.path.join(folder, "vae", "diffusion_pytorch_model.safetensors"))
    index = {"_class_name": "StableDiffusion3Pipeline", "_diffusers_version": "0.31.0",
             "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
             "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "text_encoder_3": [None, None],
             "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
             "tokenizer_3": [None, None], "transformer": ["diffusers", "SD3Transformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]}
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")

    fx = {}
    with torch.no_grad():
        for name, tok in (("ids_l", tok1), ("ids_g", tok2)):
            fx[name] = tok([PROMPT, ""], padding="max_length", max_length=77, truncation=True).input_ids.to(torch.int32)
        pe, npe, pp, npp = pipe.encode_prompt(PROMPT, PROMPT, PROMPT, do_classifier_free_guidance=True, negative_prompt="",
                                              negative_prompt_2="", negative_prompt_3="")
        fx.update(prompt_embeds=pe, negative_prompt_embeds=npe, pooled=pp, negative_pooled=npp)
        # one transformer call on random inputs (two different items, two timesteps)
        x = torch.randn(2, 16, H // 2, W // 2, generator=gen)
        t = torch.tensor([1000.0, 437.5])
        ctx = torch.randn(2, 154, 32, generator=gen)
        pooled = torch.randn(2, 32, generator=gen)
        fx.update(call_x=x, call_t=t, call_context=ctx, call_pooled=pooled,
                  call_out=transformer(x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=t).sample)
        check(fx["call_out"], "call_out")
        # the pipeline, step by step
        latents = torch.randn(1, 16, H // 2, W // 2, generator=gen)
        fx["latents"] = latents
        preds, steps = [], []
        orig_step = scheduler.step

        def step(model_output, timestep, sample, **kw):
            preds.append(model_output.clone())
            r = orig_step(model_output, timestep, sample, **kw)
            steps.append(r[0].clone() if isinstance(r, tuple) else r.prev_sample.clone())
            return r
        scheduler.step = step
        image = pipe(PROMPT, negative_prompt="", height=H, width=W, num_inference_steps=STEPS, guidance_scale=CFG,
                     latents=latents.clone(), output_type="np").images
        scheduler.step = orig_step
        fx["sigmas"] = scheduler.sigmas.float()
        fx["timesteps"] = scheduler.timesteps.float()
        for i in range(STEPS):
            fx[f"noise_pred.{i}"] = preds[i]
            fx[f"latents.{i}"] = steps[i]
        z = steps[-1] / vae.config.scaling_factor + vae.config.shift_factor
        fx["decoded"] = vae.decode(z).sample
        fx["image"] = torch.from_numpy(np.ascontiguousarray(image)).float()
        for k in ("prompt_embeds", "pooled", "noise_pred.0", "latents.2", "decoded", "image"):
            check(fx[k], k)
    st.save_file({k: v.detach().contiguous() if v.dtype == torch.int32 else v.detach().float().contiguous() for k, v in fx.items()},
                 os.path.join(out, "sd3_fixture.safetensors"))
    np.save(os.path.join(out, "sd3_latents.npy"), latents.numpy().astype(np.float32))
    np.save(os.path.join(out, "sd3_image.npy"), fx["image"][0].numpy().astype(np.float32))

    # the same transformer as a single-file checkpoint with the original MMDiT names: the inverse of
    # diffusers' own converter, checked by running that converter on it
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers
    single = to_original(state(transformer), TRANSFORMER_X)
    back = convert_sd3_transformer_checkpoint_to_diffusers({k: v.clone() for k, v in single.items()})
    want = state(transformer)
    assert set(back) == set(want), set(back) ^ set(want)
    for k in want:
        assert torch.equal(back[k], want[k]), k
    st.save_file({k: v for k, v in single.items() if k != "model.diffusion_model.pos_embed"},
                 os.path.join(out, "sd3_single.safetensors"))

    # an SD3.0-style transformer: no qk norm, no dual attention, one call
    plain = SD3Transformer2DModel(**TRANSFORMER_PLAIN).eval()
    randomize(plain, gen)
    with torch.no_grad():
        x = torch.randn(3, 16, 10, 6, generator=gen)
        t = torch.tensor([999.0, 500.0, 3.0])
        ctx = torch.randn(3, 20, 32, generator=gen)
        pooled = torch.randn(3, 32, generator=gen)
        y = plain(x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=t).sample
        check(y, "plain out")
    tensors = state(plain)
    tensors.update({"fixture.x": x, "fixture.t": t, "fixture.context": ctx, "fixture.pooled": pooled, "fixture.out": y})
    st.save_file(tensors, os.path.join(out, "sd3_plain.safetensors"))
    save_config(plain.config, os.path.join(out, "sd3_plain.json"), dict(ver, _class_name="SD3Transformer2DModel"))
    print("wrote", folder, "and sd3_* fixtures to", out)


if __name__ == "__main__":
    main()
