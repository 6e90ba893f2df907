"""Secrets from the environment never reach what topiclab writes for people to read.

The end-to-end check (every log, tag, param and artifact of a team setup) is in
tests/flows/test_team_deploy.py; these pin each place that builds such text.
"""

from __future__ import annotations

import pytest

from topiclab.core.secrets import MASK, public_url, redact, secret_values

PASSWORD = "pipeline-pw-0123"
AUTH = "topiclab:prefect-pw-4567"


@pytest.fixture
def team_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://pipeline:{PASSWORD}@mlflow.lan:5000")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", AUTH)
    monkeypatch.setenv("PREFECT_API_URL", "http://admin:other-pw-89@prefect.lan:4200/api")


def test_public_url_drops_user_and_password() -> None:
    assert public_url("http://u:p@host:5000/x?y=1") == "http://host:5000/x?y=1"
    assert public_url("http://host:5000") == "http://host:5000"
    assert public_url("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
    assert public_url("not a url") == "not a url"


def test_redact_masks_every_secret_of_the_environment(team_env: None) -> None:
    found = secret_values()
    assert {PASSWORD, AUTH, "prefect-pw-4567", "other-pw-89"} <= set(found)
    text = f"uri http://pipeline:{PASSWORD}@h auth {AUTH} alone prefect-pw-4567 url other-pw-89"
    masked = redact(text)
    assert all(secret not in masked for secret in found)
    assert masked.count(MASK) == 4


def test_redact_leaves_short_values_and_unset_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_PASSWORD", "PREFECT_API_AUTH_STRING", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "1")  # would mask every digit 1
    assert redact("seed 1, lr 0.1") == "seed 1, lr 0.1"


def test_links_in_runs_and_artifacts_carry_no_password(team_env: None) -> None:
    from topiclab.flows.pipeline import prefect_urls
    from topiclab.plugins.mlflow_tracker import _flatten, runs

    assert runs.ui_url("1", "abc").startswith("http://mlflow.lan:5000/#/experiments/1/runs/abc")
    assert prefect_urls("f-1") == {"Prefect flow run": "http://prefect.lan:4200/runs/flow-run/f-1"}
    params = _flatten({"data": {"url": f"http://pipeline:{PASSWORD}@store/x"}, "seed": 3})
    assert params == {"data.url": f"http://pipeline:{MASK}@store/x", "seed": "3"}
    run = {"topic": "t", "profile": "quick", "config": {"seed": AUTH}, "links": {"urls": {}}}
    assert AUTH not in str(runs.run_tags(run)) and AUTH not in runs.note(run, {}, [])  # type: ignore[arg-type]
