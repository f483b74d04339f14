"""Every kernel by name, and the kernel that runs each IR node kind.  Adding a kernel adds one line here."""
from __future__ import annotations

from .add import ADD
from .attention import ATTENTION
from .base import Kernel
from .exp2 import EXP2
from .gelu import GELU
from .layernorm import LAYERNORM
from .linear import LINEAR
from .moe import MOE
from .recip import RECIP
from .router import ROUTER

KERNELS: dict[str, Kernel] = {k.name: k for k in (LINEAR, ATTENTION, LAYERNORM, GELU, ROUTER, MOE, EXP2, RECIP, ADD)}

#: IR node kind -> the kernel that runs it (each kind claimed by exactly one kernel)
_BY_NODE_KIND: dict[str, Kernel] = {kind: k for k in KERNELS.values() for kind in k.node_kinds}


def get_kernel(name: str) -> Kernel:
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}: expected one of {', '.join(KERNELS)}")
    return KERNELS[name]


def kernel_for(node) -> Kernel:
    """The kernel that runs IR ``node`` (by its kind)."""
    if node.kind not in _BY_NODE_KIND:
        raise ValueError(f"no kernel runs IR node {node.name!r} ({node.kind}): kernels run "
                         f"{', '.join(_BY_NODE_KIND)}")
    return _BY_NODE_KIND[node.kind]
