"""Two-stage design-space search (Optuna): per-engine Pareto fronts, then the split of the board.

    from hwmoe.search import search, search_command, sweep_command
"""
from .commands import format_result, search_command, sweep_command
from .errors import InfeasibleError, ModelError, PrecisionError, SearchError, UnknownBoardError
from .run import DEFAULT_TRIALS, SearchResult, load_workload, search

__all__ = ["DEFAULT_TRIALS", "InfeasibleError", "ModelError", "PrecisionError", "SearchError", "SearchResult",
           "UnknownBoardError", "format_result", "load_workload", "search", "search_command", "sweep_command"]
