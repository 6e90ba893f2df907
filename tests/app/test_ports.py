"""A port that is no port (``--prefect-port 70000``, ``TOPICLAB_PREFECT_PORT=abc``) is one line
naming it and the range, exit 2, not a traceback (``OverflowError: connect_ex(): port must be
0-65535`` from `topiclab ui`, ``ValueError: invalid literal for int()`` from every `run`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from app.clirun import fresh_env, one_line_error, topiclab

from topiclab.app.prefect_api import ui_port
from topiclab.core.errors import TopiclabError


@pytest.mark.parametrize("value", ["abc", "0", "-5", "70000", "4200.5"])
def test_a_prefect_port_variable_that_is_no_port_is_one_line(monkeypatch, value: str) -> None:
    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", value)
    with pytest.raises(TopiclabError) as info:
        ui_port()
    text = str(info.value)
    assert text.startswith(f"TOPICLAB_PREFECT_PORT={value!r} is not a port: 1 to 65535"), text


def test_a_prefect_port_variable_in_range_is_used(monkeypatch) -> None:
    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", " 4211 ")
    assert ui_port() == 4211
    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", "")  # set but empty: as if unset
    assert ui_port() == 4200
    monkeypatch.delenv("TOPICLAB_PREFECT_PORT")
    assert ui_port() == 4200


@pytest.mark.parametrize("option", ["--prefect-port", "--mlflow-port"])
def test_ui_refuses_a_port_out_of_range_in_one_line(tmp_path: Path, option: str) -> None:
    line = one_line_error(topiclab("ui", option, "70000", env=fresh_env(tmp_path), cwd=tmp_path))
    assert f"{option}=70000 is not a port: 1 to 65535" in line, line


def test_a_run_with_a_prefect_port_variable_that_is_no_port_is_one_line(tmp_path: Path) -> None:
    env = fresh_env(tmp_path) | {"TOPICLAB_PREFECT_PORT": "abc"}
    line = one_line_error(topiclab("run", "ridge", "--profile", "quick", env=env, cwd=tmp_path))
    assert "TOPICLAB_PREFECT_PORT='abc' is not a port: 1 to 65535" in line, line
    assert not (tmp_path / "results").exists()
