"""Test-wide environment: everything under one temporary folder, nothing from ~ or the network.

Set before Prefect or MLflow is imported (shared/STACK.md, "offline hygiene").
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from support.services import free_port

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

PREFECT_STARTUP_S = 180  # two test workers on a loaded 2-core box
DRAIN_S = 30  # logs and events still queued for the session's server at its end


@pytest.fixture(scope="session")
def topiclab_home() -> Path:
    return _HOME


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[str]:
    """A temporary Prefect API for the session (~10 s once); yields its URL.

    Autouse, so that it is set up before any module's fixture: a module that points Prefect's
    settings at a server of its own (the UI tests) must nest inside it, whichever pytest worker
    runs which file first, or leaving that module would also leave this server's settings.

    Prefect's ``prefect_test_harness``, except for its exit: that drains the log and event
    workers without a bound, and under two pytest workers one drain hung for over five minutes.
    Here the drain gets ``DRAIN_S``; then the server stops either way.
    """
    from prefect.context import _temporary_global_settings_context, get_settings_context
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.server.database.dependencies import temporary_database_interface
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_DATABASE_CONNECTION_URL,
        temporary_settings,
    )

    from topiclab.app.prefect_api import drain_prefect_workers

    database = f"sqlite+aiosqlite:///{_HOME / 'prefect' / 'harness.db'}"
    (_HOME / "prefect").mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        stack.enter_context(temporary_database_interface())
        stack.enter_context(temporary_settings({PREFECT_SERVER_DATABASE_CONNECTION_URL: database}))
        server = SubprocessASGIServer(port=free_port())
        # Flow runs that ask for "the" ephemeral server must find this one, not start another.
        SubprocessASGIServer._instances[None] = server
        server.start(timeout=PREFECT_STARTUP_S)
        stack.callback(SubprocessASGIServer._instances.pop, None, None)
        stack.callback(server.stop)
        stack.enter_context(temporary_settings({PREFECT_API_URL: server.api_url}))
        # As the harness does: contexts copied before this point (threads) see the server too.
        stack.enter_context(_temporary_global_settings_context(get_settings_context()))
        yield server.api_url
        drain_prefect_workers(timeout=DRAIN_S)


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


# Under two pytest workers (`--dist loadfile`) files are handed out in collection order and the
# run ends with its last file: the longest end-to-end files go first, so that none starts late.
LONGEST_FILES = (
    "flows/test_team_deploy.py",
    "app/test_cli.py",
    "flows/test_ui.py",
    "app/test_signals.py",
    "plugins/test_mlflow_tracker_stores.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        return next((i for i, name in enumerate(LONGEST_FILES) if path.endswith(name)), 99)

    items.sort(key=rank)  # stable: the order inside a file, and of the other files, stays
