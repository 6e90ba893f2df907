"""The backdoor toolset against hand-written references, DoWhy and a hand-computed table."""

from __future__ import annotations

import itertools
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from topiclab.causal import (
    AIPW,
    ExactAdjustment,
    PropensityScoreMatching,
    PropensityScoreStratification,
    PropensityScoreWeighting,
    RegressionAdjustment,
)
from topiclab.causal.validation import DegenerateDesignError, RoleError

sm = pytest.importorskip("statsmodels.api")
ROLES = {"treatment": "T", "outcome": "Y", "covariates": ["W1", "W2"]}


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 3000
    w1, w2 = rng.normal(size=(2, n))
    e = 1 / (1 + np.exp(-(0.4 + 0.8 * w1 - 0.6 * w2)))
    t = (rng.uniform(size=n) < e).astype(float)
    y = 2 * t + w1 + 0.5 * w2 + t * w1 + rng.normal(size=n)
    return pd.DataFrame({"W1": w1, "W2": w2, "T": t, "Y": y})


def logit_scores(df: pd.DataFrame) -> np.ndarray:
    x = sm.add_constant(df[["W1", "W2"]])
    return np.asarray(sm.Logit(df["T"], x).fit(disp=0, tol=1e-12).predict(x))


def hajek(y: np.ndarray, t: np.ndarray, e: np.ndarray, target: str) -> float:
    if target == "ate":
        w1, w0 = t / e, (1 - t) / (1 - e)
    else:
        w1, w0 = t, (1 - t) * e / (1 - e)
    return float(w1 @ y / w1.sum() - w0 @ y / w0.sum())


@pytest.mark.parametrize("target", ["ate", "att"])
def test_ipw_equals_hand_written(df: pd.DataFrame, target: str) -> None:
    e = logit_scores(df)
    y, t = df["Y"].to_numpy(), df["T"].to_numpy()
    ours = PropensityScoreWeighting({"target": target}).fit(df, None, **ROLES)
    assert ours.estimate == pytest.approx(hajek(y, t, e, target), rel=1e-8)
    ht = PropensityScoreWeighting({"target": target, "normalize": False}).fit(df, None, **ROLES)
    if target == "ate":
        ref_ht = float(np.mean(t * y / e) - np.mean((1 - t) * y / (1 - e)))
    else:
        ref_ht = float((t @ y - ((1 - t) * e / (1 - e)) @ y) / t.sum())
    assert ht.estimate == pytest.approx(ref_ht, rel=1e-8)
    assert ours.std_error == pytest.approx(stacked_se(df, target), rel=1e-5)
    assert {row["covariate"] for row in ours.tables["balance"]} == {"W1", "W2"}
    assert all(abs(row["smd_after"]) < 0.1 for row in ours.tables["balance"])


def stacked_se(df: pd.DataFrame, target: str) -> float:
    """The sandwich of the stacked equations (logit score, two weighted means), with the
    Jacobian by central differences: an independent route to the same standard error."""
    x = np.column_stack([np.ones(len(df)), df[["W1", "W2"]].to_numpy()])
    t, y = df["T"].to_numpy(), df["Y"].to_numpy()

    def psi(theta: np.ndarray) -> np.ndarray:
        beta, mu1, mu0 = theta[:3], theta[3], theta[4]
        e = 1 / (1 + np.exp(-x @ beta))
        w1 = t / e if target == "ate" else t
        w0 = (1 - t) / (1 - e) if target == "ate" else (1 - t) * e / (1 - e)
        return np.column_stack([x * (t - e)[:, None], w1 * (y - mu1), w0 * (y - mu0)])

    e = logit_scores(df)
    beta = np.asarray(sm.Logit(t, x).fit(disp=0, tol=1e-12).params)
    w1 = t / e if target == "ate" else t
    w0 = (1 - t) / (1 - e) if target == "ate" else (1 - t) * e / (1 - e)
    theta = np.r_[beta, w1 @ y / w1.sum(), w0 @ y / w0.sum()]
    jac = np.empty((5, 5))
    for j in range(5):
        h = np.zeros(5)
        h[j] = 1e-6
        jac[:, j] = (psi(theta + h).mean(0) - psi(theta - h).mean(0)) / 2e-6
    s = psi(theta)
    v = np.linalg.inv(jac) @ (s.T @ s / len(s)) @ np.linalg.inv(jac).T / len(s)
    c = np.array([0, 0, 0, 1, -1])
    return float(np.sqrt(c @ v @ c))


