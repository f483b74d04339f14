"""The kernel graph: a small typed IR whose nodes are the accelerator's hardware units.

The ONNX importer produces it, the reference executes it, the cost model and the code generators read it.
Tensors are 2-D ``[tokens, features]`` (batch 1, the accelerator's unit of work) except the image input.
Nodes carry their float parameters; formats live in the quantisation plan, not here.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np


@dataclass
class Node:
    """Base of all kernel nodes.  ``inputs``/``outputs`` name tensors of the graph."""
    name: str
    inputs: list[str]
    outputs: list[str]

    kind = "node"

    def params(self) -> dict[str, np.ndarray]:
        """The node's learned parameters by name (arrays only)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}

    def macs(self, shapes: dict[str, tuple]) -> int:
        return 0

    def describe(self) -> str:
        return ""


@dataclass
class PatchEmbed(Node):
    """Non-overlapping patch convolution as a linear map over flattened patches (c, ky, kx order),
    then the class token prepended and the position embedding added."""
    weight: np.ndarray       # [dim, channels * patch * patch]
    bias: np.ndarray         # [dim]
    cls_token: np.ndarray    # [dim]
    pos_embed: np.ndarray    # [tokens, dim]
    patch: int = 16
    kind = "patch_embed"

    def macs(self, shapes):
        n = self.pos_embed.shape[0] - 1
        return n * self.weight.shape[0] * self.weight.shape[1]

    def describe(self):
        return f"patch {self.patch}, {self.weight.shape[1]} -> {self.weight.shape[0]}, +cls +pos"


@dataclass
class Linear(Node):
    """y = x W^T + b on every token."""
    weight: np.ndarray       # [out, in]
    bias: np.ndarray | None = None
    kind = "linear"

    def macs(self, shapes):
        return shapes[self.inputs[0]][0] * self.weight.shape[0] * self.weight.shape[1]

    def describe(self):
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}" + ("" if self.bias is not None else ", no bias")


@dataclass
class LayerNorm(Node):
    gamma: np.ndarray
    beta: np.ndarray
    eps: float = 1e-6
    kind = "layernorm"

    def describe(self):
        return f"dim {self.gamma.shape[0]}, eps {self.eps:g}"


@dataclass
class Gelu(Node):
    """Exact (erf) GELU."""
    kind = "gelu"


@dataclass
class Add(Node):
    """Residual addition of two tensors of the same shape."""
    kind = "add"


@dataclass
class Attention(Node):
    """Multi-head self-attention core: inputs q, k, v ``[tokens, heads*head_dim]`` (head h in columns
    h*head_dim..), output softmax(q k^T * scale) v with heads merged the same way."""
    heads: int = 1
    head_dim: int = 64
    scale: float = 0.125
    kind = "attention"

    def macs(self, shapes):
        n = shapes[self.inputs[0]][0]
        return 2 * self.heads * n * n * self.head_dim

    def describe(self):
        return f"{self.heads} heads x {self.head_dim}, scale {self.scale:.6g}"


@dataclass
class Router(Node):
    """MoE gate: logits = x Wg^T (no bias), softmax over all experts, top-k.
    Outputs: expert indices ``[tokens, k]`` and gate weights ``[tokens, k]`` (renormalised if asked)."""
    weight: np.ndarray       # [experts, dim]
    top_k: int = 2
    renormalize: bool = False
    kind = "router"

    def macs(self, shapes):
        return shapes[self.inputs[0]][0] * self.weight.shape[0] * self.weight.shape[1]

    def describe(self):
        return f"{self.weight.shape[0]} experts, top-{self.top_k}" + (", renormalised" if self.renormalize else "")


@dataclass
class Experts(Node):
    """A group of expert MLPs (Linear-GELU-Linear).  Inputs: x, expert indices, gate weights.
    Each token's output is the gate-weighted sum of its top-k experts' outputs."""
    w1: np.ndarray           # [experts, hidden, dim]
    b1: np.ndarray           # [experts, hidden]
    w2: np.ndarray           # [experts, dim, hidden]
    b2: np.ndarray           # [experts, dim]
    top_k: int = 2
    kind = "experts"

    @property
    def num_experts(self) -> int:
        return self.w1.shape[0]

    def macs(self, shapes):
        n = shapes[self.inputs[0]][0]
        return n * self.top_k * 2 * self.w1.shape[1] * self.w1.shape[2]

    def describe(self):
        e, h, d = self.w1.shape
        return f"{e} experts {d} -> {h} -> {d}, top-{self.top_k} per token"


@dataclass
class Head(Node):
    """Classification head: the class token (row 0) through a linear layer; output shape (classes,)."""
    weight: np.ndarray
    bias: np.ndarray | None = None
    kind = "head"

    def macs(self, shapes):
        return self.weight.shape[0] * self.weight.shape[1]

    def describe(self):
        return f"class token, {self.weight.shape[1]} -> {self.weight.shape[0]}"


NODE_KINDS = {c.kind: c for c in (PatchEmbed, Linear, LayerNorm, Gelu, Add, Attention, Router, Experts, Head)}


@dataclass
class Graph:
    """Nodes in execution order, tensor shapes, one input and one output."""
    input: str
    output: str
    nodes: list[Node] = field(default_factory=list)
    shapes: dict[str, tuple] = field(default_factory=dict)

    def macs(self) -> int:
        return sum(n.macs(self.shapes) for n in self.nodes)

    def param_count(self) -> int:
        return sum(int(a.size) for n in self.nodes for a in n.params().values())

    def producer(self, tensor: str) -> Node | None:
        return next((n for n in self.nodes if tensor in n.outputs), None)

    def validate(self) -> None:
        """Every input defined before use; raises ValueError naming the node otherwise."""
        known = {self.input}
        for n in self.nodes:
            for t in n.inputs:
                if t not in known:
                    raise ValueError(f"IR node {n.name!r} ({n.kind}) reads undefined tensor {t!r}")
            known.update(n.outputs)
        if self.output not in known:
            raise ValueError(f"graph output {self.output!r} is never produced")
