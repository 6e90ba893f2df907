"""A tracker whose store is slow to open: ``topiclab_preflight`` writes
``$TOPICLAB_HOME/preflight.started`` and then waits a minute, as MLflow's migrations do for
seconds on a fresh home. A run is then in its start-up, beside the Prefect server it started
(tests/app/test_signals.py signals it there)."""

from __future__ import annotations

import time

from topiclab.core.environment import topiclab_home
from topiclab.core.hookspecs import hookimpl


@hookimpl
def topiclab_preflight(topics: list[str]) -> None:
    (topiclab_home() / "preflight.started").write_text(",".join(topics))
    time.sleep(60)
