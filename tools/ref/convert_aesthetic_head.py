"""Convert a LAION aesthetic-predictor head (the PyTorch state dict released as e.g.
sac+logos+ava1-l14-linearMSE.pth: layers.0/2/4/6/7 Linear weights and biases, no activations)
to the safetensors file evoke's "aesthetic" reward reads:

    /usr/bin/python3 tools/ref/convert_aesthetic_head.py HEAD.pth head.safetensors

and use it as {"type":"aesthetic","clip":"<CLIP ViT-L/14 CLIPModel folder>","head":"head.safetensors"}.
The names are kept; only Linear layers are allowed (evoke collapses them to one affine map).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

from safetensors_io import save_file  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sd = torch.load(sys.argv[1], map_location="cpu")
    if "state_dict" in sd:
        sd = sd["state_dict"]
    out = {}
    for k, v in sd.items():
        if not (k.startswith("layers.") and (k.endswith(".weight") or k.endswith(".bias"))):
            sys.exit(f"{sys.argv[1]}: unexpected tensor {k!r} (only layers.N.weight / layers.N.bias)")
        out[k] = v.float().contiguous()
    save_file(out, sys.argv[2])
    print(f"wrote {len(out)} tensors to {sys.argv[2]}")


if __name__ == "__main__":
    main()
