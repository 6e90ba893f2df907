"""Every term, SE, t and p, for every covariance type, equals statsmodels (OLS) and
linearmodels (2SLS, with first-stage statistics) on the same data, to 1e-8 relative."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from topiclab.causal import BackdoorOLS, TwoStageLeastSquares

sm = pytest.importorskip("statsmodels.api")
linearmodels_iv = pytest.importorskip("linearmodels.iv")

TOL = 1e-8


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """Two instruments, two controls, a hidden confounder, heteroskedastic noise, 40 clusters
    with a shared shock, and an AR(1) error for HAC to matter."""
    rng = np.random.default_rng(7)
    n = 2000
    z1, z2, w1, w2, u = rng.normal(size=(5, n))
    x = 0.6 * z1 - 0.4 * z2 + 0.5 * w1 + u + rng.normal(size=n)
    g = rng.integers(0, 40, size=n)
    ar = np.zeros(n)
    for i in range(1, n):
        ar[i] = 0.5 * ar[i - 1] + rng.normal()
    noise = rng.normal(size=n) * (1 + 0.5 * np.abs(z1)) + rng.normal(size=40)[g] + ar
    y = 1.5 * x + 0.7 * w1 - 0.3 * w2 + 1.2 * u + noise
    return pd.DataFrame({"z1": z1, "z2": z2, "w1": w1, "w2": w2, "x": x, "y": y, "g": g})


def close(ours: pd.Series, ref: pd.Series, tol: float = TOL) -> None:
    ours, ref = ours.to_numpy(float), ref.to_numpy(float)
    assert np.all(np.abs(ours - ref) <= tol * np.abs(ref) + 1e-300), (ours, ref)


def check_terms(frame: pd.DataFrame, params, se, t, p) -> None:
    close(frame["coef"], params)
    close(frame["std_error"], se)
    close(frame["t"], t)
    # p-values far in the tail are tiny on both sides; compare them absolutely there.
    ours, ref = frame["p_value"].to_numpy(), np.asarray(p, float)
    assert np.all(np.abs(ours - ref) <= TOL * ref + 1e-14)


OLS_CASES = [
    ({"cov_type": "unadjusted"}, {}),
    ({"cov_type": "HC0"}, {"cov_type": "HC0"}),
    ({"cov_type": "HC1"}, {"cov_type": "HC1"}),
    ({"cov_type": "robust"}, {"cov_type": "HC1"}),  # the alias, debiased: HC1
    ({"cov_type": "HC2"}, {"cov_type": "HC2"}),
    ({"cov_type": "HC3"}, {"cov_type": "HC3"}),
    ({"cov_type": "cluster", "cluster": "g"}, {"cov_type": "cluster"}),
    ({"cov_type": "HAC", "hac_lags": 4}, {"cov_type": "HAC", "maxlags": 4, "corr": True}),
    (
        {"cov_type": "HAC", "hac_lags": 4, "debiased": False},
        {"cov_type": "HAC", "maxlags": 4, "corr": False},
    ),
]


@pytest.mark.parametrize(("ours_cfg", "ref_cfg"), OLS_CASES)
def test_ols_equals_statsmodels(data: pd.DataFrame, ours_cfg: dict, ref_cfg: dict) -> None:
    ours = BackdoorOLS(ours_cfg).fit(
        data, None, treatment="x", outcome="y", covariates=["w1", "w2"]
    )
    kw: dict = {"cov_type": ref_cfg.get("cov_type", "nonrobust")}
    if kw["cov_type"] == "cluster":
        kw["cov_kwds"] = {"groups": data["g"]}
    if kw["cov_type"] == "HAC":
        kw["cov_kwds"] = {"maxlags": ref_cfg["maxlags"], "use_correction": ref_cfg["corr"]}
    debiased = ours_cfg.get("debiased", True)
    exog = sm.add_constant(data[["x", "w1", "w2"]])
    ref = sm.OLS(data["y"], exog).fit(use_t=debiased, **kw)
    check_terms(ours.to_frame(), ref.params, ref.bse, ref.tvalues, ref.pvalues)
    lo, hi = ref.conf_int().loc["x"]
    assert abs(ours.ci_low - lo) <= TOL * abs(lo) and abs(ours.ci_high - hi) <= TOL * abs(hi)


IV_CASES = [
    ({"cov_type": "unadjusted"}, "unadjusted", {}),
    ({"cov_type": "HC0"}, "robust", {}),
    ({"cov_type": "robust"}, "robust", {}),
    ({"cov_type": "cluster", "cluster": "g"}, "clustered", {"clusters": "g"}),
    ({"cov_type": "HAC", "hac_lags": 4}, "kernel", {"kernel": "bartlett", "bandwidth": 4}),
]


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize(("ours_cfg", "ref_type", "ref_kw"), IV_CASES)
def test_2sls_equals_linearmodels(
    data: pd.DataFrame, ours_cfg: dict, ref_type: str, ref_kw: dict, debiased: bool
) -> None:
    if ours_cfg["cov_type"] == "HC0" and debiased:
        ours_cfg = {"cov_type": "HC1"}  # linearmodels' robust, debiased, is HC1
    ours = TwoStageLeastSquares({**ours_cfg, "debiased": debiased, "use_dowhy": False}).fit(
        data, None, treatment="x", outcome="y", instruments=["z1", "z2"], covariates=["w1", "w2"]
    )
    kw = {k: data[v] if k == "clusters" else v for k, v in ref_kw.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = linearmodels_iv.IV2SLS.from_formula("y ~ 1 + w1 + w2 + [x ~ z1 + z2]", data).fit(
            cov_type=ref_type, debiased=debiased, **kw
        )
    frame = ours.to_frame().rename(index={"const": "Intercept"}).loc[ref.params.index]
    check_terms(frame, ref.params, ref.std_errors, ref.tstats, ref.pvalues)
    # First stage: linearmodels reports Wald/q for unadjusted fits and the raw Wald χ²
    # otherwise; ours is always the F form Wald/q (what the F < 10 rule of thumb reads).
    q = 1 if ref_type == "unadjusted" else 2
    diag = ref.first_stage.diagnostics.loc["x"]
    assert abs(q * ours.diagnostics["first_stage_f"] / diag["f.stat"] - 1) < TOL
    assert abs(ours.diagnostics["first_stage_partial_r2"] / diag["partial.rsquared"] - 1) < TOL
    fs = ref.first_stage.individual["x"]
    ours_fs = pd.DataFrame([t.model_dump() for t in ours.first_stage]).set_index("name")
    ours_fs = ours_fs.rename(index={"const": "Intercept"}).loc[fs.params.index]
    close(ours_fs["coef"], fs.params)
    close(ours_fs["std_error"], fs.std_errors)
