"""Start the local Prefect server and the MLflow UI, wait until healthy, stop by PID.

    with local_servers(4200, 5000) as urls:   # {'prefect': 'http://127.0.0.1:4200', ...}
        ...

Both listen on 127.0.0.1 only. The Prefect server shares ``$PREFECT_HOME`` with local runs,
so runs made before it started show up in its UI; the MLflow UI reads the same tracking URI.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topiclab.core.environment import default_artifact_root, topiclab_home
from topiclab.core.errors import TopiclabError

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):  # no HTTP back (BadStatusLine): not healthy
        return False


def server_home(url: str) -> str | None:
    """The ``PREFECT_HOME`` (where its database is) the Prefect API at ``url`` reports, or None."""
    try:
        with urllib.request.urlopen(f"{url}/admin/settings", timeout=5) as response:
            return str(json.load(response)["home"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux).

    Strictly: when the *thread* that started the child ends, so start servers from the
    thread that outlives them (the main thread).
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: nothing to import after
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def port_in_use(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Server:
    """A server command, its health URL and extra environment."""

    name: str
    cmd: list[str]
    health_url: str
    env: dict[str, str] = field(default_factory=dict)


def _stop(procs: list[subprocess.Popen[bytes]], grace: float = 15) -> None:
    """SIGTERM every process group at once, then SIGKILL those still there after ``grace``
    seconds: the servers shut down side by side, not one after the other."""
    running = [proc for proc in procs if proc.poll() is None]
    for proc in running:
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def server_processes(
    servers: list[Server], timeout: float = 180, grace: float = 15
) -> Iterator[list[int]]:
    """Start every server at once (each in its own process group), wait until all are
    healthy, and kill the groups at exit (SIGKILL after ``grace`` seconds). Starting them
    together halves the wait."""
    procs: list[tuple[Server, subprocess.Popen[bytes], Path]] = []
    try:
        for server in servers:
            log = topiclab_home() / f"{server.name}.log"
            with log.open("ab") as fh:
                proc = subprocess.Popen(
                    server.cmd,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent(),  # a SIGKILLed `topiclab ui` takes them along
                    env={**os.environ, **server.env},
                )
            procs.append((server, proc, log))
        deadline = time.monotonic() + timeout
        for server, proc, log in procs:
            while not healthy(server.health_url):
                if proc.poll() is not None:
                    raise TopiclabError(
                        f"{server.name} exited with code {proc.returncode}; see {log}"
                    )
                if time.monotonic() > deadline:
                    raise TopiclabError(
                        f"{server.name} not healthy after {timeout:.0f} s; see {log}"
                    )
                time.sleep(0.5)
        yield [proc.pid for _, proc, _ in procs]
    finally:
        _stop([proc for _, proc, _ in procs], grace)


@contextmanager
def server_process(
    name: str,
    cmd: list[str],
    health_url: str,
    timeout: float = 180,
    env: dict[str, str] | None = None,
) -> Iterator[int]:
    """One server: start ``cmd``, wait for ``health_url``, kill its process group at exit."""
    with server_processes([Server(name, cmd, health_url, env or {})], timeout) as pids:
        yield pids[0]


def prefect_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def prefect_env(port: int) -> dict[str, str]:
    """Settings for ``prefect_command(port)``: where its UI (in the browser) finds the API.

    ``prefect server start --port P`` does not tell the UI about ``P``: the UI's API URL comes
    from ``PREFECT_API_URL`` or ``PREFECT_SERVER_API_PORT`` (4200), so on any other port, or
    with ``PREFECT_API_URL`` naming another server, the UI says "Unable to connect". A
    ``PREFECT_UI_API_URL`` the user set (a proxy, say) still wins.
    """
    env = {"PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    if not (os.environ.get("PREFECT_UI_API_URL") or os.environ.get("PREFECT_SERVER_UI_API_URL")):
        env["PREFECT_SERVER_UI_API_URL"] = f"http://127.0.0.1:{port}/api"
    return env


def mlflow_app_installed() -> bool:
    """Is ``topiclab.app.mlflow_ui`` registered as MLflow's ``--app-name topiclab``?"""
    from importlib.metadata import entry_points

    return any(e.name == "topiclab" for e in entry_points(group="mlflow.app"))


def mlflow_env() -> dict[str, str]:
    """Settings for ``mlflow_command``: no MLflow job runner unless the user asks for one.

    MLflow 3's server starts a job runner with seven Huey consumer processes by default, for
    GenAI jobs topiclab never submits. They cost startup time and memory, and slow the
    server's shutdown past our 15-s grace period. ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true``
    in the environment turns them back on.
    """
    return {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get(
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"
        )
    }


def mlflow_command(port: int, tracking_uri: str) -> list[str]:
    artifacts = Path(os.environ.get("TOPICLAB_MLFLOW_ARTIFACTS", default_artifact_root()))
    # Opens on "Model training" rather than GenAI; without the entry point (a checkout that
    # is not installed) the plain app, and our links carry ?workflowType=machine_learning.
    app = ["--app-name", "topiclab"] if mlflow_app_installed() else []
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        tracking_uri,
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        *app,
    ]


@contextmanager
def local_servers(prefect_port: int = 4200, mlflow_port: int = 5000) -> Iterator[dict[str, str]]:
    """Prefect server + MLflow UI for this ``$TOPICLAB_HOME``; yields their URLs."""
    for port, option in ((prefect_port, "--prefect-port"), (mlflow_port, "--mlflow-port")):
        if port_in_use(port):
            home = server_home(f"http://127.0.0.1:{port}/api")
            held = f" by a Prefect server of PREFECT_HOME={home}" if home else ""
            raise TopiclabError(
                f"port {port} on 127.0.0.1 is in use{held}; pick another with {option}"
            )
    uri = os.environ["MLFLOW_TRACKING_URI"]
    urls = {"prefect": f"http://127.0.0.1:{prefect_port}"}
    servers = [
        Server(
            "prefect-server",
            prefect_command(prefect_port),
            f"{urls['prefect']}/api/health",
            prefect_env(prefect_port),
        )
    ]
    if uri.startswith(("http://", "https://")):
        urls["mlflow"] = uri  # a tracking server is already configured
    else:
        urls["mlflow"] = f"http://127.0.0.1:{mlflow_port}"
        servers.append(
            Server(
                "mlflow-ui",
                mlflow_command(mlflow_port, uri),
                f"{urls['mlflow']}/health",
                mlflow_env(),
            )
        )
    with server_processes(servers):
        yield urls


def run_uis(prefect_port: int, mlflow_port: int, console: Any) -> None:
    console.print("starting the Prefect server and the MLflow UI (about 15-30 s)...")
    from topiclab.core.uis import ui_record

    with local_servers(prefect_port, mlflow_port) as urls, ui_record(urls):
        # soft_wrap: a line longer than the terminal stays one line, to copy in one piece
        console.print(
            f"Prefect UI: {urls['prefect']}\nMLflow UI:  {urls['mlflow']}\n"
            f"Runs of this TOPICLAB_HOME use this Prefect server; to send others' runs to it:\n"
            f"  export PREFECT_API_URL={urls['prefect']}/api\nCtrl-C stops both.",
            soft_wrap=True,
            highlight=False,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopping...")
