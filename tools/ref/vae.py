"""Reference diffusers `AutoencoderKL` DECODER in plain torch (no diffusers needed).

Built from a real-format vae/config.json dict; `state_dict()` keys and shapes are those of
diffusers >= 0.14 for the decoding half of the model (`post_quant_conv.*`, `decoder.*`), so a
real checkpoint's decoder tensors load here and the fixtures written from this module use the
names the C runtime asks for.  The encoder and quant_conv are not built.

Semantics the C runtime must match (all f32):
  * the pipeline's latent scaling happens first: z = latents / scaling_factor (+ shift_factor
    when the config has one, as SD3's pipeline does); `decode()` includes it, `forward_raw()`
    starts after it.
  * post_quant_conv: 1x1 conv latent -> latent (only when use_post_quant_conv).
  * Decoder: conv_in (3x3, latent -> block_out_channels[-1]); mid_block = UNetMidBlock2D:
    resnets.0, attentions.0 (only when mid_block_add_attention), resnets.1; up_blocks in
    reversed channel order, each UpDecoderBlock2D with layers_per_block + 1 resnets and, except
    the last, upsamplers.0 = nearest x2 then 3x3 conv; conv_norm_out (GroupNorm) -> SiLU ->
    conv_out (3x3, block_out_channels[0] -> out_channels).
  * every GroupNorm in the decoder (resnets, attention, conv_norm_out) has eps 1e-6 and
    norm_num_groups groups.
  * ResnetBlock2D without time embedding: h = conv1(silu(norm1 x)); h = conv2(silu(norm2 h));
    out = (conv_shortcut(x) if Cin != Cout else x) + h  (conv_shortcut is 1x1).
  * mid attention (diffusers Attention with _from_deprecated_attn_block): ONE head of
    dim C = block_out_channels[-1]; x [B,C,H,W] -> tokens [B,HW,C]; group_norm over channels
    (applied in NCHW); q/k/v = Linear(C,C) WITH bias; softmax(q k^T / sqrt(C)) v; to_out.0
    Linear with bias; back to NCHW; + residual (rescale_output_factor 1).
  * output is the raw decoder output (about -1..1), not clamped.
Also `tiled_decode()`: diffusers' AutoencoderKL.tiled_decode (tiles of sample_size/8 latents,
overlap factor 0.25, linear blending of tile seams), for checking tiled decoding.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_VAE_CONFIG = {
    "_class_name": "AutoencoderKL",
    "_diffusers_version": "0.21.4",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "force_upcast": True,
    "use_quant_conv": True,
    "use_post_quant_conv": True,
    "mid_block_add_attention": True,
    "shift_factor": None,
}

EPS = 1e-6


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, eps=EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


class Attention(nn.Module):
    """Single-head spatial self-attention of the VAE mid block (diffusers >= 0.14 names)."""

    def __init__(self, ch, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, ch, eps=EPS)
        self.to_q = nn.Linear(ch, ch)
        self.to_k = nn.Linear(ch, ch)
        self.to_v = nn.Linear(ch, ch)
        self.to_out = nn.ModuleList([nn.Linear(ch, ch), nn.Dropout(0.0)])

    def forward(self, x):
        B, C, H, W = x.shape
        res = x
        h = self.group_norm(x).view(B, C, H * W).transpose(1, 2)
        q, k, v = self.to_q(h), self.to_k(h), self.to_v(h)
        p = ((q @ k.transpose(1, 2)) * C ** -0.5).softmax(-1)
        o = self.to_out[1](self.to_out[0](p @ v))
        return o.transpose(1, 2).reshape(B, C, H, W) + res


class UNetMidBlock2D(nn.Module):
    def __init__(self, ch, groups, add_attention):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, groups), ResnetBlock2D(ch, ch, groups)])
        self.attentions = nn.ModuleList([Attention(ch, groups)]) if add_attention else None

    def forward(self, x):
        x = self.resnets[0](x)
        if self.attentions is not None:
            x = self.attentions[0](x)
        return self.resnets[1](x)


class Upsample2D(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UpDecoderBlock2D(nn.Module):
    def __init__(self, cin, cout, layers, groups, add_upsample):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, groups) for i in range(layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if add_upsample else None

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        boc, groups = list(c["block_out_channels"]), c["norm_num_groups"]
        self.conv_in = nn.Conv2d(c["latent_channels"], boc[-1], 3, padding=1)
        self.mid_block = UNetMidBlock2D(boc[-1], groups, c["mid_block_add_attention"])
        rboc = boc[::-1]
        self.up_blocks = nn.ModuleList()
        out = rboc[0]
        for i in range(len(rboc)):
            prev, out = out, rboc[i]
            self.up_blocks.append(UpDecoderBlock2D(prev, out, c["layers_per_block"] + 1, groups, i != len(rboc) - 1))
        self.conv_norm_out = nn.GroupNorm(groups, boc[0], eps=EPS)
        self.conv_out = nn.Conv2d(boc[0], c["out_channels"], 3, padding=1)

    def forward(self, z):
        h = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            h = b(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class AutoencoderKLDecoder(nn.Module):
    """The decoding half of diffusers AutoencoderKL: state_dict keys post_quant_conv.*, decoder.*."""

    def __init__(self, config):
        super().__init__()
        c = dict(DEFAULT_VAE_CONFIG)
        c.update(config)
        self.config = c
        if c["act_fn"] != "silu":
            raise ValueError(f"unsupported act_fn {c['act_fn']!r}")
        for t in c["up_block_types"]:
            if t != "UpDecoderBlock2D":
                raise ValueError(f"unsupported up block {t}")
        lc = c["latent_channels"]
        self.post_quant_conv = nn.Conv2d(lc, lc, 1) if c["use_post_quant_conv"] else None
        self.decoder = Decoder(c)

    def forward_raw(self, z):
        """AutoencoderKL.decode(z).sample: z already unscaled."""
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        return self.decoder(z)

    def unscale(self, latents):
        z = latents / self.config["scaling_factor"]
        if self.config.get("shift_factor") is not None:
            z = z + self.config["shift_factor"]
        return z

    def decode(self, latents):
        """What the pipeline does with the final latents: unscale, then decode (no clamp)."""
        return self.forward_raw(self.unscale(latents))

    def tiled_decode(self, latents, tile_latent=None, overlap_factor=0.25):
        """diffusers AutoencoderKL.tiled_decode after unscaling (tile sizes from sample_size)."""
        z = self.unscale(latents)
        up = 2 ** (len(self.config["block_out_channels"]) - 1)
        tile_sample = self.config["sample_size"] if tile_latent is None else tile_latent * up
        tile_latent = tile_sample // up if tile_latent is None else tile_latent
        overlap = int(tile_latent * (1 - overlap_factor))
        blend = int(tile_sample * overlap_factor)
        limit = tile_sample - blend
        rows = []
        for i in range(0, z.shape[2], overlap):
            row = []
            for j in range(0, z.shape[3], overlap):
                row.append(self.forward_raw(z[:, :, i:i + tile_latent, j:j + tile_latent]))
            rows.append(row)
        out_rows = []
        for i, row in enumerate(rows):
            out = []
            for j, tile in enumerate(row):
                if i > 0:
                    tile = _blend_v(rows[i - 1][j], tile, blend)
                if j > 0:
                    tile = _blend_h(row[j - 1], tile, blend)
                row[j] = tile
                out.append(tile[:, :, :limit, :limit])
            out_rows.append(torch.cat(out, dim=3))
        return torch.cat(out_rows, dim=2)


def _blend_v(a, b, extent):
    extent = min(a.shape[2], b.shape[2], extent)
    b = b.clone()
    for y in range(extent):
        b[:, :, y, :] = a[:, :, -extent + y, :] * (1 - y / extent) + b[:, :, y, :] * (y / extent)
    return b


def _blend_h(a, b, extent):
    extent = min(a.shape[3], b.shape[3], extent)
    b = b.clone()
    for x in range(extent):
        b[:, :, :, x] = a[:, :, :, -extent + x] * (1 - x / extent) + b[:, :, :, x] * (x / extent)
    return b
