"""The one error type for user mistakes, and its one-line message.

A :class:`UserError` is something the user can fix (a missing or corrupt file, an unsupported graph, an
impossible parameter, a board the design cannot fit): the CLI prints its message as one line and exits 2.
Anything else that escapes a command is a bug in hwmoe: the CLI says so, exits 1 and shows the traceback
with ``--debug`` or ``HWMOE_DEBUG=1``.  It subclasses ValueError, so callers that validate input with
``except ValueError`` keep working."""
from __future__ import annotations


def one_line(text) -> str:
    """Collapse a message to one line (newlines and runs of spaces become single spaces)."""
    return " ".join(str(text).split())


class UserError(ValueError):
    """A mistake in the user's input, reported as one line."""

    def __init__(self, message):
        super().__init__(one_line(message))
