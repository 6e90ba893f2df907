"""A plugin adds a CLI command (``topiclab_register_commands``); ``--help`` lists it without
importing torch, MLflow or Prefect once the plugin set is known."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def topiclab(home: Path, *args: str, plugins: str = "support.hello_command", importtime=False):
    env = {
        **os.environ,
        "TOPICLAB_HOME": str(home),
        "TOPICLAB_PLUGINS": plugins,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
    }
    flags = ["-X", "importtime"] if importtime else []
    cmd = [sys.executable, *flags, "-m", "topiclab.app.cli", *args]
    return subprocess.run(cmd, env=env, cwd=home, capture_output=True, text=True, timeout=120)


def test_plugin_command_is_listed_and_runs(tmp_path):
    first = topiclab(tmp_path, "--help")
    assert first.returncode == 0, first.stderr
    assert re.search(r"hello\s+Greet NAME", first.stdout)
    ran = topiclab(tmp_path, "hello", "--name", "lead")
    assert ran.returncode == 0 and "hello, lead, from a plugin" in ran.stdout, ran.stderr
    without = topiclab(tmp_path, "--help", plugins="")  # another plugin set: no stale entry
    assert "hello" not in without.stdout


def test_help_lists_plugin_commands_without_heavy_imports(tmp_path):
    topiclab(tmp_path, "--help")  # learns the plugin set (imports the plugins once)
    again = topiclab(tmp_path, "--help", importtime=True)
    assert re.search(r"hello\s+Greet NAME", again.stdout)
    imported = {line.split("|")[-1].strip() for line in again.stderr.splitlines()}
    assert not imported & {"torch", "mlflow", "prefect", "pydantic"}, imported & {
        "torch",
        "mlflow",
        "prefect",
        "pydantic",
    }
