"""Reference transformers `CLIPTextModel`, `CLIPVisionModel` towers and `CLIPModel` in torch.

Built from real-format config dicts (CLIPTextConfig / CLIPVisionConfig / CLIPConfig keys);
`state_dict()` keys equal those of transformers (the `position_ids` buffers are not
persistent, as in transformers >= 4.31, so they are neither saved nor required).

Semantics the C runtime must match:
  * text: x = token_embedding[ids] + position_embedding[0..L-1]; pre-LN encoder layers
    (x += out_proj(attn(layer_norm1 x)); x += fc2(act(fc1(layer_norm2 x)))), attention with a
    CAUSAL mask (token i sees j <= i; no padding mask — padding is causal-masked away for all
    positions before it), q scaled by head_dim^-0.5, all projections with bias;
    last_hidden_state = final_layer_norm(x) (this is what the UNet cross-attends to).
    pooled = last_hidden_state[b, eos_pos(b)] where eos_pos = argmax(ids) if eos_token_id == 2
    (legacy transformers semantic; equals "first position of the highest id", and our
    <|endoftext|> is the highest id) else the first position where ids == eos_token_id.
  * hidden_act: "quick_gelu" = x*sigmoid(1.702x); "gelu" = exact erf GELU.
  * vision: patch conv (no bias, stride = kernel = patch_size) -> tokens; prepend
    class_embedding; + position_embedding; pre_layrnorm; encoder (no mask); pooled =
    post_layernorm(x[:, 0]).
  * CLIPModel: image_embeds = visual_projection(pooled_v), text_embeds = text_projection(pooled_t)
    (no bias), both L2-normalised; logits = exp(logit_scale) * cos.
  * layer_norm_eps from the config (1e-5 default).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT_DEFAULTS = {
    "vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "projection_dim": 512,
    "num_hidden_layers": 12, "num_attention_heads": 8, "max_position_embeddings": 77,
    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "attention_dropout": 0.0, "dropout": 0.0,
    "initializer_range": 0.02, "initializer_factor": 1.0, "pad_token_id": 1, "bos_token_id": 49406,
    "eos_token_id": 2, "model_type": "clip_text_model",
}
VISION_DEFAULTS = {
    "hidden_size": 768, "intermediate_size": 3072, "projection_dim": 512, "num_hidden_layers": 12,
    "num_attention_heads": 12, "num_channels": 3, "image_size": 224, "patch_size": 32,
    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "attention_dropout": 0.0, "dropout": 0.0,
    "initializer_range": 0.02, "initializer_factor": 1.0, "model_type": "clip_vision_model",
}


def _act(name):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return F.gelu
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    raise ValueError(f"unsupported hidden_act {name}")


class CLIPAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.scale = self.hd ** -0.5
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        B, L, D = x.shape
        q = (self.q_proj(x) * self.scale).view(B, L, self.heads, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, L, self.heads, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, L, self.heads, self.hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D)
        return self.out_proj(o)


class CLIPMLP(nn.Module):
    def __init__(self, dim, inter, act):
        super().__init__()
        self.act = _act(act)
        self.fc1 = nn.Linear(dim, inter)
        self.fc2 = nn.Linear(inter, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.self_attn = CLIPAttention(d, c["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = CLIPMLP(d, c["intermediate_size"], c["hidden_act"])
        self.layer_norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, x, mask=None):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, mask=None):
        for l in self.layers:
            x = l(x, mask)
        return x


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"])[None], persistent=False)

    def forward(self, ids):
        return self.token_embedding(ids) + self.position_embedding(self.position_ids[:, : ids.shape[1]])


class CLIPTextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embeddings = CLIPTextEmbeddings(c)
        self.encoder = CLIPEncoder(c)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids):
        L = ids.shape[1]
        x = self.embeddings(ids)
        mask = torch.full((L, L), float("-inf"), device=ids.device).triu(1)[None, None]
        x = self.final_layer_norm(self.encoder(x, mask))
        if self.c["eos_token_id"] == 2:
            pos = ids.argmax(-1)
        else:
            pos = (ids == self.c["eos_token_id"]).int().argmax(-1)
        pooled = x[torch.arange(x.shape[0], device=x.device), pos]
        return x, pooled


class CLIPTextModel(nn.Module):
    """transformers CLIPTextModel: forward(ids) -> (last_hidden_state, pooler_output)."""

    def __init__(self, config):
        super().__init__()
        c = dict(TEXT_DEFAULTS)
        c.update(config)
        self.config = c
        self.text_model = CLIPTextTransformer(c)

    def forward(self, ids):
        return self.text_model(ids)


class CLIPVisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.class_embedding = nn.Parameter(torch.randn(d))
        self.patch_embedding = nn.Conv2d(c["num_channels"], d, p, stride=p, bias=False)
        n = (c["image_size"] // p) ** 2 + 1
        self.position_embedding = nn.Embedding(n, d)
        self.register_buffer("position_ids", torch.arange(n)[None], persistent=False)

    def forward(self, px):
        B = px.shape[0]
        x = self.patch_embedding(px).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(B, 1, -1), x], dim=1)
        return x + self.position_embedding(self.position_ids)


class CLIPVisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.embeddings = CLIPVisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])  # sic, as in transformers
        self.encoder = CLIPEncoder(c)
        self.post_layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, px):
        x = self.encoder(self.pre_layrnorm(self.embeddings(px)))
        return x, self.post_layernorm(x[:, 0])


class CLIPModel(nn.Module):
    """transformers CLIPModel.  Config: {"projection_dim", "logit_scale_init_value",
    "text_config": {...}, "vision_config": {...}}."""

    def __init__(self, config):
        super().__init__()
        tc = dict(TEXT_DEFAULTS)
        tc.update(config.get("text_config", {}))
        vc = dict(VISION_DEFAULTS)
        vc.update(config.get("vision_config", {}))
        self.config, self.tc, self.vc = config, tc, vc
        pd = config.get("projection_dim", 512)
        self.text_model = CLIPTextTransformer(tc)
        self.vision_model = CLIPVisionTransformer(vc)
        self.visual_projection = nn.Linear(vc["hidden_size"], pd, bias=False)
        self.text_projection = nn.Linear(tc["hidden_size"], pd, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.get("logit_scale_init_value", 2.6592))))

    def get_text_features(self, ids):
        return self.text_projection(self.text_model(ids)[1])

    def get_image_features(self, px):
        return self.visual_projection(self.vision_model(px)[1])

    def forward(self, ids, px):
        """-> (logits_per_image (Bi,Bt), text_embeds normed, image_embeds normed)."""
        t = F.normalize(self.get_text_features(ids), dim=-1)
        i = F.normalize(self.get_image_features(px), dim=-1)
        return self.logit_scale.exp() * i @ t.t(), t, i
