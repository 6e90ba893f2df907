"""Sample metrics on cases with known answers (reference 06's unit tests of the mode metric).

.venv/bin/pytest tests/nn/test_sample_metrics.py -q
"""

from __future__ import annotations

import numpy as np
import pytest

from topiclab.nn.sample_metrics import frechet_distance, mmd_rbf, mode_metrics, sliced_wasserstein

ANGLES = np.arange(8) * 2 * np.pi / 8
MEANS = 2.0 * np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1)
STD = 0.02


def ring(n: int, seed: int, modes: np.ndarray = MEANS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return modes[rng.integers(0, len(modes), n)] + STD * rng.normal(size=(n, 2))


def test_exact_samples_cover_all_modes_at_the_closed_form_rate():
    m = mode_metrics(ring(20_000, 0), MEANS, STD)
    assert m["modes"] == 8
    assert m["hq_frac"] == pytest.approx(1 - np.exp(-4.5), abs=0.003)  # 0.9889
    assert m["kl_uniform"] < 0.01


def test_single_mode_collapse_and_uniform_noise():
    collapsed = mode_metrics(ring(2_500, 1, MEANS[:1]), MEANS, STD)
    assert collapsed["modes"] == 1 and collapsed["hq_frac"] > 0.97
    assert collapsed["kl_uniform"] == pytest.approx(np.log(8), abs=1e-9)
    noise = np.random.default_rng(2).uniform(-3, 3, size=(2_500, 2))
    assert mode_metrics(noise, MEANS, STD)["hq_frac"] < 0.05


def test_linspace_pitfall_gives_seven_modes():
    bad = np.linspace(0, 2 * np.pi, 8)
    assert len(np.unique(np.round(np.stack([np.cos(bad), np.sin(bad)], 1), 9), axis=0)) == 7
    assert len(np.unique(np.round(MEANS, 9), axis=0)) == 8


def test_mmd_and_swd_floor_and_ordering():
    x, y = ring(1_500, 3), ring(1_500, 4)
    collapsed = ring(1_500, 5, MEANS[:4])
    gauss = np.random.default_rng(6).normal(size=(1_500, 2)) * np.sqrt(2)
    assert abs(mmd_rbf(x, y)) < 5e-3  # unbiased: the floor scatters around 0 (mode counts)
    assert mmd_rbf(x, gauss) > 20 * abs(mmd_rbf(x, y))
    assert mmd_rbf(x, collapsed) > 10 * abs(mmd_rbf(x, y))
    assert sliced_wasserstein(x, y) < 0.5 * sliced_wasserstein(x, gauss)
    shifted = x + np.array([0.5, 0.0])
    # a shift by 0.5 along x moves every projection on u by 0.5·|u_x|, mean 0.5·2/π
    assert sliced_wasserstein(x, shifted, n_proj=500) == pytest.approx(1 / np.pi, rel=0.05)


def test_frechet_distance_of_gaussians_in_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50_000, 2))
    b = rng.normal(size=(50_000, 2)) * 2.0 + 1.0
    # ‖μ1 − μ2‖² + Tr(I + 4I − 2·2I) = 2 + 2
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
