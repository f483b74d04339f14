"""Ctrl-C at any moment ends hwmoe with one line and exit status 130.

A KeyboardInterrupt raised wherever the signal lands would show a traceback during start-up, make Optuna log
the interrupted trial's traceback, or break Optuna's own bookkeeping mid-way; the handler exits at once
instead, after removing the temporary outputs being written and stopping the search's worker processes.
Only while a search journal's lock is held does it wait for the lock's release (a lock left behind would make
the next run wait for Optuna's 30 s grace period)."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from .outputs import PENDING, discard

EXIT_INTERRUPTED = 130
_state = {"deferred": 0, "interrupted": False, "quiet": False}


def _stop_children() -> None:
    """Interrupt the worker processes (they release their journal locks and exit), kill any that hang.  A
    worker still starting ignores Ctrl-C until it installs the handler, so the signal is repeated until every
    worker has gone, for 10 s at most (a loaded machine may need seconds to release a lock)."""
    mp = sys.modules.get("multiprocessing")
    children = mp.active_children() if mp else []
    deadline = time.monotonic() + 10
    while children and time.monotonic() < deadline:
        for child in children:
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGINT)
        time.sleep(0.1)
        children = [c for c in children if c.is_alive()]
    for child in children:
        child.kill()


def _exit_now() -> None:
    for tmp in list(PENDING):
        discard(tmp)
    _stop_children()
    if not _state["quiet"]:
        os.write(2, b"\nhwmoe: interrupted\n" if os.isatty(2) else b"hwmoe: interrupted\n")
    os._exit(EXIT_INTERRUPTED)


def _on_sigint(signum, frame) -> None:
    if _state["deferred"]:
        _state["interrupted"] = True
    else:
        _exit_now()


def exit_on_interrupt(quiet: bool = False):
    """Install the handler (``quiet``: without the message, in worker processes); returns the previous one
    (to restore when hwmoe runs inside another program)."""
    _state["quiet"] = quiet
    return signal.signal(signal.SIGINT, _on_sigint)


def defer_interrupt() -> None:
    """Ctrl-C from now on waits for the matching :func:`allow_interrupt`."""
    _state["deferred"] += 1


def allow_interrupt() -> None:
    """End a :func:`defer_interrupt`; exit now if Ctrl-C came meanwhile."""
    _state["deferred"] -= 1
    if not _state["deferred"] and _state["interrupted"]:
        _exit_now()


@contextlib.contextmanager
def sigint_ignored():
    """Processes started inside ignore Ctrl-C (the disposition is inherited) until they install the
    handler: a Ctrl-C during their start-up would print a traceback."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
