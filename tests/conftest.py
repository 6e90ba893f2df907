"""Test-wide environment: everything under one temporary folder, nothing from ~ or the network.

Set before Prefect or MLflow is imported (shared/STACK.md, "offline hygiene").
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="topiclab-tests-"))
for key, value in {
    "TOPICLAB_HOME": str(_HOME),
    "PREFECT_HOME": str(_HOME / "prefect"),
    "PREFECT_LOCAL_STORAGE_PATH": str(_HOME / "prefect" / "storage"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # two test workers on 2 cores
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_TRACKING_URI": f"sqlite:///{_HOME / 'mlflow.db'}",
    "MPLBACKEND": "Agg",
    "MPLCONFIGDIR": str(_HOME / "matplotlib"),
    "DASK_TEMPORARY_DIRECTORY": str(_HOME / "dask"),
    "TOPICLAB_NO_PROGRESS": "1",
}.items():
    os.environ[key] = value
os.environ.pop("MLFLOW_RUN_ID", None)
# The suite decides which plugins load; a developer's shell settings must not leak in.
for key in (
    "TOPICLAB_DISABLE_PLUGIN_AUTOLOAD",
    "TOPICLAB_BLOCK_PLUGINS",
    "TOPICLAB_LOAD_PLUGINS",
    "TOPICLAB_STRICT_PLUGINS",
    "TOPICLAB_PLUGINS",
):
    os.environ.pop(key, None)


@pytest.fixture(scope="session")
def topiclab_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """A temporary Prefect API for the session (~10 s once); yields its URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield str(PREFECT_API_URL.value())


@pytest.fixture
def plugin_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change plugin environment variables for one test; the registry is rebuilt around it."""
    from topiclab.core.registry import reset_registry

    for key in (
        "TOPICLAB_DISABLE_PLUGIN_AUTOLOAD",
        "TOPICLAB_BLOCK_PLUGINS",
        "TOPICLAB_LOAD_PLUGINS",
        "TOPICLAB_STRICT_PLUGINS",
        "TOPICLAB_PLUGINS",
    ):
        monkeypatch.delenv(key, raising=False)
    reset_registry()
    yield monkeypatch
    monkeypatch.undo()
    reset_registry()
