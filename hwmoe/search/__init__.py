"""Two-stage design-space search (Optuna): per-engine Pareto fronts, then the split of the board.

    from hwmoe.search import search, search_command, sweep_command

The names are loaded on first use, so that reading ``DEFAULT_TRIALS`` (the CLI's parser does) does not import
Optuna.
"""
from importlib import import_module

#: Optuna trials per study unless told otherwise
DEFAULT_TRIALS = 200

_EXPORTS = {"format_result": "commands", "search_command": "commands", "sweep_command": "commands",
            "InfeasibleError": "errors", "ModelError": "errors", "PrecisionError": "errors", "SearchError": "errors",
            "UnknownBoardError": "errors", "SearchResult": "run", "load_workload": "run", "search": "run"}

__all__ = ["DEFAULT_TRIALS", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
