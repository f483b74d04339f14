"""Location of the Xilinx ``ap_types`` headers (``ap_fixed.h``, ``ap_int.h``, ...).

The headers ship inside the ``hls4ml`` package (the ``hw`` extra).  The C-simulation flow and the
ap_fixed ground-truth tests compile against them with a plain host compiler (``g++ -I include_dir()``).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ...errors import UserError

#: Where the headers live inside the hls4ml package.
_SUBDIR = ("templates", "vivado", "ap_types")


class APTypesNotFound(UserError):
    """hls4ml (and with it the ap_types headers) is not installed: the user installs the extra."""


def include_dir() -> Path:
    """Return the directory holding ``ap_fixed.h`` from the installed hls4ml package.

    hls4ml is located without importing it.  Raises :class:`APTypesNotFound` with a one-line message
    when hls4ml is missing or the headers are not where they are expected.
    """
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise APTypesNotFound("ap_types headers not found: hls4ml is not installed "
                              "(pip install 'hwmoe[hw]')")
    for root in spec.submodule_search_locations:
        d = Path(root).joinpath(*_SUBDIR)
        if (d / "ap_fixed.h").is_file():
            return d
    raise APTypesNotFound(f"ap_types headers not found: no {'/'.join(_SUBDIR)}/ap_fixed.h in the "
                          f"hls4ml package at {list(spec.submodule_search_locations)}")
