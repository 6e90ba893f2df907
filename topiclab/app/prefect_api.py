"""The Prefect API a ``topiclab run`` talks to: a server already running, or one the CLI owns.

    with prefect_api() as api:          # api.url, api.origin
        print(api.describe())           # "Prefect: http://127.0.0.1:4200/api (running server: ...)"
        topic_pipeline(...)

Order of choice:

1. ``PREFECT_API_URL``, which must answer ``/health`` (else one line, within seconds);
2. a healthy server of this home's ``topiclab ui`` (the Prefect URL in ``$TOPICLAB_HOME/ui.json``,
   else ``127.0.0.1:$TOPICLAB_PREFECT_PORT``, 4200): no start-up cost, and the run shows up in
   that UI. The server must say (``/api/admin/settings``) that it serves this run's
   ``PREFECT_HOME``: a UI of another home, or whatever now holds a stale record's port, would
   get the flow run while MLflow and the results stay here. Such a server is passed over in
   one line;
3. else a server started here, for this run only.

Why not Prefect's own temporary server: it is a child in the CLI's process group, so Ctrl-C or
``timeout`` kills it together with the CLI, and the flow engine then retries its API calls for
minutes. The server started here lives in its own session (group signals do not reach it),
is stopped when the run ends, and gets ``PR_SET_PDEATHSIG`` so that a SIGKILLed CLI takes it
along instead of leaving a 250 MB orphan. Two runs starting servers on one fresh home take
turns (a lock in ``$PREFECT_HOME``) until each is healthy: both would migrate one
``prefect.db`` at once otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topiclab.app.servers import die_with_parent, healthy, server_home
from topiclab.core.environment import topiclab_home
from topiclab.core.errors import TopiclabError
from topiclab.core.locks import file_lock
from topiclab.core.uis import running_ui

DEFAULT_PORT = 4200


@dataclass(frozen=True)
class PrefectApi:
    url: str  # ends in /api
    origin: str  # "PREFECT_API_URL", "running server" or "own server"
    pid: int | None = None  # of the server this run started
    passed_over: str = ""  # why a server on the `topiclab ui` port was not used

    def describe(self) -> str:
        note = f"{self.passed_over}; starting one for this run\n" if self.passed_over else ""
        if self.pid is None:
            return f"{note}Prefect: {self.url} ({self.origin})"
        return (
            f"{note}Prefect: {self.url} (started for this run, stopped at its end; a running"
            " `topiclab ui` saves the wait)"
        )


def ui_port() -> int:
    """``$TOPICLAB_PREFECT_PORT`` (unset or empty: 4200), checked."""
    return checked_port(
        "TOPICLAB_PREFECT_PORT", os.environ.get("TOPICLAB_PREFECT_PORT") or DEFAULT_PORT
    )


def checked_port(name: str, value: object) -> int:
    """``value`` as a TCP port, or one line naming ``name`` (an option or a variable)."""
    try:
        port = int(str(value).strip())
    except ValueError:
        port = 0
    if not 1 <= port <= 65_535:
        raise TopiclabError(f"{name}={value!r} is not a port: 1 to 65535")
    return port


def running_server() -> PrefectApi | None:
    """``PREFECT_API_URL`` (checked) or a healthy ``topiclab ui`` server of this home."""
    return find_server()[0]


def find_server() -> tuple[PrefectApi | None, str]:
    """The server to join (or None), and why a healthy one on the UI port was passed over."""
    url = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if url:
        if not healthy(f"{url}/health"):
            raise TopiclabError(
                f"PREFECT_API_URL={url} does not answer at {url}/health; start that server, "
                "or unset PREFECT_API_URL to let topiclab start its own"
            )
        return PrefectApi(url, "PREFECT_API_URL"), ""
    recorded = str(running_ui().get("prefect") or "").rstrip("/")
    candidates = [f"{recorded}/api"] if recorded else []
    candidates.append(f"http://127.0.0.1:{ui_port()}/api")
    why = ""
    for url in dict.fromkeys(candidates):
        if not healthy(f"{url}/health"):
            continue
        theirs = server_home(url)
        if theirs is not None and same_path(theirs, prefect_home()):
            return PrefectApi(url, "running server: topiclab ui"), ""
        why = why or why_passed_over(url, theirs)
    return None, why


def prefect_home() -> str:
    return os.environ.get("PREFECT_HOME") or str(topiclab_home() / "prefect")


def same_path(a: str, b: str) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def why_passed_over(url: str, theirs: str | None) -> str:
    """One line: the healthy server at ``url`` (of PREFECT_HOME ``theirs``) is not this home's."""
    where = url.removesuffix("/api").removeprefix("http://")
    if theirs is None:
        return (
            f"not joining the server on {where}: it does not say its PREFECT_HOME "
            "(not a Prefect server?)"
        )
    return (
        f"not joining the Prefect server on {where}: it serves another home "
        f"(PREFECT_HOME={theirs}, not {prefect_home()})"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(port: int) -> list[str]:
    """What Prefect runs for its temporary server: the API only, no UI, no services."""
    import importlib.util

    spec = importlib.util.find_spec("prefect")
    assert spec is not None and spec.origin is not None
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(spec.origin).parent.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def start_server(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the API in its own session; return the process and its URL (not yet healthy)."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    env.pop("PREFECT_API_URL", None)
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            server_command(port),
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C and `timeout` signal the CLI's group, not this
            preexec_fn=die_with_parent(),
        )
    return proc, f"http://127.0.0.1:{port}/api"


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", 300))
    deadline = time.monotonic() + timeout
    while not healthy(f"{url}/health"):
        if proc.poll() is not None:
            raise TopiclabError(
                f"the Prefect server exited with code {proc.returncode}{log_cause(log)}; see {log}"
            )
        if time.monotonic() > deadline:
            logged = _logged(log)
            first = "" if logged else "; a first start creates its database, the slowest"
            where = f"see {log}" if logged else f"it logged nothing yet to {log}"
            raise TopiclabError(
                f"the Prefect server was not healthy after {timeout:g} s (on a busy machine, "
                f"set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher{first}); {where}"
            )
        time.sleep(0.1)


def _logged(log: Path) -> bool:
    """Whether the server wrote to its log: a first start migrates its database silently."""
    try:
        return log.stat().st_size > 0
    except OSError:
        return False


# Database faults a server log ends with, and what the user can do about them.
DB_FAULTS = ("malformed database schema", "database disk image is malformed", "duplicate column")


def log_cause(log: Path, lines: int = 40) -> str:
    """``": <the exception line>; <remedy>"`` when the log's tail names a database fault."""
    try:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    for line in reversed(tail):
        if any(fault in line for fault in DB_FAULTS):
            db = Path(os.environ.get("PREFECT_HOME") or "$PREFECT_HOME") / "prefect.db"
            return f": {line.strip()}; move {db} aside to start afresh"
    return ""


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM its session, SIGKILL after 5 s. Prefect's log and event workers are drained
    first: sending to a stopped server, they would retry at exit for minutes."""
    drain_prefect_workers()
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def drain_prefect_workers(timeout: float = 3) -> None:
    """Deliver (``timeout`` seconds at most) and stop this process's Prefect log and event workers.

    Prefect keeps one of each per process, bound to the API URL of their first use (the events
    worker of a running server is keyed by its client type only), so before a process points
    Prefect at another server they must go: the next log or event starts one for the new URL.
    """
    if "prefect" not in sys.modules:
        return
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=timeout)
        EventsWorker.drain_all(timeout=timeout)
    except Exception:  # best effort: a private API that may move between Prefect releases
        return


def _nothing() -> None:
    return None


@contextmanager
def prefect_api(
    meanwhile: Callable[[], None] = _nothing, announce: Callable[[str], None] = lambda _: None
) -> Iterator[PrefectApi]:
    """The API to use for this run; a server started here is stopped at exit (also on a
    signal: the exception unwinds through here).

    ``meanwhile()`` runs before the API is yielded: while a server started here boots (4-9 s
    of imports and database set-up, in its own process), so the caller's own start-up
    (MLflow's migrations, imports) overlaps it instead of coming before it. Its exceptions,
    Ctrl-C included, stop that server and pass on unchanged. Without a server to start it
    runs first, so its errors still come before an unreachable ``PREFECT_API_URL``'s.
    ``announce(line)`` says that a server is starting, before the wait for it.
    """
    why = ""
    if os.environ.get("PREFECT_API_URL", "").rstrip("/"):
        meanwhile()  # the caller's errors first, then an unreachable URL's (as before)
        found = running_server()
    else:
        found, why = find_server()  # this home's `topiclab ui`, or None
        if found is not None:
            meanwhile()
    if found is not None:
        yield found
        return
    with _own_server(meanwhile, why, announce) as own:
        yield own


@contextmanager
def _own_server(
    meanwhile: Callable[[], None], why: str, announce: Callable[[str], None]
) -> Iterator[PrefectApi]:
    log = topiclab_home() / "logs" / "prefect-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # 5-20 s, or minutes on a fresh home of a busy machine: not a blank terminal meanwhile
    announce(
        f"Prefect: starting a server for this run (a first start creates its database; log {log})"
    )
    proc: subprocess.Popen[bytes] | None = None
    try:
        # A fresh server creates and migrates $PREFECT_HOME/prefect.db at start-up; two at once
        # on one home collide ("duplicate column name"). Healthy means migrated: let go then.
        with file_lock(setup_lock()):
            proc, url = start_server(log)
            meanwhile()
            wait_healthy(proc, url, log)
        yield PrefectApi(url, "own server", proc.pid, why)
    finally:
        if proc is not None:
            stop_server(proc)


def setup_lock() -> Path:
    """The lock a temporary server holds while it sets up its database in ``PREFECT_HOME``."""
    return Path(prefect_home()).expanduser() / ".server-setup.lock"


@contextmanager
def using(api: PrefectApi) -> Iterator[None]:
    """Point this process's Prefect client (and any child process) at ``api``.

    A server started for this run is gone when it ends, so the run's links to its flow-run
    pages (``PREFECT_UI_URL``, unless set) name where ``topiclab ui`` serves the same database.
    """
    from prefect.context import get_settings_context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    env = {"PREFECT_API_URL": api.url}
    if api.pid is not None and not os.environ.get("PREFECT_UI_URL"):
        recorded = str(running_ui().get("prefect") or "")  # this home's UI, any port
        env["PREFECT_UI_URL"] = recorded or f"http://127.0.0.1:{ui_port()}"
    old = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    drain_prefect_workers()
    try:
        with (
            temporary_settings(updates={PREFECT_API_URL: api.url}),
            _for_threads_too(get_settings_context()),
        ):
            yield
    finally:
        drain_prefect_workers()
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _for_threads_too(settings: Any) -> AbstractContextManager[None]:
    """``settings`` as the process's global settings too, restored at exit. A new thread does
    not see its starter's ``temporary_settings`` but these, made when prefect was imported:
    without the URL there, the thread that forwards a process pool's logs to the API
    (``--workers``) started a temporary server of its own."""
    try:  # Prefect's own test harness uses it; a private helper that may move
        from prefect.context import _temporary_global_settings_context
    except ImportError:
        return nullcontext()
    return _temporary_global_settings_context(settings)
