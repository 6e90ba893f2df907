"""Process environment for Prefect and MLflow, set before either is imported.

Everything lives under ``$TOPICLAB_HOME`` (default ``./.topiclab``): Prefect's home and
results, the MLflow SQLite database and artifacts, and the stage work folders. Values the user
already set win; nothing falls back to ``~/.prefect`` or ``./mlruns`` by accident.
"""

from __future__ import annotations

import os
from pathlib import Path


def topiclab_home() -> Path:
    return Path(os.environ.get("TOPICLAB_HOME", ".topiclab")).resolve()


def default_tracking_uri() -> str:
    return f"sqlite:///{topiclab_home() / 'mlflow.db'}"


def default_artifact_root() -> Path:
    return topiclab_home() / "mlartifacts"


def configure_environment() -> Path:
    """Set the defaults (only where unset) and create the home folder; return it."""
    home = topiclab_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["TOPICLAB_HOME"] = str(home)
    defaults = {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "prefect" / "storage"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The temporary local server takes 4-9 s to start; a first start on a fresh home
        # creates its database, and on a loaded 2-core machine (load 10-20) that passed 90 s
        # twice (a newcomer's first run failed there). A live server still starting is waited
        # for; one that exits fails at once (app.prefect_api.wait_healthy).
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
        "DO_NOT_TRACK": "true",  # MLflow reads "true", not "1"
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_TRACKING_URI": default_tracking_uri(),
        # Asynchronous logging merges what was queued in this many seconds into one write.
        "MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS": "1",  # whole seconds: MLflow reads an int
        # A tracking server that does not answer: fail in seconds, not after 7 retries (259 s).
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "DASK_TEMPORARY_DIRECTORY": str(home / "dask"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    # An inherited MLFLOW_RUN_ID would make start_run() resume someone else's run.
    os.environ.pop("MLFLOW_RUN_ID", None)
    return home
