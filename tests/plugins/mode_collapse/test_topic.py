"""The mode-collapse topic end to end (quick profile), a diverging seed, a plugin's trainer.

.venv/bin/pytest tests/plugins/mode_collapse -q
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from support.gan_trainers import NaNOnSecondSeed, registered

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry
from topiclab.core.stages import run_direct
from topiclab.core.topic import verdict

ALL = {"gan", "pacgan", "unrolled-gan", "vae", "mdn", "ddpm"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return run_direct("mode-collapse", "quick", root=tmp_path_factory.mktemp("quick"))


def test_quick_run_writes_every_output(quick):
    ev = quick["evaluate"]
    for path in [*ev.figures.values(), *ev.tables.values(), *quick["train"].models.values()]:
        assert Path(path).is_file() and Path(path).stat().st_size > 0
    assert {
        "samples_ring",
        "gan_checkpoints_ring",
        "lipschitz",
        "kl_directions",
        "regression",
        "samples_stacked",
    } <= set(ev.figures)
    assert {"runs", "summary_ring", "cycling_ring", "summary_grid"} <= set(ev.tables)
    runs = quick["train"].data["runs"]
    ring = [r for r in runs if r["dataset"] == "ring"]
    grid = {(r["method"], r["seed"]) for r in runs if r["dataset"] == "grid"}
    assert grid == {(m, s) for m in ("gan", "pacgan") for s in (0, 1)}  # grid_trainers only
    assert {r["method"] for r in ring} == ALL and len(ring) == 2 * len(ALL)  # 2 seeds in quick
    assert {(r["method"], r["seed"]) for r in runs if r["dataset"] == "stacked"} == {
        ("gan", 0),
        ("vae", 0),
    }
    assert all(r["status"] == "ok" for r in runs)
    for method in ALL:
        assert ev.metrics[f"ring.{method}.n_ok"] == 2
        assert 0 <= ev.metrics[f"ring.{method}.modes_mean"] <= 8
    json.dumps(ev.model_dump())  # manifests stay JSON-able


def test_quick_claims_and_the_published_table(quick):
    ev = quick["evaluate"]
    claims = {c.id: c for c in ev.claims}
    for cid in ("metric-exact-samples-ring", "forward-kl-moment-match", "reverse-kl-mode-seeking"):
        assert claims[cid].passed, claims[cid]
    assert {
        "gan-fewer-modes-than-ddpm",
        "remedies-more-modes",
        "vae-covers-but-blurs",
        "ddpm-covers-ring",
        "mse-averages-mdn-splits",
        "ordering-as-published",
        "gan-drops-grid-modes",
        "remedies-more-modes-grid",
    } <= set(claims)
    for c in ev.claims:
        assert c.source and not re.search(r"issue \d|reference (page )?\d", c.source), c
        assert verdict(c, "quick") != "FAIL", c  # quick is not expected to train to the papers
    table = ev.sections["Ring and grid beside the published tables (ring)"]
    assert "6.3 ± 0.5, 98.2 ± 0.2" in table and "7.6, 35.6 (k=5)" in table
    assert "Our configuration" in table
    assert "Stacked digits (1,000 modes)" in ev.sections
    assert claims["stacked-classifier-accuracy"].passed


@pytest.mark.parametrize("workers", [1, 2])
def test_a_diverging_gan_seed_fails_that_seed_only_and_the_report_says_so(tmp_path, workers):
    """Also with the fits in worker processes (the trainer is unpickled there)."""
    with registered("nan-gan", NaNOnSecondSeed):
        out = run_direct(
            "mode-collapse",
            "quick",
            overrides=[
                'trainers={"nan-gan": {"steps": 20}, "gan": {"steps": 20}}',
                'datasets=["ring"]',
                "stacked.enabled=false",
                f"workers={workers}",
            ],
            root=tmp_path,
        )
    runs = {(r["method"], r["seed"]): r for r in out["train"].data["runs"]}
    assert runs[("nan-gan", 1)]["status"] == "failed"
    assert "not finite at step 0" in runs[("nan-gan", 1)]["error"]
    assert runs[("nan-gan", 0)]["status"] == "ok" and runs[("gan", 1)]["status"] == "ok"
    m = out["evaluate"].metrics
    assert m["ring.nan-gan.n_failed"] == 1 and m["ring.nan-gan.n_ok"] == 1
    assert m["ring.gan.n_failed"] == 0
    report = Path(out["report"].files["report.md"]).read_text()
    assert "1 of 4 trainings failed" in report and "not finite at step 0" in report


def test_a_plugins_generator_is_compared_by_adding_its_key(tmp_path):
    """The example plugin's `gmm` (installed with the test extras) beside the GAN."""
    assert "gmm" in get_registry().trainers
    out = run_direct(
        "mode-collapse",
        "quick",
        overrides=['trainers.gmm={"n_components": 8}', "stacked.enabled=false"],
        root=tmp_path,
    )
    ev = out["evaluate"]
    assert ev.metrics["ring.gmm.n_ok"] == 2
    assert ev.metrics["ring.gmm.modes_mean"] >= 7  # EM with 8 components finds the ring
    assert {r["method"] for r in out["train"].data["runs"]} == ALL | {"gmm"}  # merged, kept


def test_config_names_registered_trainers_and_validates_their_options():
    topic = get_registry().topic("mode-collapse")
    with pytest.raises(ConfigError, match=r"unknown trainer .*'nosuch'; choose from: .*gan"):
        resolve_config(type(topic), "quick", overrides=["trainers.nosuch={}"])
    with pytest.raises(ConfigError, match=r"trainers\.pacgan\.pack"):
        resolve_config(type(topic), "quick", overrides=["trainers.pacgan.pack=1"])
    cfg = resolve_config(type(topic), "standard")
    assert cfg.seeds >= 5 and set(cfg.trainers) == ALL and cfg.n_samples == 2_500
    assert cfg.methods("grid") == ["gan", "pacgan"] and set(cfg.methods("ring")) == ALL
    with pytest.raises(ConfigError, match=r"unknown trainer .*'vea'"):
        resolve_config(type(topic), "quick", overrides=['grid_trainers=["gan", "vea"]'])


def test_diffusion_runs_with_the_gan_trainer(tmp_path):
    """`topiclab run diffusion --set trainer=gan`: the GAN where diffusion trains a DDPM."""
    out = run_direct(
        "diffusion",
        "quick",
        root=tmp_path,
        overrides=[
            'toy.datasets=["ring"]',
            "digits.enabled=false",
            'trainer_options={"steps": 50}',
            "trainer=gan",
        ],
    )
    ring = out["evaluate"].children["ring"]
    assert 0 <= ring["model.modes"] <= 8 and np.isfinite(ring["model.mmd"])
    assert "gan-ring" in out["train"].models and "loss" in out["evaluate"].figures
