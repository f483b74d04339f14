"""``python -m hwmoe.search MODEL BOARD [...]``: the search without the main CLI (used by worker processes
and the tests; ``hwmoe search`` is the user-facing command)."""
from __future__ import annotations

import argparse
import sys

from .commands import search_command
from .errors import SearchError
from .run import DEFAULT_TRIALS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hwmoe.search")
    ap.add_argument("model", help="preset name or .onnx path")
    ap.add_argument("board")
    ap.add_argument("--precision", default="w16a32")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--storage")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("-o", "--out-dir", default="out/search")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    try:
        search_command(a.model, a.board, a.precision, a.batch, a.trials, a.seed, a.storage, a.workers, a.out_dir,
                       quiet=a.quiet, progress=not a.quiet)
    except SearchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
