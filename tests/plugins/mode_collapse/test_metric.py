"""PacGAN's mode metric on PacGAN's ring and grid, on cases with known answers.

.venv/bin/pytest tests/plugins/mode_collapse/test_metric.py -q
"""

from __future__ import annotations

import numpy as np
import pytest

from topiclab.nn.sample_metrics import mode_metrics
from topiclab.plugins.mode_collapse.data import Mixture, mixture, sample_mixture
from topiclab.plugins.mode_collapse.evaluate import covered, mean_se, same_columns, summarize

HQ_EXACT = 1 - np.exp(-4.5)  # 0.98889: a 2-D Gaussian's mass within 3σ


@pytest.mark.parametrize("name,k", [("ring", 8), ("grid", 25)])
def test_exact_samples_capture_every_mode_at_the_closed_form_rate(name, k):
    mix = mixture(name)
    m = mode_metrics(sample_mixture(mix, 2_500, seed=0), mix.means, mix.std)
    assert m["modes"] == k and m["modes_1pct"] == k
    # 2,500 samples: SE of the rate is √(0.011·0.989/2500) = 0.002
    assert m["hq_frac"] == pytest.approx(HQ_EXACT, abs=0.007)
    assert m["kl_uniform"] < 0.02


def test_samples_collapsed_to_one_mode_give_one_of_eight():
    ring = mixture("ring")
    one = Mixture(ring.means[3:4], ring.std)
    m = mode_metrics(sample_mixture(one, 2_500, seed=1), ring.means, ring.std)
    assert m["modes"] == 1
    assert m["hq_frac"] == pytest.approx(HQ_EXACT, abs=0.01)
    assert m["kl_uniform"] == pytest.approx(np.log(8))


def test_uniform_noise_has_a_low_high_quality_rate():
    ring = mixture("ring")
    noise = np.random.default_rng(2).uniform(-1.5, 1.5, size=(2_500, 2))
    # 8 disks of radius 0.03 cover 0.8 % of the 3×3 square
    assert mode_metrics(noise, ring.means, ring.std)["hq_frac"] < 0.02


def test_the_eight_ring_means_are_distinct_on_the_unit_circle():
    means = mixture("ring").means
    assert len(np.unique(np.round(means, 9), axis=0)) == 8
    assert np.allclose(np.linalg.norm(means, axis=1), 1.0)
    d = np.linalg.norm(means[:, None] - means[None], axis=2) + np.eye(8)
    assert d.min() == pytest.approx(2 * np.sin(np.pi / 8))  # neighbours: 0.765 ≫ 3σ = 0.03
    bug = np.linspace(0, 2 * np.pi, 8)  # the copied notebook's placement: 7 distinct modes
    assert len(np.unique(np.round(np.stack([np.cos(bug), np.sin(bug)], 1), 9), axis=0)) == 7


def test_grid_means_and_spread():
    g = mixture("grid")
    assert g.means.shape == (25, 2) and g.std == 0.05
    assert set(np.unique(g.means)) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_strict_coverage_ignores_a_stray_sample():
    ring = mixture("ring")
    x = sample_mixture(Mixture(ring.means[:2], ring.std), 2_500, seed=3)
    x[0] = ring.means[5]  # one sample on mode 5: a mode by PacGAN's count, not by 1 %
    assert mode_metrics(x, ring.means, ring.std)["modes"] == 3
    assert covered(x, "ring") == frozenset({0, 1})


def test_mean_and_standard_error():
    m, se = mean_se([6.0, 8.0, 7.0, 7.0])
    assert m == 7.0 and se == pytest.approx(np.std([6, 8, 7, 7], ddof=1) / 2)
    assert np.isnan(mean_se([8.0])[1])


def test_summary_rows_share_columns_when_a_method_has_no_finite_kl():
    """A generator with no HQ sample in any seed (KL = inf) has no KL mean of its own; the
    summary table still gets one column set (the quick run's point-init GAN)."""
    ring = mixture("ring")
    point = mode_metrics(np.zeros((100, 2)), ring.means, ring.std)  # all at the centre
    exact = mode_metrics(sample_mixture(ring, 100, seed=0), ring.means, ring.std)
    runs = [
        {"dataset": "ring", "method": k, "status": "ok"} | m
        for k, m in [("gan", point), ("gan", point), ("mdn", exact)]
    ]
    summary = summarize(runs, "ring", ["gan", "mdn"])
    assert "kl_uniform_mean" not in summary["gan"] and "kl_uniform_mean" in summary["mdn"]
    rows = same_columns([{"method": m} | r for m, r in summary.items()])
    assert list(rows[0]) == list(rows[1]) and rows[0]["kl_uniform_mean"] == ""


def test_stacked_digits_count_triples_with_the_classifier():
    from sklearn.linear_model import LogisticRegression

    from topiclab.plugins.mode_collapse.data import load_digits01, stack_digits
    from topiclab.plugins.mode_collapse.evaluate import stacked_modes

    d = load_digits01(seed=0)
    x, mode = stack_digits(d["x_test"], d["y_test"], 2_500, seed=1)
    assert x.shape == (2_500, 3, 8, 8) and mode.min() >= 0 and mode.max() <= 999
    # 2,500 uniform draws of 1,000 modes hit 1000·(1 − 0.999^2500) = 918 of them on average
    assert 880 <= len(np.unique(mode)) <= 950
    clf = LogisticRegression(max_iter=2000).fit(d["x_train"].reshape(-1, 64), d["y_train"])
    real = stacked_modes(clf, x)
    assert real["modes"] >= 850 and real["hq_frac"] > 0.85
    one = stacked_modes(clf, np.repeat(x[:1], 500, axis=0))  # collapsed onto one sample
    assert one["modes"] == 1 and one["kl_uniform"] == pytest.approx(np.log(1000))
