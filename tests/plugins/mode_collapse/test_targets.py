"""The 1-D KL-direction target and the ±x regression target.

.venv/bin/pytest tests/plugins/mode_collapse/test_targets.py -q
"""

from __future__ import annotations

import numpy as np
import pytest

from topiclab.plugins.mode_collapse.data import bimodal_pdf, plus_minus_x
from topiclab.plugins.mode_collapse.evaluate import kl_fits


def test_forward_kl_fit_matches_moments_sigma2_4_25():
    m = kl_fits()
    assert m["bimodal.forward_mu"] == 0.0
    assert m["bimodal.forward_var"] == pytest.approx(4.25, abs=1e-12)
    # the same by quadrature of the density
    x = np.linspace(-10, 10, 40_001)
    p = bimodal_pdf(x)
    assert np.trapezoid(p, x) == pytest.approx(1.0, abs=1e-9)
    assert np.trapezoid(x * x * p, x) == pytest.approx(4.25, abs=1e-6)


def test_reverse_kl_optimum_sits_on_one_mode():
    m = kl_fits()
    assert abs(m["bimodal.reverse_mu"]) == pytest.approx(2.0, abs=0.05)
    assert m["bimodal.reverse_sigma"] == pytest.approx(0.5, abs=0.05)
    # the mode-seeking fit is far better in reverse KL than the moment-matched one; its KL
    # is ≈ log 2 (it ignores half of p's mass)
    assert m["bimodal.reverse_kl_at_optimum"] == pytest.approx(np.log(2), abs=0.02)
    assert m["bimodal.reverse_kl_at_forward_fit"] > 2 * m["bimodal.reverse_kl_at_optimum"]


def test_plus_minus_x_has_conditional_mean_zero():
    x, y = plus_minus_x(20_000, seed=0)
    assert np.allclose(np.abs(y), x)
    assert abs(np.mean(y[:, 0] / x[:, 0])) < 0.03  # signs balanced: E[y | x] = 0
