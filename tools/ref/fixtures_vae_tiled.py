"""Fixture for the tiled VAE decode (tests/models/test_vae.c): the vae case of tests/data/nets decoded
from 1×4×20×20 latents with diffusers' tiled_decode (tiles of 8 latents, overlap factor 0.25:
tile starts 0, 6, 12, 18, so the last tiles are 2 latents wide), written to
tests/data/nets/vae_tiled.safetensors (inputs and expected output only; the weights are vae's).

    /usr/bin/python3 tools/ref/fixtures_vae_tiled.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch  # noqa: E402

from safetensors_io import load_file, save_file  # noqa: E402
from vae import AutoencoderKLDecoder  # noqa: E402

NETS = os.path.join(HERE, "..", "..", "tests", "data", "nets")

if __name__ == "__main__":
    cfg = json.load(open(os.path.join(NETS, "vae.json")))
    sd = {k: torch.tensor(v) for k, v in load_file(os.path.join(NETS, "vae.safetensors")).items() if not k.startswith("fixture.")}
    dec = AutoencoderKLDecoder(cfg)
    dec.load_state_dict(sd)
    dec.eval()
    g = torch.Generator().manual_seed(20261122)
    latents = torch.randn(1, cfg.get("latent_channels", 4), 20, 20, generator=g) * 0.6
    with torch.no_grad():
        tiled = dec.tiled_decode(latents, tile_latent=8, overlap_factor=0.25)
        whole = dec.decode(latents)
    print("tiled vs whole decode, relative L2:", float((tiled - whole).norm() / whole.norm()))
    save_file({"fixture.latents": latents.float().contiguous(), "fixture.tiled_image": tiled.float().contiguous()},
              os.path.join(NETS, "vae_tiled.safetensors"), {"tile_latent": "8", "overlap_factor": "0.25"})
    print("wrote", os.path.normpath(os.path.join(NETS, "vae_tiled.safetensors")), tuple(tiled.shape))
