"""The quantisation plan: the fixed-point format of every tensor, parameter and kernel-internal value."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import UserError
from ..outputs import write_text
from .fixed import Fmt
from .softmax import DEFAULT_BLOCK
from .tables import GeluTable
from .precision import Precision, get_precision

PLAN_VERSION = 1


@dataclass
class Plan:
    """A format for every tensor, parameter and kernel-internal value, plus table sizes."""
    precision: str
    tensors: dict[str, Fmt] = field(default_factory=dict)     # activations by tensor name
    params: dict[str, Fmt] = field(default_factory=dict)      # "<node>.<param>"
    internal: dict[str, Fmt] = field(default_factory=dict)    # "<node>.<value>" inside a kernel
    gelu_entries: int = 1
    attention_block: int = DEFAULT_BLOCK

    @property
    def gelu_table(self) -> GeluTable:
        return GeluTable(self.gelu_entries)

    @property
    def spec(self) -> Precision:
        return get_precision(self.precision)

    def to_json(self) -> str:
        dump = lambda d: {k: v.to_dict() for k, v in d.items()}
        return json.dumps({"version": PLAN_VERSION, "precision": self.precision, "gelu_entries": self.gelu_entries,
                           "attention_block": self.attention_block, "tensors": dump(self.tensors),
                           "params": dump(self.params), "internal": dump(self.internal)}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        d = json.loads(text)
        if d.get("version") != PLAN_VERSION:
            raise ValueError(f"plan version {d.get('version')} is not {PLAN_VERSION}")
        load = lambda m: {k: Fmt.from_dict(v) for k, v in m.items()}
        return cls(d["precision"], load(d["tensors"]), load(d["params"]), load(d["internal"]),
                   int(d["gelu_entries"]), int(d["attention_block"]))

    def save(self, path) -> None:
        write_text(path, self.to_json())

    @classmethod
    def load(cls, path) -> "Plan":
        """The plan in file ``path``; a corrupt or incomplete file is the user's mistake, named."""
        try:
            with open(path) as f:
                return cls.from_json(f.read())
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: cannot read the plan ({e.__class__.__name__}: {e})") from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise UserError(f"{path}: not a readable plan ({e.__class__.__name__}: {e})") from None
