"""Rich console output: progress bars for long stages, and the run summary table."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True)


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
