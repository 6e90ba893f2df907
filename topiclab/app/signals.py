"""Signals that end a run as an exception, and the exit codes a shell expects (128 + signal).

    raise_on_sigterm()                  # once, in the main thread, before a run
    try:
        ...
    except KeyboardInterrupt as exc:    # Ctrl-C
        raise Stopped(signal.SIGINT) from exc
    # main(): except Stopped as exc: sys.exit(exc.code)   -> 130 for SIGINT, 143 for SIGTERM

Why: Python's default SIGTERM ends the process without unwinding, so no ``finally`` runs: the
flow's ``except BaseException`` (which closes the MLflow run as FAILED) and the code that stops
the CLI's Prefect server never get the chance. ``Stopped`` is a ``BaseException``, like
``KeyboardInterrupt``, so ``except Exception`` blocks on the way do not swallow it, and click
does not turn it into "Aborted!" with exit code 1 as it does with ``KeyboardInterrupt``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any


class Stopped(BaseException):
    """The run was ended by a signal; ``code`` is the shell's exit status for it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def _redeliver_swallowed(unraisable: Any, previous: Any = sys.unraisablehook) -> None:
    """An exception raised while Python runs a ``__del__`` or a weakref callback (SQLAlchemy
    and torch have many) is printed and dropped: a Ctrl-C landing there would be lost and
    the run would go on. Send the signal again, from another thread a moment later: sent
    from here, its handler would run inside this hook and be dropped too."""
    previous(unraisable)
    exc = unraisable.exc_value
    signum: int | None = None
    if isinstance(exc, KeyboardInterrupt):
        signum = signal.SIGINT
    elif isinstance(exc, Stopped):
        signum = exc.signum
    elif type(exc).__name__ == "TerminationSignal":  # Prefect's SIGTERM, during a flow
        signum = getattr(exc, "signal", signal.SIGTERM)
    if signum is not None:
        resend = threading.Timer(0.05, os.kill, (os.getpid(), signum))
        resend.daemon = True
        resend.start()


def raise_on_sigterm() -> None:
    """SIGTERM raises ``Stopped`` in the main thread (a no-op elsewhere: signals are the
    main thread's), and a Ctrl-C or SIGTERM swallowed by a finalizer is sent again.
    Prefect swaps in its own SIGTERM handler while a flow runs and, once it has reported
    the crash, re-sends the signal to this one."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_stopped)
        sys.unraisablehook = _redeliver_swallowed
