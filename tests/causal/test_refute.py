"""DoWhy refuters run on their own estimand copies and give the expected verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from topiclab.causal.graph import CausalGraph
from topiclab.causal.refute import RefuteConfig, refute


def test_refuters_on_a_valid_iv(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    z, u = rng.normal(size=(2, n))
    x = z + u + rng.normal(size=n)
    df = pd.DataFrame({"Z": z, "X": x, "Y": 2 * x + 1.8 * u + rng.normal(size=n)})
    graph = "Z -> X; (U) -> X; (U) -> Y; X -> Y"
    rows = refute(
        df,
        graph,
        treatment="X",
        outcome="Y",
        std_error=0.05,
        config=RefuteConfig(num_simulations=5, confounder_strengths=[0.5]),
    )
    by = {r.refuter: r for r in rows}
    assert set(by) == {
        "placebo_treatment_refuter",
        "random_common_cause",
        "data_subset_refuter",
        "add_unobserved_common_cause(strength=0.5)",
    }
    assert all(abs(r.estimate - 2.0) < 0.15 for r in rows)
    assert by["placebo_treatment_refuter"].passed
    assert by["random_common_cause"].passed and by["data_subset_refuter"].passed
    png = CausalGraph.parse(graph).draw(tmp_path / "g.png", roles={"instruments": ["Z"]})
    assert png.stat().st_size > 1000
