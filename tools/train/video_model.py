"""A tiny VideoCrafter2-architecture text-to-video model in plain PyTorch (training side).

Three networks with VideoCrafter2's (lvdm's) module and state-dict names, so the exported
checkpoint loads wherever the real `model.ckpt` does:
  model.diffusion_model.*  `UNetModel`  = lvdm openaimodel3d.UNetModel: the SD 2.1-style UNet
        (input_blocks / middle_block / output_blocks of ResBlock + SpatialTransformer) plus a
        TemporalConvBlock (`temopral_conv`, lvdm's spelling) in every ResBlock, a temporal
        self-attention TemporalTransformer after every SpatialTransformer, `init_attn` after
        the first conv, `fps_embedding`, and optionally T2V-Turbo's `time_cond_proj`.
        Frames are folded into the batch ((b t) c h w) except inside the temporal layers.
  cond_stage_model.model.*  `OpenCLIPText` = OpenCLIP's text tower (token_embedding,
        positional_embedding, transformer.resblocks.N.{ln_1, attn.in_proj_weight/bias,
        attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_final, text_projection, logit_scale)
        run as lvdm's FrozenOpenCLIPEmbedder(layer="penultimate"): every block but the last,
        then ln_final; tokens are open_clip's (<sot> text <eot>, padded with id 0 to 77).
  first_stage_model.*  `AutoencoderKL` = SD's / lvdm's KL autoencoder (encoder.down.N.block.M,
        mid.attn_1, quant_conv, post_quant_conv, ...), applied frame by frame.

Diffusion (lvdm LatentDiffusion with VideoCrafter2's inference config): 1000 steps, "linear"
betas = linspace(sqrt 0.00085, sqrt 0.012)^2, eps-prediction, use_scale (scale_arr: linspace
1 -> scale_b over the first 400 steps, then scale_b; x_t = sqrt(acp_t) scale_t x0 +
sqrt(1 - acp_t) eps), latents multiplied by scale_factor, empty-prompt unconditional branch.
`ddim_sample` is lvdm's DDIMSampler (uniform steps + 1, eta 0) with classifier-free guidance.

This file is written from the lvdm sources' semantics; tools/ref/check_vc2_lvdm.py loads our
state dicts into the real lvdm / open_clip modules and compares outputs.
"""
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as Fn


# ----------------------------------------------------------------------------- helpers

