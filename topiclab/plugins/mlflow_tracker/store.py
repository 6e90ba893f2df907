"""Where the MLflow tracker writes, set up once per process and checked before a run.

    uri = tracking_uri()        # MLFLOW_TRACKING_URI, else SQLite under $TOPICLAB_HOME
    preflight()                 # one-line TopiclabError within seconds if unusable
    c = client()                # an MlflowClient whose store exists (created under a lock)
    retry(lambda: c.set_terminated(run_id, "FAILED"))   # rides out "database is locked"

Several runs may start at the same moment on a fresh home: MLflow's first connection to an
empty SQLite file runs alembic migrations, and two processes doing that at once corrupt the
schema ("Online migration expected to match one row"). The first connection of each process
therefore happens under an exclusive file lock next to the database.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from topiclab.core.environment import default_tracking_uri
from topiclab.core.errors import TopiclabError
from topiclab.core.secrets import public_url

T = TypeVar("T")
PREFLIGHT_TIMEOUT_S = 3.0
_clients: dict[str, Any] = {}


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for servers and other databases)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?")[0])


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (released when the holder dies, even by SIGKILL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def transient(exc: BaseException) -> bool:
    """SQLite busy beyond its own timeout, or a server hiccup: worth another try."""
    text = str(exc).lower()
    return "database is locked" in text or "temporarily unavailable" in text


def retry(call: Callable[[], T], attempts: int = 4, pause: float = 0.25) -> T:
    """``call()``, again after a short pause while it fails transiently."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            if attempt == attempts - 1 or not transient(exc):
                raise
            time.sleep(pause * 2**attempt)
    raise AssertionError("unreachable")


# Creating a database logs a page of INFO lines (table creation, every alembic migration).
MIGRATION_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration", "alembic")


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Raise these loggers to WARNING for the block : the terminal is for the user."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def prepare_store(uri: str) -> None:
    """Create (or open) the tracking and registry stores of ``uri``, once, under a lock."""
    db = sqlite_path(uri)
    if db is None:
        return
    from mlflow.tracking import MlflowClient

    with file_lock(db.with_name(db.name + ".lock")), _quiet(*MIGRATION_LOGGERS):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        retry(lambda: client.search_experiments(max_results=1))
        retry(lambda: client.search_registered_models(max_results=1))
        # WAL lets readers (the UI, another run's searches) work beside one writer; the
        # mode is stored in the file, so this runs once per database in effect.
        with sqlite3.connect(db, timeout=20) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


def client() -> Any:
    """The ``MlflowClient`` of the current URI (one per process); the store is set up first."""
    from mlflow.tracking import MlflowClient

    uri = tracking_uri()
    if uri not in _clients:
        prepare_store(uri)
        _clients[uri] = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return _clients[uri]


def flush(mlflow_client: Any) -> None:
    """Wait for every metric queued with ``synchronous=False`` to be written.

    ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS`` (set in core/environment.py) makes MLflow merge
    queued batches into few writes and lets a flush wake its thread at once; without it each
    step is its own SQLite transaction and a flush waits up to a second."""
    mlflow_client._tracking_client.store.flush_async_logging()


def preflight() -> None:
    """Fail in one line, in seconds, when the tracking store cannot be used."""
    uri = tracking_uri()
    if is_server(uri):
        _check_server(uri)
        return
    db = sqlite_path(uri)
    if db is None:
        return  # another database URL: MLflow will say what is wrong
    folder = db.parent if db.parent.exists() else db.parent.parent
    if folder.exists() and not os.access(folder, os.W_OK):
        raise TopiclabError(f"MLflow store folder '{folder}' is not writable (from {uri})")
    try:
        client()
    except Exception as exc:
        line = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise TopiclabError(f"MLflow store {uri} cannot be opened: {line}") from None


def _check_server(uri: str) -> None:
    url = uri.rstrip("/") + "/health"
    try:
        urllib.request.urlopen(url, timeout=PREFLIGHT_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return  # it answered: reachable (auth or a proxy may refuse /health itself)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TopiclabError(
            f"MLflow tracking server {public_url(uri)} is unreachable ({reason}); start it or set "
            "MLFLOW_TRACKING_URI"
        ) from None
