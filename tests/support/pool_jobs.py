"""Jobs for ``core.processes`` tests, importable by name in a spawned worker."""

from __future__ import annotations

import os
import signal
import sys
import time
import types
from dataclasses import dataclass
from typing import Any

import pytest


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
    options: Any = None  # unpickled in the worker with the job

    def __call__(self, sink: Any) -> Any:
        from topiclab.plugins.mode_collapse.train import Output

        for step in range(3):
            sink({f"{self.name}.loss": float(step)}, step, self.name)
        return Output(records=[{"name": self.name}])


def notebook_class(monkeypatch: pytest.MonkeyPatch) -> type:
    """A class no spawned worker can import, as a notebook's ``__main__`` class is to one:
    made at run time in a module of its own, which this process can pickle it from."""
    notebook = types.ModuleType("written_in_a_notebook")
    exec("class Options:\n    pass\n", notebook.__dict__)
    monkeypatch.setitem(sys.modules, notebook.__name__, notebook)
    return notebook.Options  # type: ignore[no-any-return]