def timestep_embedding(t, dim, max_period=10000):
    """lvdm's sinusoidal embedding: [cos(t f), sin(t f)], f = max_period^(-i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half).to(t.device)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def gn(ch, eps=1e-5):
    return nn.GroupNorm(32, ch, eps=eps)


def zero(m):
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


def fold(x):  # b c t h w -> (b t) c h w
    b, c, t, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)


def unfold(x, b):  # (b t) c h w -> b c t h w
    bt, c, h, w = x.shape
    return x.reshape(b, bt // b, c, h, w).permute(0, 2, 1, 3, 4)


# ----------------------------------------------------------------------------- UNet

class Attention(nn.Module):
    """lvdm CrossAttention (no relative position, no image cross-attention)."""

    def __init__(self, query_dim, context_dim=None, heads=8, dim_head=64):
        super().__init__()
        inner = heads * dim_head
        context_dim = context_dim or query_dim
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))

    def forward(self, x, context=None):
        context = x if context is None else context
        b, n, _ = x.shape
        h = self.heads
        q = self.to_q(x).reshape(b, n, h, -1).transpose(1, 2)
        k = self.to_k(context).reshape(b, context.shape[1], h, -1).transpose(1, 2)
        v = self.to_v(context).reshape(b, context.shape[1], h, -1).transpose(1, 2)
        a = (q @ k.transpose(-1, -2) * self.scale).softmax(-1)
        return self.to_out((a @ v).transpose(1, 2).reshape(b, n, -1))


class GEGLU(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * Fn.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """self-attention, cross-attention (self-attention again when context is None), GEGLU FF."""

    def __init__(self, dim, heads, dim_head, context_dim=None):
        super().__init__()
        self.attn1 = Attention(dim, None, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = Attention(dim, context_dim, heads, dim_head)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, context=None):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    def __init__(self, ch, heads, dim_head, depth, context_dim, use_linear):
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = gn(ch, 1e-6)
        self.proj_in = nn.Linear(ch, inner) if use_linear else nn.Conv2d(ch, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, context_dim) for _ in range(depth)])
        self.proj_out = zero(nn.Linear(inner, ch) if use_linear else nn.Conv2d(inner, ch, 1))

    def forward(self, x, context):
        b, c, h, w = x.shape
        y = self.norm(x)
        if not self.use_linear:
            y = self.proj_in(y)
        y = y.flatten(2).transpose(1, 2)
        if self.use_linear:
            y = self.proj_in(y)
        for blk in self.transformer_blocks:
            y = blk(y, context)
        if self.use_linear:
            y = self.proj_out(y)
        y = y.transpose(1, 2).reshape(b, -1, h, w)
        if not self.use_linear:
            y = self.proj_out(y)
        return y + x


class TemporalTransformer(nn.Module):
    """Self-attention along the frame axis at every pixel (only_self_att, no causal mask, no
    relative positions: VideoCrafter2's settings).  The GroupNorm sees all frames at once."""

    def __init__(self, ch, heads, dim_head, depth, use_linear):
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = gn(ch, 1e-6)
        self.proj_in = nn.Linear(ch, inner) if use_linear else nn.Conv1d(ch, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, None) for _ in range(depth)])
        self.proj_out = zero(nn.Linear(inner, ch) if use_linear else nn.Conv1d(inner, ch, 1))

    def forward(self, x):  # b c t h w
        b, c, t, h, w = x.shape
        y = self.norm(x).permute(0, 3, 4, 1, 2).reshape(b * h * w, c, t)
        if not self.use_linear:
            y = self.proj_in(y)
        y = y.transpose(1, 2)
        if self.use_linear:
            y = self.proj_in(y)
        for blk in self.transformer_blocks:
            y = blk(y)
        if self.use_linear:
            y = self.proj_out(y)
        else:
            y = self.proj_out(y.transpose(1, 2)).transpose(1, 2)
        y = y.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)
        return y + x


class TemporalConvBlock(nn.Module):
    """Four (GroupNorm, SiLU, [Dropout], Conv3d (3,1,1)) layers + identity; the last zeroed."""

    def __init__(self, ch):
        super().__init__()
        k, p = (3, 1, 1), (1, 0, 0)
        self.conv1 = nn.Sequential(gn(ch), nn.SiLU(), nn.Conv3d(ch, ch, k, padding=p))
        self.conv2 = nn.Sequential(gn(ch), nn.SiLU(), nn.Dropout(0.1), nn.Conv3d(ch, ch, k, padding=p))
        self.conv3 = nn.Sequential(gn(ch), nn.SiLU(), nn.Dropout(0.1), nn.Conv3d(ch, ch, k, padding=p))
        self.conv4 = nn.Sequential(gn(ch), nn.SiLU(), nn.Dropout(0.1), nn.Conv3d(ch, ch, k, padding=p))
        zero(self.conv4[-1])

    def forward(self, x):
        return self.conv4(self.conv3(self.conv2(self.conv1(x)))) + x


