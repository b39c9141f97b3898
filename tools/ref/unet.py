"""Reference diffusers `UNet2DConditionModel` in plain torch (no diffusers needed).

Built from a real-format unet/config.json dict; `state_dict()` keys, shapes and forward
semantics are those of diffusers (default options of SD 1.x/2.x), so weights load in either
direction.  Supported: down blocks CrossAttnDownBlock2D / DownBlock2D, mid block
UNetMidBlock2DCrossAttn, up blocks CrossAttnUpBlock2D / UpBlock2D, resnet_time_scale_shift
"default", only_cross_attention false, attention_head_dim int or per-block list (NB: as in
diffusers, `attention_head_dim` is really the NUMBER OF HEADS unless `num_attention_heads`
is given; head dim = channels // heads), use_linear_projection, upcast_attention (attention
scores in f32; a no-op here since everything is f32), transformer_layers_per_block int.

Semantics the C runtime must match (all f32):
  * time_proj: half = C0//2; freq_k = exp(-ln(10000) * k / (half - freq_shift)), k < half;
    emb = [sin(t*f), cos(t*f)]; flip_sin_to_cos swaps to [cos, sin].
  * time_embedding: linear_1 -> SiLU -> linear_2 (time_embed_dim = 4*C0 unless time_embedding_dim).
  * ResnetBlock2D: h = conv1(silu(norm1(x))); h += time_emb_proj(silu(temb))[:, :, None, None];
    h = conv2(silu(norm2(h))); out = conv_shortcut(x) (1x1, only when Cin != Cout) + h.
    GroupNorm eps = norm_eps, groups = norm_num_groups.
  * Transformer2DModel: GroupNorm(norm_num_groups, eps=1e-6 — fixed, NOT norm_eps), proj_in
    (1x1 conv, or Linear after flattening when use_linear_projection), BasicTransformerBlocks
    (LayerNorm eps 1e-5; x += attn1(norm1 x); x += attn2(norm2 x, text); x += ff(norm3 x);
    attention q/k/v without bias, to_out.0 with bias, scale 1/sqrt(head_dim); ff = GEGLU:
    proj -> (h, gate) = chunk(2, last dim) -> h * gelu_exact(gate) -> net.2), proj_out,
    + residual.
  * Downsample2D: 3x3 conv stride 2 padding 1.  Upsample2D: nearest x2 then 3x3 conv.
  * Skip connections: conv_in output and every resnet/attention output and every downsampler
    output are pushed; up blocks pop from the end and concatenate [h, skip] on channels.
  * out: conv_out(silu(conv_norm_out(h))).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_UNET_CONFIG = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.21.4",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "resnet_time_scale_shift": "default",
    "sample_size": 64,
    "transformer_layers_per_block": 1,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "upcast_attention": False,
    "use_linear_projection": False,
}


def timestep_embedding(t, dim, flip_sin_to_cos, freq_shift, max_period=10000.0):
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device)
    exponent = exponent / (half - freq_shift)
    emb = t.float()[:, None] * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1))
    return emb


class Timesteps(nn.Module):
    def __init__(self, dim, flip_sin_to_cos, freq_shift):
        super().__init__()
        self.dim, self.flip, self.shift = dim, flip_sin_to_cos, freq_shift

    def forward(self, t):
        return timestep_embedding(t, self.dim, self.flip, self.shift)


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


class Attention(nn.Module):
    def __init__(self, query_dim, heads, dim_head, cross_dim=None, upcast=False):
        super().__init__()
        inner = heads * dim_head
        cross_dim = cross_dim or query_dim
        self.heads, self.dim_head, self.upcast = heads, dim_head, upcast
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(cross_dim, inner, bias=False)
        self.to_v = nn.Linear(cross_dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim), nn.Dropout(0.0)])

    def forward(self, x, ctx=None, mask=None):
        ctx = x if ctx is None else ctx
        B, N, _ = x.shape
        M = ctx.shape[1]
        h, d = self.heads, self.dim_head
        q = self.to_q(x).view(B, N, h, d).transpose(1, 2)
        k = self.to_k(ctx).view(B, M, h, d).transpose(1, 2)
        v = self.to_v(ctx).view(B, M, h, d).transpose(1, 2)
        s = (q.float() @ k.float().transpose(-1, -2)) * (d ** -0.5)
        if mask is not None:
            s = s + mask
        p = s.softmax(-1).to(v.dtype)
        o = (p @ v).transpose(1, 2).reshape(B, N, h * d)
        return self.to_out[1](self.to_out[0](o))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, dim_head, cross_dim, upcast):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, dim_head, None, upcast)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, dim_head, cross_dim, upcast)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, ctx):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), ctx) + x
        x = self.ff(self.norm3(x)) + x
        return x


class Transformer2DModel(nn.Module):
    def __init__(self, heads, dim_head, cin, layers, cross_dim, groups, linear_proj, upcast):
        super().__init__()
        inner = heads * dim_head
        self.linear_proj = linear_proj
        self.norm = nn.GroupNorm(groups, cin, eps=1e-6)
        self.proj_in = nn.Linear(cin, inner) if linear_proj else nn.Conv2d(cin, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, cross_dim, upcast) for _ in range(layers)])
        self.proj_out = nn.Linear(inner, cin) if linear_proj else nn.Conv2d(inner, cin, 1)

    def forward(self, x, ctx):
        B, C, H, W = x.shape
        res = x
        h = self.norm(x)
        if not self.linear_proj:
            h = self.proj_in(h)
            h = h.permute(0, 2, 3, 1).reshape(B, H * W, -1)
        else:
            h = self.proj_in(h.permute(0, 2, 3, 1).reshape(B, H * W, C))
        for blk in self.transformer_blocks:
            h = blk(h, ctx)
        if not self.linear_proj:
            h = h.reshape(B, H, W, -1).permute(0, 3, 1, 2)
            h = self.proj_out(h)
        else:
            h = self.proj_out(h).reshape(B, H, W, C).permute(0, 3, 1, 2)
        return h + res


class Downsample2D(nn.Module):
    def __init__(self, ch, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=padding)

    def forward(self, x):
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    """CrossAttnDownBlock2D (with_attn) or DownBlock2D."""

    def __init__(self, cin, cout, temb, layers, add_down, with_attn, heads, tlayers, cross_dim,
                 groups, eps, linear_proj, upcast, down_pad):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if i == 0 else cout, cout, temb, groups, eps) for i in range(layers)])
        if with_attn:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(heads, cout // heads, cout, tlayers, cross_dim, groups, linear_proj, upcast)
                 for _ in range(layers)])
        else:
            self.attentions = None
        self.downsamplers = nn.ModuleList([Downsample2D(cout, down_pad)]) if add_down else None

    def forward(self, h, temb, ctx):
        outs = []
        for i, r in enumerate(self.resnets):
            h = r(h, temb)
            if self.attentions is not None:
                h = self.attentions[i](h, ctx)
            outs.append(h)
        if self.downsamplers is not None:
            h = self.downsamplers[0](h)
            outs.append(h)
        return h, outs


class UpBlock(nn.Module):
    """CrossAttnUpBlock2D (with_attn) or UpBlock2D."""

    def __init__(self, cin, cout, prev, temb, layers, add_up, with_attn, heads, tlayers, cross_dim,
                 groups, eps, linear_proj, upcast):
        super().__init__()
        rs = []
        for i in range(layers):
            skip = cin if i == layers - 1 else cout
            rin = prev if i == 0 else cout
            rs.append(ResnetBlock2D(rin + skip, cout, temb, groups, eps))
        self.resnets = nn.ModuleList(rs)
        if with_attn:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(heads, cout // heads, cout, tlayers, cross_dim, groups, linear_proj, upcast)
                 for _ in range(layers)])
        else:
            self.attentions = None
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if add_up else None

    def forward(self, h, skips, temb, ctx):
        for i, r in enumerate(self.resnets):
            h = torch.cat([h, skips.pop()], dim=1)
            h = r(h, temb)
            if self.attentions is not None:
                h = self.attentions[i](h, ctx)
        if self.upsamplers is not None:
            h = self.upsamplers[0](h)
        return h


class MidBlock(nn.Module):
    """UNetMidBlock2DCrossAttn."""

    def __init__(self, ch, temb, heads, tlayers, cross_dim, groups, eps, linear_proj, upcast, layers=1):
        super().__init__()
        self.attentions = nn.ModuleList(
            [Transformer2DModel(heads, ch // heads, ch, tlayers, cross_dim, groups, linear_proj, upcast)
             for _ in range(layers)])
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, temb, groups, eps) for _ in range(layers + 1)])

    def forward(self, h, temb, ctx):
        h = self.resnets[0](h, temb)
        for a, r in zip(self.attentions, self.resnets[1:]):
            h = r(a(h, ctx), temb)
        return h


def _per_block(v, n):
    return list(v) if isinstance(v, (list, tuple)) else [v] * n


class UNet2DConditionModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        cfg = dict(DEFAULT_UNET_CONFIG)
        cfg.update({k: v for k, v in config.items()})
        self.config = cfg
        for k, want in (("resnet_time_scale_shift", "default"), ("only_cross_attention", False),
                        ("mid_block_type", "UNetMidBlock2DCrossAttn"), ("act_fn", "silu"),
                        ("center_input_sample", False), ("dual_cross_attention", False)):
            if cfg.get(k, want) != want:
                raise ValueError(f"unsupported {k}={cfg[k]!r}")
        if cfg.get("class_embed_type") or cfg.get("addition_embed_type"):
            raise ValueError("class/addition embeddings not supported")
        boc = list(cfg["block_out_channels"])
        nb = len(boc)
        heads = _per_block(cfg["num_attention_heads"] or cfg["attention_head_dim"], nb)
        tl = _per_block(cfg["transformer_layers_per_block"], nb)
        lpb = _per_block(cfg["layers_per_block"], nb)
        groups, eps = cfg["norm_num_groups"], cfg["norm_eps"]
        xdim, lin, up = cfg["cross_attention_dim"], cfg["use_linear_projection"], cfg["upcast_attention"]
        temb = cfg.get("time_embedding_dim") or boc[0] * 4
        self.conv_in = nn.Conv2d(cfg["in_channels"], boc[0], 3, padding=1)
        self.time_proj = Timesteps(boc[0], cfg["flip_sin_to_cos"], cfg["freq_shift"])
        self.time_embedding = TimestepEmbedding(boc[0], temb)
        self.down_blocks = nn.ModuleList()
        cout = boc[0]
        for i, bt in enumerate(cfg["down_block_types"]):
            if bt not in ("CrossAttnDownBlock2D", "DownBlock2D"):
                raise ValueError(f"unsupported down block {bt}")
            cin, cout = cout, boc[i]
            self.down_blocks.append(DownBlock(cin, cout, temb, lpb[i], i != nb - 1, bt == "CrossAttnDownBlock2D",
                                              heads[i], tl[i], xdim, groups, eps, lin, up, cfg["downsample_padding"]))
        self.mid_block = MidBlock(boc[-1], temb, heads[-1], tl[-1], xdim, groups, eps, lin, up)
        rboc, rheads, rtl, rlpb = boc[::-1], heads[::-1], tl[::-1], lpb[::-1]
        self.up_blocks = nn.ModuleList()
        cout = rboc[0]
        for i, bt in enumerate(cfg["up_block_types"]):
            if bt not in ("CrossAttnUpBlock2D", "UpBlock2D"):
                raise ValueError(f"unsupported up block {bt}")
            prev, cout = cout, rboc[i]
            cin = rboc[min(i + 1, nb - 1)]
            self.up_blocks.append(UpBlock(cin, cout, prev, temb, rlpb[i] + 1, i != nb - 1, bt == "CrossAttnUpBlock2D",
                                          rheads[i], rtl[i], xdim, groups, eps, lin, up))
        self.conv_norm_out = nn.GroupNorm(groups, boc[0], eps=eps)
        self.conv_out = nn.Conv2d(boc[0], cfg["out_channels"], 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states):
        """sample (B,C,H,W), timestep scalar or (B,), encoder_hidden_states (B,L,D) -> (B,C,H,W)."""
        if not torch.is_tensor(timestep):
            timestep = torch.tensor([timestep], dtype=torch.float32, device=sample.device)
        timestep = timestep.reshape(-1).expand(sample.shape[0])
        temb = self.time_embedding(self.time_proj(timestep))
        h = self.conv_in(sample)
        skips = [h]
        for b in self.down_blocks:
            h, outs = b(h, temb, encoder_hidden_states)
            skips.extend(outs)
        h = self.mid_block(h, temb, encoder_hidden_states)
        for b in self.up_blocks:
            h = b(h, skips, temb, encoder_hidden_states)
        return self.conv_out(F.silu(self.conv_norm_out(h)))
