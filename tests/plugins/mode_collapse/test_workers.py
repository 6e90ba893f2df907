"""The train stage's fits in worker processes give the serial path's numbers, bit for bit.

.venv/bin/pytest tests/plugins/mode_collapse/test_workers.py -q
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from support import pool_jobs
from support.gan_trainers import registered

from topiclab.core.stages import run_direct
from topiclab.nn.gan import GANTrainer
from topiclab.plugins.mode_collapse import train as train_module

# Every kind of job: batched GAN seeds (ring and grid), a trainer fitted seed by seed (VAE),
# stacked digits and the ±x regression; a few steps each.
SMALL = [
    'trainers={"gan": {"steps": 40}, "vae": {"steps": 40}}',
    'grid_trainers=["gan"]',
    "checkpoints=2",
    'stacked.trainers={"gan": {"steps": 10}, "vae": {"steps": 10}}',
    "regression.steps=50",
]


def run(tmp_path: Path, workers: int) -> dict:
    return run_direct("mode-collapse", "quick", [*SMALL, f"workers={workers}"], tmp_path)


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of workers of each pool the train stage opens."""
    opened: list[int] = []
    real = train_module.worker_pool

    @contextmanager
    def spy(workers, *args, **kwargs):
        opened.append(workers)
        with real(workers, *args, **kwargs) as pool:
            yield pool

    monkeypatch.setattr(train_module, "worker_pool", spy)
    return opened


def test_worker_processes_give_the_serial_numbers(
    tmp_path: Path, pools: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``workers`` is an execution option (in no cache key): the numbers must not depend on
    it. (``torch_threads`` is not one: 2 threads moved the ±x MDN's branch weight in the
    7th digit, 0.46555218 against 0.46555239.) And no more workers than cores: workers=64 on
    2 cores started 14 processes of ~330 MB each (quick) for no speed-up; here 8 on 2 (the
    same parallel run checks both: a run of its own for the cap cost ~15 s)."""
    serial = run(tmp_path / "serial", 1)
    assert pools == []
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert_same_numbers(run(tmp_path / "parallel", 8), serial)
    assert pools == [2]


def assert_same_numbers(other: dict, serial: dict) -> None:
    """The same train records, files and evaluate metrics, bit for bit (less the seconds)."""
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in serial["train"].data["runs"]]
    runs = [{k: v for k, v in r.items() if k != "seconds"} for r in other["train"].data["runs"]]
    assert runs == strip  # the same records in the same order
    assert {r["dataset"] for r in runs} == {"ring", "grid", "stacked"}
    assert other["evaluate"].metrics == serial["evaluate"].metrics
    files = serial["train"].files
    assert set(other["train"].files) == set(files) and "regression" in files
    for name, path in files.items():  # samples, checkpoint samples, the regression's grid
        mine, theirs = arrays(other["train"].files[name]), arrays(path)
        assert mine.keys() == theirs.keys()
        assert all(np.array_equal(mine[k], theirs[k]) for k in theirs), name
    assert set(other["train"].models) == set(serial["train"].models)


def arrays(path: str) -> dict[str, np.ndarray]:
    loaded = np.load(path)
    return dict(loaded) if path.endswith(".npz") else {"": loaded}


class LocalGAN(GANTrainer):
    """Defined in a test module (pytest imports it from its file): no worker can import it."""


def test_a_trainer_no_worker_can_import_is_fitted_here(
    tmp_path: Path, pools: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    with registered("local-gan", LocalGAN):
        out = run_direct(
            "mode-collapse",
            "quick",
            ['trainers={"local-gan": {"steps": 20}}', 'datasets=["ring"]', "workers=2"],
            tmp_path,
        )
    assert pools == []  # no pool opened
    assert "a new process cannot import LocalGAN" in caplog.text
    assert [r["status"] for r in out["train"].data["runs"]] == ["ok"] * 4  # + stacked digits


def test_a_job_holding_an_object_no_worker_can_import_runs_here(
    pools: list[int], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not only the trainer: whatever a job holds is unpickled in the worker."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    options = pool_jobs.notebook_class(monkeypatch)()
    todo = [pool_jobs.Logging("a", options=options), pool_jobs.Logging("b")]
    outs = train_module.run_jobs(_Ctx(), 2, todo)  # type: ignore[arg-type]
    assert pools == []  # no pool opened
    assert "fitting in this process, not in 2 workers: a new process cannot import Options" in (
        caplog.text
    )
    assert [o.records for o in outs] == [[{"name": "a"}], [{"name": "b"}]]


class _Ctx:
    """The parts of a StageContext that ``run_jobs`` uses, recording what is logged."""

    def __init__(self) -> None:
        self.logged: list[tuple] = []

    @contextmanager
    def progress(self, name: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda step: None

    def log_metrics(self, metrics: dict, step: int | None, child: str | None) -> None:
        self.logged.append((metrics, step, child))


def test_a_workers_step_metrics_are_logged_in_the_stages_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    todo = [pool_jobs.Logging("a"), pool_jobs.Logging("b")]
    serial, pooled = _Ctx(), _Ctx()
    outs = train_module.run_jobs(serial, 1, todo)  # type: ignore[arg-type]
    assert train_module.run_jobs(pooled, 2, todo) == outs  # type: ignore[arg-type]
    assert len(serial.logged) == 6
    for child in ("a", "b"):  # each job's steps in order, under its child run
        assert [x for x in pooled.logged if x[2] == child] == [
            x for x in serial.logged if x[2] == child
        ]
