"""Self-check of the reference modules: they run, and their state_dict keys / parameter counts
equal those of the real libraries for real configs (SD 1.5 UNet 859,520,964 params / 686
tensors; SD 2.1 UNet 865,910,724; CLIP ViT-L/14 text tower 123,060,480; CLIP ViT-B/32
CLIPModel 151,277,313), plus a few spot-checked key names and shapes.  Weights of the big
models are left uninitialised (allocation only) to keep this fast.

    /usr/bin/python3 tools/ref/selfcheck.py
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip import CLIPModel, CLIPTextModel  # noqa: E402
from ddim import DDIM, sample_cfg  # noqa: E402
from unet import UNet2DConditionModel  # noqa: E402

SD15 = {"attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280], "cross_attention_dim": 768,
        "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], "in_channels": 4, "out_channels": 4,
        "layers_per_block": 2, "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3, "sample_size": 64}
SD21 = dict(SD15, attention_head_dim=[5, 10, 20, 20], cross_attention_dim=1024, use_linear_projection=True,
            upcast_attention=True, sample_size=96)
VITL14_TEXT = {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
               "projection_dim": 768}


class _NoInit:
    def __enter__(self):
        self.saved = [(m, m.reset_parameters) for m in (nn.Linear, nn.Conv2d, nn.Embedding, nn.LayerNorm, nn.GroupNorm)]
        for m, _ in self.saved:
            m.reset_parameters = lambda self: None

    def __exit__(self, *a):
        for m, f in self.saved:
            m.reset_parameters = f


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def main():
    with _NoInit():
        u = UNet2DConditionModel(SD15)
        sd = u.state_dict()
        assert n_params(u) == 859520964, n_params(u)
        assert len(sd) == 686, len(sd)
        for k, shape in {
            "conv_in.weight": (320, 4, 3, 3), "time_embedding.linear_1.weight": (1280, 320),
            "down_blocks.0.resnets.0.time_emb_proj.weight": (320, 1280),
            "down_blocks.1.resnets.0.conv_shortcut.weight": (640, 320, 1, 1),
            "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight": (320, 768),
            "down_blocks.0.attentions.0.proj_in.weight": (320, 320, 1, 1),
            "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight": (2560, 320),
            "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight": (320, 1280),
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0.bias": (320,),
            "down_blocks.2.downsamplers.0.conv.weight": (1280, 1280, 3, 3),
            "mid_block.attentions.0.norm.weight": (1280,), "mid_block.resnets.1.conv2.weight": (1280, 1280, 3, 3),
            "up_blocks.0.resnets.2.conv1.weight": (1280, 2560, 3, 3), "up_blocks.0.upsamplers.0.conv.weight": (1280, 1280, 3, 3),
            "up_blocks.1.resnets.2.conv1.weight": (1280, 1920, 3, 3), "up_blocks.3.resnets.0.conv1.weight": (320, 960, 3, 3),
            "up_blocks.3.attentions.2.transformer_blocks.0.norm3.weight": (320,),
            "conv_norm_out.weight": (320,), "conv_out.weight": (4, 320, 3, 3),
        }.items():
            assert tuple(sd[k].shape) == shape, (k, tuple(sd[k].shape), shape)
        assert "up_blocks.3.upsamplers.0.conv.weight" not in sd and "down_blocks.3.downsamplers.0.conv.weight" not in sd
        del u, sd
        u = UNet2DConditionModel(SD21)
        assert n_params(u) == 865910724, n_params(u)
        assert tuple(u.state_dict()["down_blocks.0.attentions.0.proj_in.weight"].shape) == (320, 320)
        del u
        t = CLIPTextModel(VITL14_TEXT)
        assert n_params(t) == 123060480, n_params(t)
        ks = set(t.state_dict())
        for k in ("text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
                  "text_model.encoder.layers.11.self_attn.q_proj.bias", "text_model.encoder.layers.0.mlp.fc1.weight",
                  "text_model.encoder.layers.0.layer_norm2.bias", "text_model.final_layer_norm.weight"):
            assert k in ks, k
        del t
        c = CLIPModel({"projection_dim": 512, "text_config": {}, "vision_config": {}})
        assert n_params(c) == 151277313, n_params(c)
        ks = set(c.state_dict())
        for k in ("logit_scale", "visual_projection.weight", "text_projection.weight",
                  "vision_model.embeddings.class_embedding", "vision_model.embeddings.patch_embedding.weight",
                  "vision_model.pre_layrnorm.weight", "vision_model.post_layernorm.bias",
                  "vision_model.encoder.layers.11.self_attn.out_proj.weight"):
            assert k in ks, k
        del c
    # small models run, shapes right, CFG sampler runs for every scheduler variant
    torch.manual_seed(0)
    cfg = {"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
           "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "attention_head_dim": [1, 2], "in_channels": 3,
           "out_channels": 3, "cross_attention_dim": 16, "norm_num_groups": 8, "layers_per_block": [1, 2]}
    u = UNet2DConditionModel(cfg)
    te = CLIPTextModel({"vocab_size": 50, "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2,
                        "num_hidden_layers": 2, "max_position_embeddings": 10, "eos_token_id": 49})
    ids = torch.tensor([[48, 5, 6, 49, 49, 49, 49, 49, 49, 49]])
    h, pooled = te(ids)
    assert torch.allclose(pooled, h[:, 3]) and h.shape == (1, 10, 16)
    # causal: changing a token after position 3 must not change outputs up to 3
    ids2 = ids.clone()
    ids2[0, 6] = 7
    assert torch.allclose(te(ids2)[0][:, :4], h[:, :4])
    for sched in ({"prediction_type": "epsilon"}, {"prediction_type": "v_prediction", "timestep_spacing": "trailing",
                                                     "beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02}):
        d = DDIM(sched)
        x = sample_cfg(u, d, h, h * 0, steps=4, guidance=3.0, eta=1.0, shape=(3, 8, 8))
        assert x.shape == (1, 3, 8, 8) and torch.isfinite(x).all()
    assert DDIM({}).timesteps(10) == [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]
    assert DDIM({"timestep_spacing": "trailing"}).timesteps(10) == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    print("selfcheck ok")


if __name__ == "__main__":
    main()
