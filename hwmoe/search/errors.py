"""Errors a user can cause; each message is one line (the CLI prints it and exits non-zero)."""
from __future__ import annotations


class SearchError(ValueError):
    """Base: a search could not be started or found nothing."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class UnknownBoardError(SearchError):
    pass


class PrecisionError(SearchError):
    pass


class ModelError(SearchError):
    pass


class InfeasibleError(SearchError):
    """No design of the model fits the board within the resource margins."""
