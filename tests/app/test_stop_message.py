"""A signal ends any command with ``stopped by SIG...``; only one that started a pipeline
adds that the run is marked FAILED and resumes (``topiclab list`` or ``ui`` has no run)."""

from __future__ import annotations

import atexit
import os
import signal

import pytest

from topiclab.app import cli
from topiclab.app.signals import Stopped


def stopped_main(monkeypatch: pytest.MonkeyPatch, capsys, pipeline: bool) -> str:
    """main() as a command stopped by SIGTERM, without touching pytest's own handlers."""

    def command() -> None:
        if pipeline:
            cli._pipeline_started()
        raise Stopped(signal.SIGTERM)

    def exit_(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(cli, "app", command)
    monkeypatch.setattr(cli, "raise_on_sigterm", lambda: None)
    monkeypatch.setattr(cli.faulthandler, "register", lambda *a, **k: None)
    monkeypatch.setattr(atexit, "register", lambda f: None)
    monkeypatch.setattr(os, "_exit", exit_)
    monkeypatch.setattr(cli, "_pipeline_ran", False, raising=False)
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 143
    return capsys.readouterr().err.strip()


def test_a_command_without_a_run_says_only_stopped(monkeypatch, capsys) -> None:
    assert stopped_main(monkeypatch, capsys, pipeline=False) == "stopped by SIGTERM"


def test_a_run_says_it_is_marked_failed_and_resumes(monkeypatch, capsys) -> None:
    line = stopped_main(monkeypatch, capsys, pipeline=True)
    assert line.startswith("stopped by SIGTERM: the run is marked FAILED"), line
    assert "resumes from the last finished stage" in line
