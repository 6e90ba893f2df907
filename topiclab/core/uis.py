"""Where a running ``topiclab ui`` serves this home: ``$TOPICLAB_HOME/ui.json``.

    with ui_record({"prefect": "http://127.0.0.1:4200", "mlflow": "http://127.0.0.1:5000"}):
        ...                       # `topiclab ui`, once both servers are healthy
    mlflow_ui_base()              # what a run's MLflow links point at

``topiclab ui --mlflow-port P`` puts the MLflow UI on any port; a run cannot guess it, so the
UI writes it down. The record counts only while its process lives (a SIGKILLed UI leaves a
stale file) and its MLflow UI reads the tracking URI this run writes to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from topiclab.core.environment import default_tracking_uri, topiclab_home
from topiclab.core.files import write_text
from topiclab.core.secrets import public_url

DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"


def record_path() -> Path:
    return topiclab_home() / "ui.json"


def tracking_uri() -> str:
    """This process's tracking URI, without a password (the record is a plain file)."""
    return public_url(os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri())


@contextmanager
def ui_record(urls: dict[str, str]) -> Iterator[Path]:
    """Write the record while the block runs; remove it after, if it is still ours."""
    path = record_path()
    public = {name: public_url(url) for name, url in urls.items()}
    payload = {**public, "pid": os.getpid(), "tracking_uri": tracking_uri()}
    write_text(path, json.dumps(payload, indent=2))
    try:
        yield path
    finally:
        if running_ui().get("pid") == os.getpid():
            path.unlink(missing_ok=True)


def running_ui() -> dict[str, object]:
    """The record of a ``topiclab ui`` that is alive and serves this tracking URI, or {}."""
    try:
        data = json.loads(record_path().read_text(encoding="utf-8"))
        pid = int(data["pid"])
        os.kill(pid, 0)  # signal 0: is it alive?
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return data if data.get("tracking_uri") == tracking_uri() else {}


def mlflow_ui_base() -> str:
    """``TOPICLAB_MLFLOW_UI_URL``, else a running ``topiclab ui``'s MLflow UI, else :5000."""
    return os.environ.get("TOPICLAB_MLFLOW_UI_URL") or str(
        running_ui().get("mlflow") or DEFAULT_MLFLOW_UI
    )