class ResBlock(nn.Module):
    def __init__(self, ch, emb_ch, out_ch=None, temporal_conv=False):
        super().__init__()
        out_ch = out_ch or ch
        self.in_layers = nn.Sequential(gn(ch), nn.SiLU(), nn.Conv2d(ch, out_ch, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_ch, out_ch))
        self.out_layers = nn.Sequential(gn(out_ch), nn.SiLU(), nn.Dropout(0.0),
                                        zero(nn.Conv2d(out_ch, out_ch, 3, padding=1)))
        self.skip_connection = nn.Identity() if out_ch == ch else nn.Conv2d(ch, out_ch, 1)
        if temporal_conv:
            self.temopral_conv = TemporalConvBlock(out_ch)

    def forward(self, x, emb, b):
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        h = self.skip_connection(x) + self.out_layers(h)
        if hasattr(self, "temopral_conv"):
            h = fold(self.temopral_conv(unfold(h, b)))
        return h


class Downsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(Fn.interpolate(x, scale_factor=2, mode="nearest"))


class Block(nn.ModuleList):
    """lvdm TimestepEmbedSequential: numbered children, each called by its kind."""

    def forward(self, x, emb, context, b):
        for m in self:
            if isinstance(m, ResBlock):
                x = m(x, emb, b)
            elif isinstance(m, SpatialTransformer):
                x = m(x, context)
            elif isinstance(m, TemporalTransformer):
                x = fold(m(unfold(x, b)))
            else:
                x = m(x)
        return x


class UNetModel(nn.Module):
    """lvdm openaimodel3d.UNetModel for dims=2, conv_resample, no scale-shift norm, no resblock
    up/down, temporal_selfatt_only, no relative position, no causal attention, transformer and
    temporal_transformer depth as given.  Input/output [b, c, t, h, w]."""

    def __init__(self, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=(1, 2),
                 num_res_blocks=1, channel_mult=(1, 2, 2), num_head_channels=16, transformer_depth=1,
                 context_dim=64, use_linear=True, temporal_conv=True, temporal_attention=True,
                 addition_attention=True, fps_cond=True, time_cond_proj_dim=None,
                 temporal_transformer_depth=1, **ignored):
        super().__init__()
        mc = model_channels
        ted = mc * 4
        self.model_channels, self.fps_cond, self.addition_attention = mc, fps_cond, addition_attention
        self.time_embed = nn.Sequential(nn.Linear(mc, ted), nn.SiLU(), nn.Linear(ted, ted))
        if fps_cond:
            self.fps_embedding = nn.Sequential(nn.Linear(mc, ted), nn.SiLU(), nn.Linear(ted, ted))
        self.time_cond_proj = nn.Linear(time_cond_proj_dim, mc, bias=False) if time_cond_proj_dim else None

        def heads(ch):
            return ch // num_head_channels, num_head_channels

        def attn_layers(ch):
            n, d = heads(ch)
            out = [SpatialTransformer(ch, n, d, transformer_depth, context_dim, use_linear)]
            if temporal_attention:
                out.append(TemporalTransformer(ch, n, d, temporal_transformer_depth, use_linear))
            return out

        self.input_blocks = nn.ModuleList([Block([nn.Conv2d(in_channels, mc, 3, padding=1)])])
        if addition_attention:
            # lvdm: n_heads=8, d_head=num_head_channels, use_linear left at False (Conv1d projections)
            self.init_attn = Block([TemporalTransformer(mc, 8, num_head_channels, transformer_depth, False)])
        chans, ch, ds = [mc], mc, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [ResBlock(ch, ted, mult * mc, temporal_conv)]
                ch = mult * mc
                if ds in attention_resolutions:
                    layers += attn_layers(ch)
                self.input_blocks.append(Block(layers))
                chans.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(Block([Downsample(ch)]))
                chans.append(ch)
                ds *= 2
        mid = [ResBlock(ch, ted, ch, temporal_conv)] + attn_layers(ch) + [ResBlock(ch, ted, ch, temporal_conv)]
        self.middle_block = Block(mid)
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), ted, mc * mult, temporal_conv)]
                ch = mc * mult
                if ds in attention_resolutions:
                    layers += attn_layers(ch)
                if level and i == num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(Block(layers))
        self.out = nn.Sequential(gn(ch), nn.SiLU(), zero(nn.Conv2d(mc, out_channels, 3, padding=1)))

    def forward(self, x, timesteps, context, fps=8, timestep_cond=None):
        b, _, t, _, _ = x.shape
        t_emb = timestep_embedding(timesteps, self.model_channels)
        if timestep_cond is not None:
            t_emb = t_emb + self.time_cond_proj(timestep_cond)
        emb = self.time_embed(t_emb)
        if self.fps_cond:
            if not torch.is_tensor(fps):
                fps = torch.full_like(timesteps, fps)
            emb = emb + self.fps_embedding(timestep_embedding(fps, self.model_channels))
        context = context.repeat_interleave(t, dim=0)
        emb = emb.repeat_interleave(t, dim=0)
        h = fold(x)
        hs = []
        for i, m in enumerate(self.input_blocks):
            h = m(h, emb, context, b)
            if i == 0 and self.addition_attention:
                h = self.init_attn(h, emb, context, b)
            hs.append(h)
        h = self.middle_block(h, emb, context, b)
        for m in self.output_blocks:
            h = m(torch.cat([h, hs.pop()], 1), emb, context, b)
        return unfold(self.out(h), b)


