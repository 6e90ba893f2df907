"""Claims of the mode-collapse topic on hand-made metrics.

.venv/bin/pytest tests/plugins/mode_collapse/test_claims.py -q
"""

from __future__ import annotations

import pytest

from topiclab.plugins.mode_collapse.claims import remedies


def metrics(pac_modes: float, pac_hq: float, dataset: str = "ring") -> dict[str, float]:
    d = dataset
    return {
        f"{d}.gan.modes_mean": 1.0,
        f"{d}.gan.modes_se": 0.0,
        f"{d}.pacgan.modes_mean": pac_modes,
        f"{d}.pacgan.modes_se": 0.5,
        f"{d}.pacgan.hq_frac_mean": pac_hq,
    }


@pytest.mark.parametrize("dataset", ["ring", "grid"])
def test_remedy_counts_more_modes_only_at_a_high_quality_rate(dataset):
    """PacGAN Table 1 compares modes at ≥ 91 % HQ: a diffuse cloud's chance hits do not count."""
    assert remedies(metrics(7.8, 0.95, dataset), ["pacgan"], dataset).passed
    assert not remedies(metrics(7.8, 0.002, dataset), ["pacgan"], dataset).passed
    assert not remedies(metrics(1.2, 0.95, dataset), ["pacgan"], dataset).passed  # within SE
