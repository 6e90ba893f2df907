"""Jobs for ``core.processes`` tests, importable by name in a spawned worker."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any


def pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


def sigint_ignored(_: object) -> bool:
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def why_not_here(queue: object) -> None:
    from topiclab.core.processes import why_not_in_workers

    queue.put(why_not_in_workers([]))  # type: ignore[attr-defined]


def killed(_: object) -> None:
    """What the kernel's OOM killer does to a worker."""
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Logging:
    """A mode-collapse train job that logs three steps to its child run (``name``)."""

    name: str
    rank: int = 0

    def __call__(self, sink: Any) -> Any:
        from topiclab.plugins.mode_collapse.train import Output

        for step in range(3):
            sink({f"{self.name}.loss": float(step)}, step, self.name)
        return Output(records=[{"name": self.name}])