# ----------------------------------------------------------------------------- text encoder

class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, mlp_ratio=4.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        inner = int(width * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, inner)), ("gelu", nn.GELU()),
                                              ("c_proj", nn.Linear(inner, width))]))

    def forward(self, x, mask):  # x: L N D (open_clip's layout in lvdm)
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])


class OpenCLIPTextModel(nn.Module):
    """The text half of open_clip.CLIP (the parameters FrozenOpenCLIPEmbedder keeps)."""

    def __init__(self, vocab_size, width=64, layers=3, heads=1, context_length=77, embed_dim=64):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.transformer = Transformer(width, layers, heads)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=width ** -0.5)
        mask = torch.full((context_length, context_length), float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)


class OpenCLIPText(nn.Module):
    """lvdm FrozenOpenCLIPEmbedder semantics (layer = penultimate), trainable here."""

    def __init__(self, tokenizer, **cfg):
        super().__init__()
        self.model = OpenCLIPTextModel(**cfg)
        self.tok = tokenizer
        self.layer_idx = 1

    def tokens(self, texts):
        return torch.tensor([self.tok(t) for t in texts], dtype=torch.long)

    def encode_tokens(self, ids):
        m = self.model
        x = m.token_embedding(ids) + m.positional_embedding
        x = x.permute(1, 0, 2)
        n = len(m.transformer.resblocks)
        for i, r in enumerate(m.transformer.resblocks):
            if i == n - self.layer_idx:
                break
            x = r(x, m.attn_mask)
        return m.ln_final(x.permute(1, 0, 2))

    def forward(self, texts):
        return self.encode_tokens(self.tokens(texts).to(self.model.positional_embedding.device))


# ----------------------------------------------------------------------------- VAE (SD / lvdm)

def swish(x):
    return x * torch.sigmoid(x)


