"""Checks a run makes before any compute: every path it will write, and the config file.

    check_writable(Path("/data/out"), "--out")     # TopiclabError in one line, nothing created
    check_results_root(Path("results"))            # results/latest must be a link (or absent)
    check_config_file(Path("cfg.toml"), topics, registry)

Each failure is a ``TopiclabError`` (one line, exit 2) and leaves the file system as it was:
a folder that does not exist yet is not created here; its nearest existing parent is tested
with a temporary file that is removed again. Mode bits are not trusted (root ignores them):
the test is a real write, which also catches read-only mounts and ``/proc``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from topiclab.core.errors import TopiclabError


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(path: Path, what: str) -> None:
    """``path`` is, or can become, a folder this process can write files in."""
    base = _nearest_existing(path)
    if not base.is_dir():
        raise TopiclabError(f"{what} '{path}' cannot be a folder: '{base}' is a file")
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TopiclabError(f"{what} '{path}' is not writable: {reason} ('{base}')") from None


def check_results_root(root: Path) -> None:
    """Without ``--out`` a run writes ``root/<timestamp>`` and re-points ``root/latest``."""
    check_writable(root, "results folder")
    latest = root / "latest"
    if latest.exists() and not latest.is_symlink():
        raise TopiclabError(
            f"'{latest}' is a real {'folder' if latest.is_dir() else 'file'}, not the link "
            "topiclab keeps to the newest run; move it away or pass --out"
        )


def check_config_tables(
    path: Path, data: dict[str, Any], topics: list[Any], registered: set[str]
) -> None:
    """A table (``[name]``) must name a registered topic or a config field of a topic in the
    run. A single-topic run gets this from ``resolve_config``; a run of several topics skips
    other topics' tables there, so a misspelled one would pass unnoticed."""
    fields = {name for topic in topics for name in topic.Config.model_fields}
    for name, value in data.items():
        if isinstance(value, dict) and name not in registered and name not in fields:
            raise TopiclabError(
                f"config file '{path}': table [{name}] is neither a topic nor a config key; "
                f"topics: {', '.join(sorted(registered))}"
            )


# What a run keeps under TOPICLAB_HOME (core.environment): a file in a folder's place used to
# end in a FileExistsError traceback (logs, prefect) or in a failed flow after Prefect started
# (work, mlartifacts); a folder named mlflow.db in minutes of SQLite retries.
HOME_FOLDERS = ("work", "logs", "prefect", "mlartifacts")


def check_home_layout(home: Path, topics: Sequence[str] = ()) -> None:
    """Each folder a run writes under ``home`` (and ``work/<topic>`` of ``topics``) is a
    folder or absent, and MLflow's default database is not a folder."""
    folders = [home / name for name in HOME_FOLDERS] + [home / "work" / t for t in topics]
    for path in folders:
        if path.exists() and not path.is_dir():
            raise TopiclabError(
                f"'{path}' is a file where topiclab keeps a folder; move it away "
                "(or set TOPICLAB_HOME to another folder)"
            )
    database = home / "mlflow.db"
    if database.is_dir():
        raise TopiclabError(
            f"'{database}' is a folder where MLflow keeps its SQLite database; move it away"
        )
