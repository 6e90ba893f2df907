"""Our ICP equals the causalicp package (Method II, which follows R's ICP) on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topiclab.causal import InvariantCausalPrediction

causalicp = pytest.importorskip("causalicp")
COLS = ["X1", "X2", "X3", "X4", "X5", "Y"]


def environments(seed: int, strength: float, n: int = 400) -> list[np.ndarray]:
    """X4 -> X1 -> Y <- X2, Y -> X3, X5 noise; environments shift X1, X3, X4, never Y."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(3):
        s = strength * k
        x4 = rng.normal(size=n) * (1 + s) + s
        x1 = 0.8 * x4 + rng.normal(size=n) + s
        x2 = rng.normal(size=n)
        y = x1 - 0.7 * x2 + rng.normal(size=n)
        x3 = 0.9 * y + rng.normal(size=n) * (1 + s)
        out.append(np.column_stack([x1, x2, x3, x4, rng.normal(size=n), y]))
    return out


def frame(blocks: list[np.ndarray]) -> pd.DataFrame:
    return pd.concat(
        [pd.DataFrame(b, columns=COLS).assign(env=i) for i, b in enumerate(blocks)],
        ignore_index=True,
    )


@pytest.mark.parametrize(("seed", "strength"), [(0, 1.0), (1, 0.3), (2, 2.0), (3, 0.0)])
def test_icp_equals_causalicp(seed: int, strength: float) -> None:
    blocks = environments(seed, strength)
    ref = causalicp.fit(blocks, 5, alpha=0.05)
    ours = InvariantCausalPrediction().fit(frame(blocks), outcome="Y")
    names = COLS[:5]
    assert {frozenset(s) for s in ours.accepted_sets} == {
        frozenset(names[i] for i in s) for s in ref.accepted_sets
    }
    if ref.estimate is None:
        assert ours.parents is None and ours.conf_intervals is None
    else:
        assert set(ours.parents or []) == {names[i] for i in ref.estimate}
        for i, name in enumerate(names):
            lo, hi = ours.conf_intervals[name]
            assert lo == pytest.approx(ref.conf_intervals[0, i], rel=1e-8, abs=1e-12)
            assert hi == pytest.approx(ref.conf_intervals[1, i], rel=1e-8, abs=1e-12)
    for i, name in enumerate(names):
        assert ours.pvalues[name] == pytest.approx(ref.pvalues[i], rel=1e-8, abs=1e-300)


def test_icp_finds_parents_with_strong_interventions() -> None:
    res = InvariantCausalPrediction().fit(frame(environments(5, 2.0, n=1000)), outcome="Y")
    assert set(res.parents or []) <= {"X1", "X2"}
    assert "X1" in (res.parents or [])
    assert res.pvalues["X3"] > 0.05 or "X3" not in (res.parents or [])