def vnorm(ch):
    return nn.GroupNorm(32, ch, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = vnorm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = vnorm(cout)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(self.dropout(swish(self.norm2(h))))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class AttnBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.norm = vnorm(ch)
        self.q, self.k, self.v = nn.Conv2d(ch, ch, 1), nn.Conv2d(ch, ch, 1), nn.Conv2d(ch, ch, 1)
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (m(y).reshape(b, c, h * w) for m in (self.q, self.k, self.v))
        a = (q.transpose(1, 2) @ k * c ** -0.5).softmax(-1)  # [b, hw_q, hw_k]
        o = (v @ a.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.proj_out(o)


class VDown(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(Fn.pad(x, (0, 1, 0, 1)))


class VUp(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(Fn.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, in_channels, z_channels, double_z=True, **ignored):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        cin_mult = (1,) + tuple(ch_mult)
        for i, m in enumerate(ch_mult):
            d = nn.Module()
            d.block = nn.ModuleList()
            d.attn = nn.ModuleList()
            cin = ch * cin_mult[i]
            for _ in range(num_res_blocks):
                d.block.append(ResnetBlock(cin, ch * m))
                cin = ch * m
            if i != len(ch_mult) - 1:
                d.downsample = VDown(cin)
            self.down.append(d)
        self.mid = nn.Module()
        self.mid.block_1, self.mid.attn_1, self.mid.block_2 = ResnetBlock(cin, cin), AttnBlock(cin), ResnetBlock(cin, cin)
        self.norm_out = vnorm(cin)
        self.conv_out = nn.Conv2d(cin, 2 * z_channels if double_z else z_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for d in self.down:
            for blk in d.block:
                h = blk(h)
            if hasattr(d, "downsample"):
                h = d.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, out_ch, z_channels, **ignored):
        super().__init__()
        cin = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, cin, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1, self.mid.attn_1, self.mid.block_2 = ResnetBlock(cin, cin), AttnBlock(cin), ResnetBlock(cin, cin)
        ups = []
        for i in reversed(range(len(ch_mult))):
            u = nn.Module()
            u.block = nn.ModuleList()
            u.attn = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                u.block.append(ResnetBlock(cin, ch * ch_mult[i]))
                cin = ch * ch_mult[i]
            if i != 0:
                u.upsample = VUp(cin)
            ups.insert(0, u)
        self.up = nn.ModuleList(ups)
        self.norm_out = vnorm(cin)
        self.conv_out = nn.Conv2d(cin, out_ch, 3, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for u in reversed(self.up):
            for blk in u.block:
                h = blk(h)
            if hasattr(u, "upsample"):
                h = u.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, ddconfig, embed_dim):
        super().__init__()
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        self.quant_conv = nn.Conv2d(2 * ddconfig["z_channels"], 2 * embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)

    def encode(self, x):
        """-> (mean, logvar) of the diagonal Gaussian posterior (logvar clamped to [-30, 20])."""
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ----------------------------------------------------------------------------- configs, schedule

def default_config(vocab_size):
    """The shipped tiny teacher (see tools/train/README.md, video section)."""
    return {
        "frames": 8, "resolution": 32, "fps": 8,
        "unet": {"in_channels": 4, "out_channels": 4, "model_channels": 32, "attention_resolutions": [1, 2],
                 "num_res_blocks": 1, "channel_mult": [1, 2, 2], "num_head_channels": 16, "transformer_depth": 1,
                 "context_dim": 64, "use_linear": True, "use_checkpoint": False, "temporal_conv": True,
                 "temporal_attention": True, "temporal_selfatt_only": True, "use_relative_position": False,
                 "use_causal_attention": False, "temporal_length": 8, "addition_attention": True, "fps_cond": True},
        "vae": {"embed_dim": 4, "ddconfig": {"double_z": True, "z_channels": 4, "resolution": 32, "in_channels": 3,
                                             "out_ch": 3, "ch": 32, "ch_mult": [1, 1, 2], "num_res_blocks": 1,
                                             "attn_resolutions": [], "dropout": 0.0}},
        "text": {"vocab_size": vocab_size, "width": 64, "layers": 3, "heads": 1, "context_length": 77, "embed_dim": 64},
        "diffusion": {"linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000, "use_scale": True,
                      "scale_a": 1.0, "scale_b": 0.7, "mid_step": 400, "scale_factor": 1.0},
    }


class Schedule:
    """lvdm's DDPM buffers for the "linear" (scaled-linear) schedule + VideoCrafter2's scale_arr."""

    def __init__(self, d):
        n = d["timesteps"]
        self.betas = torch.linspace(d["linear_start"] ** 0.5, d["linear_end"] ** 0.5, n, dtype=torch.float64) ** 2
        self.acp = torch.cumprod(1.0 - self.betas, 0)
        self.acp_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.acp[:-1]])
        if d.get("use_scale"):
            # lvdm without fix_scale_bug: linspace(scale_a, scale_b, mid_step) ++ full(timesteps, scale_b)
            self.scale = torch.cat([torch.linspace(d["scale_a"], d["scale_b"], d["mid_step"], dtype=torch.float64),
                                    torch.full((n,), d["scale_b"], dtype=torch.float64)])
        else:
            self.scale = torch.ones(n, dtype=torch.float64)
        self.n = n

    def q_sample(self, x0, t, noise):
        a = self.acp[t].float().sqrt().view(-1, 1, 1, 1, 1)
        s = self.scale[t].float().view(-1, 1, 1, 1, 1)
        return a * s * x0 + (1 - self.acp[t]).float().sqrt().view(-1, 1, 1, 1, 1) * noise

    def buffers(self):
        """The top-level buffers lvdm's LatentDiffusion keeps in its state dict (float32)."""
        f = lambda x: x.float().clone()
        return {"betas": f(self.betas), "alphas_cumprod": f(self.acp), "alphas_cumprod_prev": f(self.acp_prev),
                "sqrt_alphas_cumprod": f(self.acp.sqrt()), "sqrt_one_minus_alphas_cumprod": f((1 - self.acp).sqrt()),
                "log_one_minus_alphas_cumprod": f(torch.log(1 - self.acp)),
                "sqrt_recip_alphas_cumprod": f((1 / self.acp).sqrt()),
                "sqrt_recipm1_alphas_cumprod": f((1 / self.acp - 1).sqrt()), "scale_arr": f(self.scale)}


@torch.no_grad()
def ddim_sample(unet, sched, cond, uncond, shape, steps=50, guidance=7.5, fps=8, generator=None, noise=None,
                eta=0.0):
    """lvdm DDIMSampler.sample: timesteps range(0, 1000, 1000 // steps) + 1, eta 0, CFG
    e = e_u + w (e_c - e_u), VideoCrafter2's scale_arr correction; returns x0 latents
    [b, c, t, h, w] (not yet divided by scale_factor)."""
    c = sched.n // steps
    ts = torch.arange(0, sched.n, c) + 1
    x = noise if noise is not None else torch.randn(shape, generator=generator)
    b = x.shape[0]
    for i in reversed(range(len(ts))):
        t = int(ts[i])
        tp = int(ts[i - 1]) if i > 0 else 0
        a_t, a_prev = float(sched.acp[t]), float(sched.acp[tp])
        s_t, s_prev = float(sched.scale[t]), float(sched.scale[tp])
        tt = torch.full((b,), t, dtype=torch.long)
        if guidance == 1.0 or uncond is None:
            e = unet(x, tt, cond, fps=fps)
        else:
            e2 = unet(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([cond, uncond]), fps=fps)
            ec, eu = e2.chunk(2)
            e = eu + guidance * (ec - eu)
        x0 = (x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) if eta else 0.0
        x0 = x0 / s_t
        x = math.sqrt(a_prev) * s_prev * x0 + math.sqrt(1 - a_prev - sigma ** 2) * e
        if sigma:
            x = x + sigma * torch.randn(x.shape, generator=generator)
    return x


def decode_video(vae, z, scale_factor):
    """latents [b, c, t, h, w] -> frames [b, t, 3, H, W] in [-1, 1] (frame by frame)."""
    b = z.shape[0]
    x = vae.decode(fold(z) / scale_factor)
    return x.reshape(b, -1, *x.shape[1:])


def encode_video(vae, x, scale_factor, sample=True, generator=None):
    """frames [b, t, 3, H, W] in [-1, 1] -> latents [b, c, t, h, w] * scale_factor."""
    b, t = x.shape[:2]
    mean, logvar = vae.encode(x.reshape(b * t, *x.shape[2:]))
    z = mean + (torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator) if sample else 0)
    return unfold(z * scale_factor, b)
