"""The MoE-ViT's shape: presets and ``key=value`` overrides (no torch here, so the CLI starts quickly)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import UserError
from ..overrides import apply_overrides

#: the largest weights or one layer's attention scores a model may have: ONNX's 2 GB file limit
MAX_BYTES = 2 ** 31

STYLE_CHOICES = {
    "qkv": ("fused", "separate"),
    "attn_impl": ("explicit", "sdpa"),
    "ln_impl": ("builtin", "decomposed"),
    "moe_impl": ("gather", "scatter", "dispatch"),
}


@dataclass(frozen=True)
class ModelConfig:
    img_h: int = 128
    img_w: int = 256
    in_chans: int = 3
    patch: int = 16
    dim: int = 192
    depth: int = 12
    heads: int = 3
    mlp_hidden: int = 768
    experts: int = 16
    expert_hidden: int = 384
    top_k: int = 2
    renormalize: bool = False
    num_classes: int = 1000
    eps: float = 1e-6
    # how the model is written (same mathematics)
    qkv: str = "fused"
    attn_impl: str = "explicit"
    ln_impl: str = "builtin"
    moe_impl: str = "gather"

    @property
    def tokens(self) -> int:
        return (self.img_h // self.patch) * (self.img_w // self.patch) + 1

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    def weights(self) -> int:
        """The number of weights, without biases and norms (what the ONNX file mostly stores)."""
        moe = sum(self.is_moe(b) for b in range(self.depth))
        mlp = ((self.depth - moe) * 2 * self.dim * self.mlp_hidden
               + moe * self.experts * (2 * self.dim * self.expert_hidden + self.dim))
        return (self.in_chans * self.patch ** 2 * self.dim + self.tokens * self.dim + self.depth * 4 * self.dim ** 2
                + mlp + self.dim * self.num_classes)

    def is_moe(self, block: int) -> bool:
        """MoE on the odd blocks (1, 3, ...), dense MLP on the even ones."""
        return block % 2 == 1

    def check(self) -> None:
        """Raise UserError naming the first field that makes no sense (sizes first: the divisibility rules
        below divide by them)."""
        for name, value in asdict(self).items():
            if name in STYLE_CHOICES and value not in STYLE_CHOICES[name]:
                raise UserError(f"{name}={value!r}: expected one of {', '.join(STYLE_CHOICES[name])}")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not value > 0:
                raise UserError(f"{name}={value} must be positive")
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"{name}={value} must be finite")
        if self.img_h % self.patch or self.img_w % self.patch:
            raise UserError(f"image {self.img_h}x{self.img_w} is not a multiple of patch {self.patch}")
        if self.dim % self.heads:
            raise UserError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if not 1 <= self.top_k <= self.experts:
            raise UserError(f"top_k {self.top_k} must be in 1..experts ({self.experts})")
        if 4 * self.weights() > MAX_BYTES:
            raise UserError(f"{self.weights():,} weights ({4 * self.weights() / 1e9:.1f} GB at float32) exceed the "
                            "2 GB an ONNX file holds: make dim, depth, mlp_hidden, experts, expert_hidden or "
                            "num_classes smaller")
        if 4 * self.heads * self.tokens ** 2 > MAX_BYTES:
            raise UserError(f"image {self.img_h}x{self.img_w} at patch {self.patch} gives {self.tokens:,} tokens, "
                            f"whose attention scores alone need {4 * self.heads * self.tokens ** 2 / 1e9:.1f} GB: "
                            "make img_h, img_w or heads smaller or patch larger")


PRESETS = {
    "m3vit-t": ModelConfig(),
    "m3vit-s": ModelConfig(dim=384, heads=6, mlp_hidden=1536, expert_hidden=768),
    "tiny": ModelConfig(img_h=32, img_w=32, patch=8, dim=32, depth=2, heads=2, mlp_hidden=64,
                        experts=4, expert_hidden=32, top_k=2, num_classes=10),
    # the trained example (hwmoe/digits.py, examples/digits/): scikit-learn's 8x8 digits upsampled to 16x16
    "digits": ModelConfig(img_h=16, img_w=16, in_chans=1, patch=4, dim=64, depth=4, heads=2, mlp_hidden=128,
                          experts=8, expert_hidden=64, top_k=2, num_classes=10),
}


def make_config(preset: str, overrides: dict[str, str] | None = None) -> ModelConfig:
    """A preset with ``key=value`` overrides (strings are converted to the field's type)."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}: expected one of {', '.join(PRESETS)}")
    cfg = apply_overrides(PRESETS[preset], overrides, "model")
    cfg.check()
    return cfg