def test_ipw_equals_dowhy_with_the_same_scores(df: pd.DataFrame) -> None:
    """DoWhy's weighting normalises within arm and clips scores to [0.05, 0.95] by default;
    given the same scores (DoWhy's own default model is penalised), the numbers agree."""
    from dowhy import CausalModel

    data = df.assign(ps=logit_scores(df), T=df["T"].astype(bool))
    ours = PropensityScoreWeighting({"clip": 0.05}).fit(df, None, **ROLES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalModel(data=data, treatment="T", outcome="Y", common_causes=["W1", "W2"])
        est = model.estimate_effect(
            model.identify_effect(proceed_when_unidentifiable=True),
            method_name="backdoor.propensity_score_weighting",
            method_params={"propensity_score_column": "ps", "weighting_scheme": "ips_weight"},
            target_units="ate",
        )
    assert ours.diagnostics["clipped"] > 0  # the clip matters on this data
    assert ours.estimate == pytest.approx(float(est.value), rel=1e-8)


def test_aipw_equals_hand_written(df: pd.DataFrame) -> None:
    e = logit_scores(df)
    y, t = df["Y"].to_numpy(), df["T"].to_numpy()
    x = np.column_stack([np.ones(len(df)), df[["W1", "W2"]].to_numpy()])
    m1 = x @ np.linalg.lstsq(x[t == 1], y[t == 1], rcond=None)[0]
    m0 = x @ np.linalg.lstsq(x[t == 0], y[t == 0], rcond=None)[0]
    phi = m1 - m0 + t * (y - m1) / e - (1 - t) * (y - m0) / (1 - e)
    ours = AIPW().fit(df, None, **ROLES)
    assert ours.estimate == pytest.approx(phi.mean(), rel=1e-8)
    assert ours.std_error == pytest.approx(phi.std() / np.sqrt(len(phi)), rel=1e-8)
    # The ATE here is E[2 + W1] = 2; an additive coefficient would not be.
    assert ours.covers(2.0)


def test_regression_adjustment_is_g_computation(df: pd.DataFrame) -> None:
    y, t = df["Y"].to_numpy(), df["T"].to_numpy()
    x = np.column_stack([np.ones(len(df)), df[["W1", "W2"]].to_numpy()])
    m1 = x @ np.linalg.lstsq(x[t == 1], y[t == 1], rcond=None)[0]
    m0 = x @ np.linalg.lstsq(x[t == 0], y[t == 0], rcond=None)[0]
    ours = RegressionAdjustment({"cov_type": "HC1"}).fit(df, None, **ROLES)
    assert ours.estimate == pytest.approx(float(np.mean(m1 - m0)), rel=1e-10)
    assert "T:W1" in ours.coefficients and ours.covers(2.0)


def test_matching_equals_brute_force(df: pd.DataFrame) -> None:
    e = logit_scores(df)
    s = np.log(e / (1 - e))
    y, t = df["Y"].to_numpy(), df["T"].to_numpy()
    treated, controls = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
    dist = np.abs(s[treated][:, None] - s[controls][None, :])
    match = controls[dist.argmin(axis=1)]
    diff = y[treated] - y[match]
    ours = PropensityScoreMatching().fit(df, None, **ROLES)
    assert ours.estimate == pytest.approx(diff.mean(), rel=1e-8)
    # Abadie–Imbens: Σ_T (d − τ)² + Σ_C K(K−1) σ̂², σ̂² from each control's nearest control.
    k = np.bincount(match, minlength=len(y))[controls]
    dc = np.abs(s[controls][:, None] - s[controls][None, :])
    np.fill_diagonal(dc, np.inf)
    sigma2 = (y[controls] - y[controls[dc.argmin(axis=1)]]) ** 2 / 2
    var = (((diff - diff.mean()) ** 2).sum() + (k * (k - 1) * sigma2).sum()) / len(treated) ** 2
    assert ours.std_error == pytest.approx(np.sqrt(var), rel=1e-8)
    assert ours.tables["balance"]


def test_stratification_equals_hand_written(df: pd.DataFrame) -> None:
    e = logit_scores(df)
    y, t = df["Y"].to_numpy(), df["T"].to_numpy()
    edges = np.quantile(e, [0, 0.2, 0.4, 0.6, 0.8, 1])
    effect = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (e >= lo) & ((e < hi) if hi < edges[-1] else (e <= hi))
        effect += m.mean() * (y[m & (t == 1)].mean() - y[m & (t == 0)].mean())
    ours = PropensityScoreStratification().fit(df, None, **ROLES)
    assert ours.estimate == pytest.approx(effect, rel=1e-8)
    assert len(ours.tables["strata"]) == 5


# Kidney stones (Charig et al. 1986; the Simpson's paradox table of Pearl, Glymour & Jewell
# 2016, Table 1.2 in its recovery form): treatment A/B by stone size, recovered / total.
STONES = {("small", 1): (81, 87), ("small", 0): (234, 270), ("large", 1): (192, 263),
          ("large", 0): (55, 80)}  # fmt: skip


def stones() -> pd.DataFrame:
    rows = []
    for (size, a), (rec, tot) in STONES.items():
        rows += [(size == "large", a, 1.0)] * rec + [(size == "large", a, 0.0)] * (tot - rec)
    return pd.DataFrame(rows, columns=["Large", "A", "Recovered"]).astype(float)


def test_g_formula_equals_hand_table() -> None:
    total = sum(tot for _, tot in STONES.values())
    do = {}
    for a in (1, 0):
        do[a] = sum(
            Fraction(STONES[(s, 1)][1] + STONES[(s, 0)][1], total) * Fraction(*STONES[(s, a)])
            for s in ("small", "large")
        )
    res = ExactAdjustment().fit(
        stones(), "Large -> A; Large -> Recovered; A -> Recovered",
        treatment="A", outcome="Recovered",
    )  # fmt: skip
    assert res.diagnostics["covariates"] == ["Large"]  # chosen from the graph
    assert abs(res.diagnostics["E[Y|do(T=1)]"] - float(do[1])) < 1e-12
    assert abs(res.diagnostics["E[Y|do(T=0)]"] - float(do[0])) < 1e-12
    assert abs(res.estimate - float(do[1] - do[0])) < 1e-12
    table = pd.DataFrame(res.tables["g_formula"]).set_index("Large")
    assert abs(table.loc[1.0, "mean_treated"] - 192 / 263) < 1e-12
    assert abs(table.loc[0.0, "p_w"] - 357 / 700) < 1e-12
    # The paradox: crude A is worse (273/350 vs 289/350), adjusted A is better.
    assert res.estimate > 0


def test_g_formula_refuses_positivity_violation() -> None:
    d = stones()
    d = d[~((d["Large"] == 1) & (d["A"] == 0))]
    with pytest.raises(DegenerateDesignError, match="stratum Large=1 has no control unit"):
        ExactAdjustment().fit(d, None, treatment="A", outcome="Recovered", covariates="Large")


def test_propensity_estimators_need_a_binary_treatment(df: pd.DataFrame) -> None:
    with pytest.raises(RoleError, match="binary"):
        PropensityScoreWeighting().fit(df.assign(T=df["T"] * 2), None, **ROLES)


def test_stratification_on_a_discrete_score_is_the_g_formula() -> None:
    """With one binary covariate the score takes two values: one stratum each, which is
    exact adjustment (and not the crude contrast that collapsed quantiles would give)."""
    kw = {"treatment": "A", "outcome": "Recovered", "covariates": "Large"}
    strat = PropensityScoreStratification().fit(stones(), None, **kw)
    exact = ExactAdjustment().fit(stones(), None, **kw)
    assert abs(strat.estimate - exact.estimate) < 1e-12 and len(strat.tables["strata"]) == 2
