"""Rich console output: progress bars for long stages, and the run summary table.

with rich_progress("train", 300) as advance: ...       # a bar on a terminal, else nothing
factory = logged_progress(logger.info)                 # the bar, plus ~10 log lines
logger.info("waiting", extra={TERMINAL: True})         # a CLI run echoes it (app.logfile)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True)
#: A log record with this attribute true is shown at the terminal of a CLI run too
#: (``app.logfile``): ``logger.info(line, extra={TERMINAL: True})``, for a line the person
#: watching needs (a stage waiting for another run's lock), not only the run's log.
TERMINAL = "topiclab_terminal"
#: What each worker process of a run (``--workers``: a process pool) calls first, as
#: ``(function, args)``, picklable: a CLI run (``app.logfile``) sends the workers' library lines
#: to its log file and their stage lines to its terminal. None: the workers keep Prefect's.
worker_setup: tuple[Callable[..., None], tuple[Any, ...]] | None = None


def progress_enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("TOPICLAB_NO_PROGRESS")


@contextmanager
def rich_progress(
    description: str, total: int
) -> Iterator[Callable[[int, dict[str, float]], None]]:
    """A bar of ``total`` steps; the yielded function sets the step and shows the metrics."""
    if not progress_enabled():
        yield lambda step, metrics: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total, info="")

        def advance(step: int, metrics: dict[str, float]) -> None:
            info = " ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:3])
            bar.update(task, completed=min(step + 1, total), info=info)

        yield advance


Advance = Callable[[int, dict[str, float]], None]
ProgressFactory = Callable[[str, int], AbstractContextManager[Advance]]


def logged_progress(log: Callable[[str], None], lines: int = 10) -> ProgressFactory:
    """``rich_progress`` that also logs about ``lines`` lines per loop (the step, the first
    metrics, the time so far): a run triggered from the Prefect UI shows its progress in the
    task run's logs, where no terminal bar is seen."""

    @contextmanager
    def progress(description: str, total: int) -> Iterator[Callable[[int, dict[str, float]], None]]:
        every, start = max(1, total // lines), time.perf_counter()
        with rich_progress(description, total) as bar:

            def advance(step: int, metrics: dict[str, float]) -> None:
                bar(step, metrics)
                done = step + 1
                if done % every == 0 or done == total:
                    info = " ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:3])
                    took = time.perf_counter() - start
                    log(f"{description}: step {done}/{total} {info} ({took:.1f} s)")

            yield advance

    return progress
