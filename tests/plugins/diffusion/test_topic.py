"""The diffusion topic end to end (quick profile) through ``run_direct``.

.venv/bin/pytest tests/plugins/diffusion -q
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from topiclab.core.registry import get_registry
from topiclab.core.specs import TrainerSpec
from topiclab.core.stages import run_direct

SMALL = ['toy.datasets=["ring"]', "digits.enabled=false", "toy.steps=100"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return run_direct("diffusion", "quick", root=tmp_path_factory.mktemp("quick"))


def test_quick_run_writes_every_output(quick):
    ev = quick["evaluate"]
    for path in [*ev.figures.values(), *ev.tables.values(), *quick["train"].models.values()]:
        assert Path(path).is_file() and Path(path).stat().st_size > 0
    assert {"samples_2d", "trajectory_ring", "loss", "digits_samples"} <= set(ev.figures)
    assert {"toy_metrics", "samplers_ring"} <= set(ev.tables)
    assert set(ev.children) == {"ring", "moons", "digits"}
    assert set(quick["train"].models) == {"ddpm-ring", "ddpm-moons", "ddpm-digits"}
    json.dumps(ev.model_dump())  # manifests stay JSON-able: no arrays or tensors


def test_quick_claims_that_hold_at_any_size(quick):
    claims = {c.id: c for c in quick["evaluate"].claims}
    assert {
        "ring-modes",
        "ring-high-quality",
        "ring-mmd-vs-gaussian",
        "digits-classes",
        "ddim-speed-quality",
    } <= set(claims)
    for cid in (
        "schedule-alpha-bar-T",
        "schedule-t100-pitfall",
        "ring-exact-score",
        "ring-bound-above-nll",
    ):
        assert claims[cid].passed, claims[cid]
    m = quick["evaluate"].metrics
    # A trained net's loss sits above the exact-ε* floor; the bound above the true NLL.
    assert m["ring.loss_test"] > m["ring.loss_floor_exact"]
    assert m["ring.bound_nats_per_dim"] > m["ring.true_nll_nats_per_dim"]
    assert m["ring.real.mmd"] < m["ring.gaussian.mmd"]


def test_same_seed_same_metrics(tmp_path):
    a = run_direct("diffusion", "quick", overrides=SMALL, root=tmp_path / "a")
    b = run_direct("diffusion", "quick", overrides=SMALL, root=tmp_path / "b")
    assert a["evaluate"].metrics == b["evaluate"].metrics
    c = run_direct("diffusion", "quick", overrides=[*SMALL, "seed=1"], root=tmp_path / "c")
    assert c["evaluate"].metrics != a["evaluate"].metrics


class GaussianTrainer:
    """A third party's generative trainer: a full-covariance Gaussian, no DDPM extras."""

    def __init__(self, config: dict) -> None:
        self.mean, self.cov = np.zeros(2), np.eye(2)

    def fit(self, x, progress=None):
        self.mean, self.cov = x.mean(0), np.cov(x, rowvar=False)
        if progress is not None:
            progress(0, loss=0.0)

    def sample(self, n, seed):
        return np.random.default_rng(seed).multivariate_normal(self.mean, self.cov, n)

    def save(self, path):
        np.save(path, np.concatenate([self.mean, self.cov.ravel()]))

    def load(self, path):
        v = np.load(path if str(path).endswith(".npy") else f"{path}.npy")
        self.mean, self.cov = v[:2], v[2:].reshape(2, 2)

    def module(self):
        import torch

        return torch.nn.Linear(2, 2)


def test_any_generative_trainer_gets_the_sample_metrics(tmp_path):
    reg = get_registry()
    reg.trainers["gauss-test"] = TrainerSpec("gauss-test", "generative", GaussianTrainer)
    try:
        out = run_direct(
            "diffusion", "quick", overrides=[*SMALL, "trainer=gauss-test"], root=tmp_path
        )
    finally:
        del reg.trainers["gauss-test"]
    ev = out["evaluate"]
    ring = ev.children["ring"]
    assert "bound_nats_per_dim" not in ring and "samplers_ring" not in ev.tables
    assert ring["model.mmd"] == pytest.approx(ring["gaussian.mmd"], rel=0.5)
    claims = {c.id: c for c in ev.claims}
    assert not claims["ring-high-quality"].passed  # a Gaussian puts mass between modes


def test_a_non_finite_metric_fails_every_claim_that_uses_it(quick):
    from topiclab.core.config import resolve_config
    from topiclab.core.topic import StageResult
    from topiclab.plugins.diffusion.claims import build_claims

    cfg = resolve_config(type(get_registry().topic("diffusion")), "quick")
    m = {**quick["evaluate"].metrics, "ring.model.mmd": 0.0, "ring.mmd_ratio_gaussian": np.inf}
    m["ring.bound_se"] = np.nan
    claims = {
        c.id: c for c in StageResult(metrics=m, claims=build_claims(cfg, m, True, None)).claims
    }
    assert not claims["ring-mmd-vs-gaussian"].passed  # inf >= 5 would pass
    assert not claims["ring-bound-above-nll"].passed  # gap >= -2·nan is False anyway; named
    assert "ring.bound_se is nan" in claims["ring-bound-above-nll"].note
    assert claims["schedule-alpha-bar-T"].passed


def test_claims_cite_papers_and_quick_paints_only_its_own_claims_red(quick):
    import re

    from topiclab.core.topic import verdict

    for c in quick["evaluate"].claims:
        assert c.source and not re.search(r"issue \d|reference (page )?\d", c.source), c
        assert verdict(c, "quick") != "FAIL", c  # a failure quick is not expected to avoid
