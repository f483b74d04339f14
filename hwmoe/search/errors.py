"""Errors a user can cause; each message is one line (the CLI prints it and exits non-zero)."""
from __future__ import annotations

from ..errors import UserError


class SearchError(UserError):
    """Base: a search could not be started or found nothing."""


class UnknownBoardError(SearchError):
    pass


class PrecisionError(SearchError):
    pass


class ModelError(SearchError):
    pass


class StorageError(SearchError):
    """The Optuna storage cannot be opened or cannot serve the workers asked for."""


class InfeasibleError(SearchError):
    """No design of the model fits the board within the resource margins."""
