"""Records every step a stage logs through ``topiclab_log_metrics``, in this process.

TOPICLAB_PLUGINS=support.step_recorder      then read ``support.step_recorder.STEPS``
"""

from __future__ import annotations

from typing import Any

from topiclab.core.hookspecs import hookimpl

STEPS: list[tuple[int | None, dict[str, float]]] = []


@hookimpl
def topiclab_log_metrics(
    run: dict[str, Any], metrics: dict[str, float], step: int | None, child: str | None
) -> None:
    STEPS.append((step, dict(metrics)))
