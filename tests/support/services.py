"""Services that the server tests start themselves, on 127.0.0.1, stopped by their PID.

    with postgres_cluster(["prefect", "mlflow"]) as base:   # "postgres@127.0.0.1:PORT"
        url = f"postgresql+psycopg://{base}/mlflow"

``require_or_skip`` turns a missing system package into a skip, or into a failure where CI
asks for it (``TOPICLAB_REQUIRE_POSTGRES=1``, ``TOPICLAB_REQUIRE_BROWSER=1``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (children of children too, in any session)."""
    parents: dict[int, int] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while we looked
            continue
        parents[int(stat.split("/")[2])] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def require_or_skip(ok: bool, required_by: str, message: str) -> None:
    """Skip when ``ok`` is false, or fail when the environment variable ``required_by`` is 1."""
    if ok:
        return
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{required_by}=1 but {message}", pytrace=False)
    pytest.skip(message)


def require_chromium() -> Path:
    require_or_skip(
        CHROMIUM.exists(),
        "TOPICLAB_REQUIRE_BROWSER",
        f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`",
    )
    return CHROMIUM


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def as_db_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _psql(port: int, database: str, sql: str) -> None:
    psql = shutil.which("psql") or "psql"
    cmd = [psql, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database, "-c", sql]
    subprocess.run(cmd, check=True, capture_output=True)


@contextmanager
def postgres_cluster(databases: list[str]) -> Iterator[str]:
    """A private cluster on 127.0.0.1 with ``databases`` (``prefect`` gets ``pg_trgm``, which
    Prefect's server needs); yields ``postgres@127.0.0.1:PORT``. Trust auth: local tests only."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    require_or_skip(
        bool(initdb and pg_ctl and shutil.which("psql")),
        "TOPICLAB_REQUIRE_POSTGRES",
        "PostgreSQL is not installed (apt-get install -y postgresql)",
    )
    assert initdb and pg_ctl
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    data = Path(tempfile.mkdtemp(prefix="topiclab-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = free_port()
    # A throwaway cluster (deleted at the end): nothing of it needs to survive a crash, so
    # nothing is synced to disk, by initdb or by the server.
    subprocess.run(
        as_db_user([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        as_db_user([pg_ctl, "-D", str(data), "-o", opts, "-w", "start", "-l", str(data / "log")]),
        check=True,
        capture_output=True,
    )
    try:
        for db in databases:
            _psql(port, "postgres", f"CREATE DATABASE {db}")
        if "prefect" in databases:
            _psql(port, "prefect", "CREATE EXTENSION IF NOT EXISTS pg_trgm")
        yield f"postgres@127.0.0.1:{port}"
    finally:
        # immediate: no shutdown checkpoint for data deleted next (fast took 26 s under load)
        subprocess.run(
            as_db_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """Playwright's Chromium on the system's binary (never ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(require_chromium()), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def screenshot_step(page: Any, folder: Path, name: str) -> Iterator[None]:
    """Screenshot after the step, or of the page as it was when the step failed."""
    try:
        yield
    except BaseException:
        page.screenshot(path=str(folder / f"{name}-FAILED.png"), full_page=True)
        raise
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@contextmanager
def prefect_pointed_at(updates: dict[Any, Any]) -> Iterator[None]:
    """This process's Prefect client on another server for a while. Its log and event workers
    are drained on the way in and out, since Prefect binds them to the first URL they served
    (``topiclab.app.prefect_api.drain_prefect_workers``): without that, the events of every
    later test in this process went to this server, stopped by then."""
    from prefect.settings import temporary_settings

    from topiclab.app.prefect_api import drain_prefect_workers

    drain_prefect_workers()
    try:
        with temporary_settings(updates=updates):
            yield
    finally:
        drain_prefect_workers()
