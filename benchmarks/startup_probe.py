"""A plugin for ``bench_startup.py``: the moment the first stage of a run begins.

    TOPICLAB_PLUGINS=startup_probe TOPICLAB_STARTUP_PROBE=/tmp/t topiclab run ridge ...

Loaded by module name (``benchmarks/`` on ``PYTHONPATH``), so the same probe works with any
checkout of topiclab that has the ``topiclab_before_stage`` hook. It writes ``time.time()``
once, at the first stage, to the file ``$TOPICLAB_STARTUP_PROBE`` names; it imports nothing
heavy, so it does not change what it measures.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from topiclab.core.hookspecs import hookimpl


@hookimpl
def topiclab_before_stage(run: Any, stage: str) -> None:
    target = os.environ.get("TOPICLAB_STARTUP_PROBE")
    if target and not Path(target).exists():  # the first stage only
        Path(target).write_text(f"{time.time():.3f}\n")
