"""Kills the process in the middle of the train stage (at its 5th logged step).

Enabled only when ``TOPICLAB_TEST_KILL=1``, so a resumed run with the same plugins survives.
"""

from __future__ import annotations

import os
from typing import Any

from topiclab.core.hookspecs import hookimpl


@hookimpl
def topiclab_log_metrics(
    run: dict[str, Any], metrics: dict[str, float], step: int | None, child: str | None
) -> None:
    if os.environ.get("TOPICLAB_TEST_KILL") == "1" and "loss" in metrics and (step or 0) >= 5:
        os._exit(137)  # like SIGKILL: no cleanup, no Python exception handling
