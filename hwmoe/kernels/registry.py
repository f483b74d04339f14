"""All kernels by name; adding a kernel means adding its module here."""
from __future__ import annotations

import importlib

from .base import Kernel

KERNEL_MODULES = ("linear", "attention", "layernorm", "gelu", "router", "moe", "exp2", "recip")


def kernels() -> dict[str, Kernel]:
    out = {}
    for name in KERNEL_MODULES:
        module = importlib.import_module(f"hwmoe.kernels.{name}")
        if hasattr(module, "KERNEL"):
            out[name] = module.KERNEL
    return out


def get_kernel(name: str) -> Kernel:
    known = kernels()
    if name not in known:
        raise ValueError(f"unknown kernel {name!r}: expected one of {', '.join(known) or '(none built)'}")
    return known[name]
