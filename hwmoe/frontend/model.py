"""PyTorch MoE-ViT in the M3ViT style, with presets and the alternative ways other code writes it.

The ``style`` fields do not change the mathematics, only how the model is written (and so which ONNX graph
an exporter makes of it); the importer must read every one of them into the same kernel graph.
"""
from __future__ import annotations

import math
import pickle

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import UserError
from ..inputs import existing_file
from .config import PRESETS, STYLE_CHOICES, ModelConfig, make_config  # noqa: F401  (the model's public names)

class LayerNorm(nn.Module):
    """LayerNorm written either as the builtin op or decomposed into mean/variance arithmetic."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(cfg.dim))
        self.bias = nn.Parameter(torch.zeros(cfg.dim))
        self.eps, self.decomposed = cfg.eps, cfg.ln_impl == "decomposed"

    def forward(self, x):
        if not self.decomposed:
            return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads, self.head_dim, self.cfg = cfg.heads, cfg.head_dim, cfg
        self.scale = cfg.head_dim ** -0.5
        if cfg.qkv == "fused":
            self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        else:
            self.q, self.k, self.v = (nn.Linear(cfg.dim, cfg.dim) for _ in range(3))
        self.proj = nn.Linear(cfg.dim, cfg.dim)

    def forward(self, x):
        b, n, c = x.shape
        if self.cfg.qkv == "fused":
            qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            q, k, v = (m(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
                       for m in (self.q, self.k, self.v))
        if self.cfg.attn_impl == "sdpa":
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            a = (q @ k.transpose(-2, -1)) * self.scale
            o = a.softmax(dim=-1) @ v
        return self.proj(o.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class MoE(nn.Module):
    """V-MoE layer: gate (no bias) -> softmax over all experts -> top-k -> expert MLPs -> weighted sum.

    ``moe_impl``: "gather" computes every expert and gathers the top-k outputs; "scatter" computes every
    expert and combines them with the top-k weights scattered into a dense [tokens, experts] matrix;
    "dispatch" runs each expert only on the tokens routed to it.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.gate = nn.Linear(cfg.dim, cfg.experts, bias=False)
        self.experts = nn.ModuleList(Mlp(cfg.dim, cfg.expert_hidden) for _ in range(cfg.experts))

    def route(self, x):
        probs = self.gate(x).softmax(dim=-1)
        weights, index = torch.topk(probs, self.cfg.top_k, dim=-1)
        if self.cfg.renormalize:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return weights, index

    def forward(self, x):
        b, n, d = x.shape
        weights, index = self.route(x)
        if self.cfg.moe_impl == "gather":
            every = torch.stack([e(x) for e in self.experts], dim=2)                  # b n E d
            picked = torch.gather(every, 2, index.unsqueeze(-1).expand(b, n, self.cfg.top_k, d))
            return (picked * weights.unsqueeze(-1)).sum(dim=2)
        if self.cfg.moe_impl == "scatter":
            dense = torch.zeros(b, n, self.cfg.experts, dtype=x.dtype).scatter(-1, index, weights)
            return sum(dense[..., e:e + 1] * expert(x) for e, expert in enumerate(self.experts))
        flat, idx, w = x.reshape(b * n, d), index.reshape(b * n, -1), weights.reshape(b * n, -1)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(idx == e)
            out = out.index_add(0, token, expert(flat[token]) * w[token, slot].unsqueeze(-1))
        return out.reshape(b, n, d)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, moe: bool):
        super().__init__()
        self.norm1, self.attn = LayerNorm(cfg), Attention(cfg)
        self.norm2 = LayerNorm(cfg)
        self.mlp = MoE(cfg) if moe else Mlp(cfg.dim, cfg.mlp_hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MoEViT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.patch_embed = nn.Conv2d(cfg.in_chans, cfg.dim, cfg.patch, cfg.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.tokens, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg, cfg.is_moe(i)) for i in range(cfg.depth))
        self.norm = LayerNorm(cfg)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)

    def forward(self, img):
        x = self.patch_embed(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def init_weights(model: nn.Module, seed: int) -> None:
    """Seeded random weights in the ViT style (truncated normal, std 0.02) with non-trivial biases and
    norm parameters, so that every parameter path is exercised by the numerics tests."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
            else:
                std = 0.02 if "embed" in name or "token" in name else 1.0 / math.sqrt(p[0].numel())
                p.copy_(torch.nn.init.trunc_normal_(torch.empty(p.shape), std=std, a=-2 * std, b=2 * std,
                                                    generator=gen))


def build_model(cfg: ModelConfig, seed: int = 0, weights: str | None = None) -> MoEViT:
    """A model with seeded random weights, or with a state_dict loaded safely (weights_only=True)."""
    model = MoEViT(cfg)
    if weights:
        _load_weights(model, weights)
    else:
        init_weights(model, seed)
    return model.eval()


def _load_weights(model: MoEViT, weights: str) -> None:
    """Load a state_dict file into ``model``; every problem is named with the file and its first detail
    (torch's own text for an unsafe file advises weights_only=False, which hwmoe never does)."""
    existing_file(weights, f"--weights {weights}")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"--weights {weights}: holds Python objects besides tensors, which are never loaded "
                        "(save a plain state_dict of tensors)") from None
    except Exception as e:          # torch raises many types for unreadable files
        raise UserError(f"--weights {weights}: not a readable checkpoint ({e.__class__.__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(state, dict):
        raise UserError(f"--weights {weights}: holds a {type(state).__name__}, not a state_dict")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:       # size mismatches: "Error(s) in loading ...:" then one line per tensor
        details = [line.strip() for line in str(e).splitlines()[1:] if line.strip()]
        raise UserError(f"--weights {weights}: state_dict does not match the model: "
                        f"{'; '.join(details[:2])}{f' (and {len(details) - 2} more)' if len(details) > 2 else ''}"
                        ) from None
    if missing or unexpected:
        raise UserError(f"--weights {weights}: state_dict does not match the model "
                        f"(missing {missing[:3]}, unexpected {unexpected[:3]})")


def sample_input(cfg: ModelConfig, seed: int = 0, batch: int = 1) -> torch.Tensor:
    """A reproducible image batch (normalised-image statistics)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, cfg.in_chans, cfg.img_h, cfg.img_w, generator=gen)
