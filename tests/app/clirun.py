"""Run the CLI as a user does (a real subprocess) in a home of its own.

env = fresh_env(tmp_path)                      # TOPICLAB_HOME etc. under tmp_path/home
proc = topiclab("run", "ridge", env=env, cwd=tmp_path)
one_line_error(proc)                           # exit 2 and exactly one line on stderr
run_with_read_only(folder, ["run", "ridge"], env, tmp_path)   # with folder mounted read-only
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Everything under ``tmp_path/home``; no Prefect server to reuse unless one is given."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_RUN_ID")}
    env.update(
        {
            "TOPICLAB_HOME": str(home),
            "PREFECT_HOME": str(home / "prefect"),
            "PREFECT_LOCAL_STORAGE_PATH": str(home / "prefect" / "storage"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "MPLCONFIGDIR": str(home / "matplotlib"),
            "DASK_TEMPORARY_DIRECTORY": str(home / "dask"),
            # a developer's `topiclab ui` on 4200 must not be reused by the tests
            "TOPICLAB_PREFECT_PORT": str(unused_port()),
            "TOPICLAB_NO_PROGRESS": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
            "COLUMNS": "250",
        }
    )
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "topiclab.app.cli", *args]


def topiclab(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def processes_of(home: Path) -> list[str]:
    """Command lines of live processes whose environment names ``TOPICLAB_HOME=home``."""
    needle = f"TOPICLAB_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True
    )
    return probe.returncode == 0


def run_with_read_only(folder: Path, args: list[str], env: dict[str, str], cwd: Path):
    """The CLI with ``folder`` bind-mounted read-only (a private mount namespace): tests may
    run as root, which ignores mode bits."""
    import shlex

    command = f"mount --bind -o ro {shlex.quote(str(folder))} {shlex.quote(str(folder))} && "
    command += "exec " + " ".join(shlex.quote(a) for a in cli(*args))
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
