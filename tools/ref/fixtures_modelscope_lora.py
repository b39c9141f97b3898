#!/usr/bin/env python3
"""fixtures_modelscope_lora.py — T2V-Turbo v1's LoRA list over the tiny ModelScope student, for
tests/models/test_modelscope.c (test_lora) and tests/cli/cli_modelscope.sh (--lora). Run
fixtures_modelscope.py first: the student is its unet_lcm (a UNet3DConditionModel that holds
time_embedding.cond_proj, which no teacher checkpoint holds).

Reference: T2V-Turbo eaae323f10d136796a33e8f5304ed50e40def570 over diffusers v0.28.2, run from
scratch folders outside this repository with fixtures_modelscope.py's stand-ins:
  - the list as training writes it: utils/lora_handler.py LoraHandler(version="cloneofsimo") —
    its default unet_replace_modules ["UNet3DConditionModel"] — add_lora_to_model(r=2) injects a
    pair into every nn.Linear / nn.Conv2d / nn.Conv3d of the UNet; the pairs are randomised
    (f16-exact) and utils/lora.py save_lora_weight writes the bare list [up, down, up, down, ...];
  - read back as app_ms.py does: a fresh UNet3DConditionModel, load_state_dict(base, strict=False), add_lora_to_model(lora_path=LIST, dropout=0.1, r=32),
    collapse_lora, monkeypatch_remove_lora, eval.
The UNet is diffusers' UNet3DConditionModel: T2V-Turbo's model_scope copy builds transformer_in
with 32 groups whatever the config says, which the 8-channel fixture cannot have. The module order
the list follows is checked to be the same in both classes on a 32-group config.

Usage:
  EVK_DIFFUSERS=<diffusers v0.28.2>/src EVK_T2V_TURBO=<t2v-turbo> /usr/bin/python3 tools/ref/fixtures_modelscope_lora.py

Written to tests/data/nets/modelscope/: unet_lora.pt (the list), lora_ref.safetensors (lora.out
[2, 4, F, h, w]: one call of the merged UNet on fixture.safetensors' unet.sample, unet.timestep,
unet.context with T2V-Turbo's w-embedding of w = 7.5 for both clips).
"""
import json
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fixtures_modelscope as fm  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402


def layer_names(unet):
    return [n for n, m in unet.named_modules() if type(m) in (nn.Linear, nn.Conv2d, nn.Conv3d)]


def main():
    t2v = fm.use_diffusers(need_t2v_turbo=True)
    sys.path.insert(0, t2v)
    from diffusers.models.unets.unet_3d_condition import UNet3DConditionModel as DiffusersUNet3D
    from model_scope.unet_3d_condition import UNet3DConditionModel
    from pipeline.t2v_turbo_ms_pipeline import T2VTurboMSPipeline
    from utils.lora import collapse_lora, extract_lora_ups_down, monkeypatch_remove_lora, save_lora_weight
    from utils.lora_handler import LoraHandler

    d = os.path.join(fm.OUT, "unet_lcm")
    with open(os.path.join(d, "config.json")) as f:
        cfg = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    base = load_file(os.path.join(d, "diffusion_pytorch_model.safetensors"), as_torch=True)

    def fresh():
        m = DiffusersUNet3D(**cfg)
        missing, unexpected = m.load_state_dict(base, strict=False)
        assert not missing and not unexpected, (missing, unexpected)
        return m

    order = layer_names(fresh())
    wide = dict(cfg, block_out_channels=[32, 64], norm_num_groups=32, cross_attention_dim=32)
    assert layer_names(UNet3DConditionModel(**wide)) == layer_names(DiffusersUNet3D(**wide)), \
        "T2V-Turbo's and diffusers' UNet3D differ in module order"
    print(f"{len(order)} Linear/Conv2d/Conv3d layers, from {order[0]} to {order[-1]}")

    gen = torch.Generator().manual_seed(20261209)
    list_path = os.path.join(fm.OUT, "unet_lora.pt")
    src_unet = fresh()
    handler = LoraHandler(version="cloneofsimo", use_unet_lora=True, save_for_webui=True)
    replace = handler.unet_replace_modules
    assert replace == ["UNet3DConditionModel"], replace
    handler.add_lora_to_model(True, src_unet, replace, dropout=0.1, r=2)
    with torch.no_grad():
        for up, down in extract_lora_ups_down(src_unet, target_replace_module=replace):
            for m in (up, down):
                m.weight.copy_((torch.randn(m.weight.shape, generator=gen) / m.weight[0].numel() ** 0.5 * 0.5).half().float())
    save_lora_weight(src_unet, list_path, replace)
    n = len(torch.load(list_path))
    assert n == 2 * len(order), (n, len(order))

    unet = fresh()
    handler = LoraHandler(version="cloneofsimo", use_unet_lora=True, save_for_webui=True)
    handler.add_lora_to_model(True, unet, handler.unet_replace_modules, lora_path=list_path, dropout=0.1, r=32)
    collapse_lora(unet, handler.unet_replace_modules)
    monkeypatch_remove_lora(unet)
    unet.eval()
    plain = fresh().eval()

    fx = load_file(os.path.join(fm.OUT, "fixture.safetensors"), as_torch=True)
    x, t, ctx = fx["unet.sample"], fx["unet.timestep"].long(), fx["unet.context"]
    wemb = T2VTurboMSPipeline.get_w_embedding(None, torch.tensor([7.5, 7.5]), embedding_dim=256)
    with torch.no_grad():
        out = unet(x, t, encoder_hidden_states=ctx, timestep_cond=wemb).sample
        out0 = plain(x, t, encoder_hidden_states=ctx, timestep_cond=wemb).sample
    moved = ((out - out0).norm() / out0.norm()).item()
    print(f"the LoRA moves the UNet's output by {moved:.3g} (relative L2)")
    assert moved > 0.05 and torch.isfinite(out).all()
    save_file({"lora.out": out.contiguous()}, os.path.join(fm.OUT, "lora_ref.safetensors"))
    for f in ("unet_lora.pt", "lora_ref.safetensors"):
        print(f"{f}: {os.path.getsize(os.path.join(fm.OUT, f))} bytes")


if __name__ == "__main__":
    main()
