"""causal-iv's config: every value that makes no sense is refused in one line, before any stage
runs (issue 9), through ``resolve_config`` and through the command line (exit 2)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry

REPO = Path(__file__).resolve().parents[3]

BAD = [
    ("icp.alpha=5", "invalid value for 'icp.alpha': Input should be less than 1"),
    ("icp.alpha=0", "invalid value for 'icp.alpha': Input should be greater than 0"),
    ("coverage.reps=1000000000", "invalid value for 'coverage.reps': Input should be less"),
    ("weak.reps=1000000000", "invalid value for 'weak.reps'"),
    ("invalid.n=10", "invalid value for 'invalid.n'"),
    ("seed=true", "invalid value for 'seed': Input should be a valid integer; got True"),
    ("seed=-1", "invalid value for 'seed': Input should be greater than or equal to 0"),
    ("nonlinear.degree=-1", "invalid value for 'nonlinear.degree'"),
    ("nonlinear.instrument_degree=2", "invalid value for 'nonlinear': instrument_degree (2)"),
    ("icp.n_per_env=0", "invalid value for 'icp.n_per_env'"),
    ("sem.pi=Infinity", "invalid value for 'sem.pi': must be a finite number; got inf"),
    ("sem.pi=0", "invalid value for 'sem.pi': Input should be greater than 0"),
    ("sem.beta=NaN", "invalid value for 'sem.beta': must be a finite number"),
    ("refute.confounder_strengths=[]", "invalid value for 'refute.confounder_strengths'"),
    ("refute.num_simulations=true", "invalid value for 'refute.num_simulations'"),
    ("estimators.iv=nosuch", "invalid value for 'estimators.iv': unknown iv estimator 'nosuch'"),
    ('estimators.options={"nosuch": {}}', "invalid value for 'estimators.options'"),
    (
        'estimators.options={"iv.2sls": {"cov_type": "huge"}}',
        "invalid value for 'estimators.options.iv.2sls.cov_type'",
    ),
]


def topic() -> type:
    return type(get_registry().topic("causal-iv"))


@pytest.mark.parametrize("override, message", BAD)
def test_bad_values_are_refused_before_anything_runs(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(topic(), "quick", overrides=[override])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unknown_estimator_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(topic(), "quick", overrides=["estimators.iv=nosuch"])
    assert "choose from: iv.2sls, iv.control_function" in str(info.value)
    assert "backdoor" not in str(info.value)  # only estimators of the slot's kind


@pytest.mark.parametrize("profile", ["quick", "standard", "full"])
def test_every_profile_is_valid(profile: str) -> None:
    resolve_config(topic(), profile)


def _cli_module() -> str:
    """The CLI's module (it moves from ``core`` to ``app`` with the platform layers)."""
    for name in ("topiclab.app.cli", "topiclab.core.cli"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise AssertionError("no topiclab CLI module")


@pytest.mark.parametrize("override", ["icp.alpha=5", "estimators.iv=nosuch"])
def test_cli_refuses_in_one_line_with_exit_2_and_writes_nothing(
    override: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["run", "causal-iv", "--profile", "quick", "--set", override, "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", _cli_module(), *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "invalid value for" in lines[0], proc.stderr
    assert not out.exists() or not any(out.iterdir())
