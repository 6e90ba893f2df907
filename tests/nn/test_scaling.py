"""The scaling-law fitter recovers Besiroglu et al.'s constants from data generated with them
(and noise), reports intervals that cover them, and gives the frontier's closed form."""

from __future__ import annotations

import numpy as np
import pytest

from topiclab.nn.scaling import NAMES, ScalingFit, bootstrap, fit_kaplan, fit_law, frontier, law

# Besiroglu et al. 2024 (arXiv 2404.10102), refit of Chinchilla Approach 3.
TRUE = ScalingFit(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
SMALL_GRID = {  # a coarse part of Hoffmann's grid: the test's time, not the recipe's
    "a": np.array([0.0, 5.0, 10.0]),
    "b": np.array([0.0, 5.0, 10.0]),
    "e": np.array([0.0, 1.0]),
    "alpha": np.array([0.5]),
    "beta": np.array([0.5]),
}


def data(noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, d = np.meshgrid(np.logspace(6, 11, 10), np.logspace(8, 13, 10))
    n, d = n.ravel(), d.ravel()
    rng = np.random.default_rng(seed)
    return n, d, law(n, d, TRUE) * np.exp(noise * rng.standard_normal(n.size))


@pytest.fixture(scope="module")
def fitted() -> tuple[tuple[np.ndarray, ...], ScalingFit]:
    points = data(noise=0.002)
    return points, fit_law(*points, SMALL_GRID)


def test_recovers_known_constants_within_5_percent(fitted) -> None:
    _, fit = fitted
    rel = np.abs(fit.params() / TRUE.params() - 1)
    assert (rel < 0.05).all(), dict(zip(NAMES, rel.round(4), strict=True))
    assert fit.r2 > 0.99


def test_intervals_cover_the_truth(fitted) -> None:
    (n, d, loss), fit = fitted
    lo, hi = bootstrap(n, d, loss, reps=20, start=fit)
    assert ((lo <= TRUE.params() * 1.05) & (TRUE.params() * 0.95 <= hi)).all()
    assert (lo < hi).all()


def test_frontier_spends_the_budget_and_follows_the_exponent() -> None:
    n1, d1 = frontier(TRUE, 1e21)
    n2, _ = frontier(TRUE, 1e22)
    assert 6 * n1 * d1 == pytest.approx(1e21)
    a = TRUE.beta / (TRUE.alpha + TRUE.beta)
    assert np.log10(n2 / n1) == pytest.approx(a)


def test_kaplan_form_recovers_its_constants() -> None:
    # Kaplan et al. 2020: L(N) = (8.8e13 / N)^0.076; 4.016 at N = 1e6 (the reference's value).
    n = np.logspace(6, 9, 7)
    loss = (8.8e13 / n) ** 0.076
    assert loss[0] == pytest.approx(4.016, abs=1e-3)
    n_c, alpha = fit_kaplan(n, loss * np.exp(0.001 * np.random.default_rng(0).standard_normal(7)))
    assert alpha == pytest.approx(0.076, rel=0.05)
    assert n_c == pytest.approx(8.8e13, rel=0.1)
