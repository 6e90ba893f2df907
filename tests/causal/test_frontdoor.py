"""Front door: Pearl's smoking/tar/cancer table exactly, the linear two-stage estimator
against a hand computation and DoWhy, identification from the graph."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from topiclab.causal import FrontDoorExact, FrontDoorTwoStage
from topiclab.causal.validation import InvalidDesignError, MissingInstrumentError

SMOKING_GRAPH = "(U) -> Smoking; (U) -> Cancer; Smoking -> Tar; Tar -> Cancer"

# Pearl, Glymour & Jewell (2016), Causal Inference in Statistics: A Primer, Table 3.1 (800
# subjects): (smoker, tar) -> (cancer cases, group size).
PRIMER_TABLE_3_1 = {(1, 1): (57, 380), (0, 1): (19, 20), (1, 0): (2, 20), (0, 0): (342, 380)}


def smoking(table: dict = PRIMER_TABLE_3_1) -> pd.DataFrame:
    rows = []
    for (x, z), (cases, size) in table.items():
        rows += [(x, z, 1)] * cases + [(x, z, 0)] * (size - cases)
    return pd.DataFrame(rows, columns=["Smoking", "Tar", "Cancer"]).astype(float)


def test_front_door_on_the_primer_table() -> None:
    res = FrontDoorExact().fit(smoking(), SMOKING_GRAPH, treatment="Smoking", outcome="Cancer")
    assert res.diagnostics["mediators"] == ["Tar"]  # found in the graph
    assert abs(res.diagnostics["E[Y|do(T=1)]"] - 0.5475) < 1e-12
    assert abs(res.diagnostics["E[Y|do(T=0)]"] - 0.5025) < 1e-12
    assert abs(res.estimate - 0.045) < 1e-12
    table = pd.DataFrame(res.tables["front_door"]).set_index("Tar")
    assert abs(table.loc[1.0, "P(m|T=1)"] - 0.95) < 1e-12
    assert abs(table.loc[1.0, "sum_x' E[Y|x',m]P(x')"] - 0.55) < 1e-12
    assert 0 < res.std_error < 0.1


def test_front_door_formula_by_hand_when_arms_differ_in_size() -> None:
    """The Primer's arms are equal (P(x) = 1/2); halve the tar-free non-smokers so that a
    formula confusing P(x') with 1/2 shows."""
    from fractions import Fraction as F

    table = {**PRIMER_TABLE_3_1, (0, 0): (171, 190)}
    n = {k: size for k, (_, size) in table.items()}
    p_y = {k: F(cases, size) for k, (cases, size) in table.items()}
    total = sum(n.values())
    p_x = {x: F(n[(x, 0)] + n[(x, 1)], total) for x in (0, 1)}

    def do(x: int) -> F:
        return sum(
            F(n[(x, z)], n[(x, 0)] + n[(x, 1)]) * sum(p_y[(xp, z)] * p_x[xp] for xp in (0, 1))
            for z in (0, 1)
        )

    res = FrontDoorExact({"n_boot": 0}).fit(
        smoking(table), SMOKING_GRAPH, treatment="Smoking", outcome="Cancer"
    )
    assert abs(res.diagnostics["E[Y|do(T=1)]"] - float(do(1))) < 1e-12
    assert abs(res.diagnostics["E[Y|do(T=0)]"] - float(do(0))) < 1e-12


def test_front_door_refused_when_the_mediator_is_confounded() -> None:
    graph = (
        "(U) -> Smoking; (U) -> Cancer; Smoking -> Tar; Tar -> Cancer; (V) -> Tar; (V) -> Cancer"
    )
    with pytest.raises(MissingInstrumentError, match="no front-door mediator"):
        FrontDoorExact().fit(smoking(), graph, treatment="Smoking", outcome="Cancer")
    with pytest.raises(InvalidDesignError, match="Tar <- \\(V\\) -> Cancer"):
        FrontDoorExact().fit(
            smoking(), graph, treatment="Smoking", outcome="Cancer", mediators="Tar"
        )


@pytest.fixture(scope="module")
def linear() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 5000
    u = rng.normal(size=n)
    x = u + rng.normal(size=n)
    m = 0.8 * x + rng.normal(size=n)
    y = 1.5 * m + 2 * u + rng.normal(size=n)
    return pd.DataFrame({"X": x, "M": m, "Y": y})


LINEAR_GRAPH = "(U) -> X; (U) -> Y; X -> M; M -> Y"


def test_two_stage_equals_hand_and_dowhy(linear: pd.DataFrame) -> None:
    res = FrontDoorTwoStage().fit(linear, LINEAR_GRAPH, treatment="X", outcome="Y")
    x1 = np.column_stack([np.ones(len(linear)), linear["X"]])
    alpha = np.linalg.lstsq(x1, linear["M"], rcond=None)[0][1]
    x2 = np.column_stack([np.ones(len(linear)), linear["M"], linear["X"]])
    beta = np.linalg.lstsq(x2, linear["Y"], rcond=None)[0][1]
    assert res.estimate == pytest.approx(alpha * beta, rel=1e-10)
    assert res.covers(1.2)  # 0.8 × 1.5
    from dowhy import CausalModel

    from topiclab.causal.graph import CausalGraph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalModel(
            data=linear,
            treatment="X",
            outcome="Y",
            graph=CausalGraph.parse(LINEAR_GRAPH).to_networkx(),
        )
        est = model.estimate_effect(
            model.identify_effect(proceed_when_unidentifiable=True),
            method_name="frontdoor.two_stage_regression",
        )
    assert res.estimate == pytest.approx(float(est.value), rel=1e-8)
