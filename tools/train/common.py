"""Shared helpers for the tiny-model training scripts: paths, configs, tokenizer, PNG writer."""
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))
sys.path.insert(0, HERE)

# Checkpoints, logs and curves: $EVOKE_TRAIN_OUT if set (keep them outside the repository so
# they survive a fresh checkout), else out/train (git-ignored).
OUT = os.environ.get("EVOKE_TRAIN_OUT") or os.path.join(ROOT, "out", "train")
TOKDIR = os.path.join(OUT, "tokenizer")
ASSETS = os.path.join(ROOT, "assets")
TOK_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


def tokenizer():
    """The domain tokenizer in OUT/tokenizer: copied from the shipped assets/tiny-sd/tokenizer
    when there is one (so training continues with exactly the shipped vocabulary), else
    learned by build_tokenizer.py (deterministic)."""
    from clip_tokenizer import CLIPTokenizer
    if not os.path.exists(os.path.join(TOKDIR, "vocab.json")):
        shipped = os.path.join(ASSETS, "tiny-sd", "tokenizer")
        if all(os.path.exists(os.path.join(shipped, f)) for f in TOK_FILES):
            import shutil
            os.makedirs(TOKDIR, exist_ok=True)
            for f in TOK_FILES:
                shutil.copyfile(os.path.join(shipped, f), os.path.join(TOKDIR, f))
        else:
            from build_tokenizer import build
            build(TOKDIR)
    return CLIPTokenizer(TOKDIR)


def load_json(path):
    with open(path) as f:
        return json.load(f)


def load_weights(path):
    """safetensors file -> {name: float32 torch tensor}."""
    from safetensors_io import load_file
    return {k: v.float() for k, v in load_file(path, as_torch=True).items()}


def exported_step(path):
    """The training step recorded in an exported safetensors file's metadata (0 if none)."""
    from safetensors_io import read_header
    return int(read_header(path)[1].get("step", 0))


def vocab_size():
    with open(os.path.join(TOKDIR, "vocab.json")) as f:
        return len(json.load(f))


def text_config(tok, hidden=64, layers=3, heads=2, inter=256, proj=64):
    """transformers CLIPTextConfig keys."""
    return {
        "architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
        "vocab_size": vocab_size(), "hidden_size": hidden, "intermediate_size": inter,
        "projection_dim": proj, "num_hidden_layers": layers, "num_attention_heads": heads,
        "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
        "attention_dropout": 0.0, "dropout": 0.0, "initializer_range": 0.02, "initializer_factor": 1.0,
        "bos_token_id": tok.bos_id, "eos_token_id": tok.eos_id, "pad_token_id": tok.pad_id,
        "torch_dtype": "float32", "transformers_version": "4.33.0",
    }


def unet_config(cross_dim):
    """diffusers UNet2DConditionModel config: pixel space 3x32x32, ~1M params."""
    return {
        "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.21.4",
        "act_fn": "silu", "attention_head_dim": [2, 2, 2], "block_out_channels": [32, 64, 64],
        "center_input_sample": False, "cross_attention_dim": cross_dim,
        "down_block_types": ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
        "downsample_padding": 1, "dual_cross_attention": False, "flip_sin_to_cos": True, "freq_shift": 0,
        "in_channels": 3, "layers_per_block": 1, "mid_block_scale_factor": 1,
        "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-5, "norm_num_groups": 8,
        "num_attention_heads": None, "only_cross_attention": False, "out_channels": 3,
        "resnet_time_scale_shift": "default", "sample_size": 32, "transformer_layers_per_block": 1,
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
        "upcast_attention": False, "use_linear_projection": True,
    }


SCHEDULER_CONFIG = {
    "_class_name": "DDIMScheduler", "_diffusers_version": "0.21.4",
    "num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
    "prediction_type": "v_prediction", "timestep_spacing": "trailing", "steps_offset": 0,
    "set_alpha_to_one": True, "clip_sample": False, "clip_sample_range": 1.0,
    "trained_betas": None, "thresholding": False, "rescale_betas_zero_snr": False,
}


def write_png(path, rgb):
    """rgb: uint8 (H, W, 3) numpy array."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[i].tobytes() for i in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def grid(imgs, cols=10, scale=2):
    import numpy as np
    n = len(imgs)
    rows = (n + cols - 1) // cols
    h, w = imgs.shape[1:3]
    g = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, cols)
        g[r * h:(r + 1) * h, c * w:(c + 1) * w] = im
    return g.repeat(scale, 0).repeat(scale, 1)
