"""``key=value`` overrides of frozen dataclasses (model presets, kernel parameters), typed by the field."""
from __future__ import annotations

from dataclasses import fields, replace

from .errors import UserError


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """["a=1", "b=x"] -> {"a": "1", "b": "x"}; one clear error for an item without '='."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out


def _convert(kind: type, key: str, text: str):
    try:
        if kind is bool:
            if str(text).lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError
            return str(text).lower() in ("1", "true", "yes")
        return kind(text)
    except ValueError:
        raise UserError(f"{key}={text!r} is not a valid {kind.__name__}") from None


def apply_overrides(obj, overrides: dict[str, str] | None, what: str):
    """A copy of dataclass ``obj`` with string ``overrides`` converted to each field's current type."""
    names = [f.name for f in fields(obj)]
    changes = {}
    for key, text in (overrides or {}).items():
        if key not in names:
            raise UserError(f"unknown {what} field {key!r}: expected one of {', '.join(names)}")
        changes[key] = _convert(type(getattr(obj, key)), key, text)
    return replace(obj, **changes)


def checked(defaults, overrides: dict | None, what: str):
    """``defaults`` (a Params dataclass with ``check()``) with ``overrides`` (field -> value, as ``--set`` gives
    them), checked: an unknown field, a bad value or an illegal combination is the user's mistake."""
    params = apply_overrides(defaults, {k: str(v) for k, v in (overrides or {}).items()}, what)
    try:
        params.check()
    except UserError:
        raise
    except ValueError as e:
        raise UserError(f"{what}: {e}") from None
    except ZeroDivisionError:           # a check that divides by a field before checking it is positive
        zeros = [f"{k}=0" for k in overrides or {} if getattr(params, k) == 0] or ["a size of 0"]
        raise UserError(f"{what}: {', '.join(zeros)} must be positive (other sizes are divided by it)") from None
    return params
