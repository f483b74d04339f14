"""The cost adapters by kernel name (the same names as :func:`hwmoe.kernels.registry.kernels`)."""
from __future__ import annotations

from .attention import COST as ATTENTION
from .gelu import COST as GELU
from .layernorm import COST as LAYERNORM
from .linear import COST as LINEAR
from .moe import COST as MOE
from .router import COST as ROUTER

ADAPTERS = {"linear": LINEAR, "attention": ATTENTION, "layernorm": LAYERNORM, "gelu": GELU, "moe": MOE,
            "router": ROUTER}
