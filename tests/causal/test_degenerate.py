"""Degenerate designs and invalid graphs get one line naming the problem, never a number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topiclab.causal import (
    BackdoorOLS,
    ControlFunction,
    ForbiddenRegression,
    FrontDoorExact,
    Sieve2SLS,
    TwoStageLeastSquares,
    WaldRatio,
)
from topiclab.causal.validation import (
    DegenerateDesignError,
    InvalidDesignError,
    NonFiniteError,
)
from topiclab.core.errors import ConfigError, TopiclabError

IV = {"treatment": "X", "outcome": "Y", "instruments": ["Z"]}
IV_ESTIMATORS = [TwoStageLeastSquares, WaldRatio, ControlFunction]


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    assert isinstance(err.value, TopiclabError)
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    z, w, u = rng.normal(size=(3, n))
    x = z + w + u + rng.normal(size=n)
    return pd.DataFrame({"Z": z, "W": w, "X": x, "Y": 2 * x + w + u + rng.normal(size=n)})


@pytest.mark.parametrize("rows", [2, 3])
def test_no_more_rows_than_parameters(df: pd.DataFrame, rows: int) -> None:
    small = df.head(rows)  # 3 parameters: const, X, W
    with pytest.raises(DegenerateDesignError) as err:
        BackdoorOLS().fit(small, None, treatment="X", outcome="Y", covariates=["W"])
    assert "3 parameters" in one_line(err) and f"only {rows} complete rows" in one_line(err)
    with pytest.raises(DegenerateDesignError):
        TwoStageLeastSquares({"use_dowhy": False}).fit(small, None, **IV, covariates=["W"])


def test_rank_deficiency_names_the_columns(df: pd.DataFrame) -> None:
    d = df.assign(W3=3 * df["W"])
    with pytest.raises(DegenerateDesignError) as err:
        BackdoorOLS().fit(d, None, treatment="X", outcome="Y", covariates=["W", "W3"])
    assert "'W3' is a linear combination of W" in one_line(err)
    # A full set of dummies plus the constant.
    g = np.arange(len(df)) % 3
    dummies = d.assign(**{f"g{k}": (g == k).astype(float) for k in range(3)})
    with pytest.raises(DegenerateDesignError) as err2:
        BackdoorOLS().fit(dummies, None, treatment="X", outcome="Y", covariates=["g0", "g1", "g2"])
    assert "'g2' is a linear combination of const, g0, g1" in one_line(err2)
    with pytest.warns(UserWarning, match="W3"):
        res = BackdoorOLS({"drop_collinear": True}).fit(
            d, None, treatment="X", outcome="Y", covariates=["W", "W3"]
        )
    ref = BackdoorOLS().fit(d, None, treatment="X", outcome="Y", covariates=["W"])
    assert res.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert res.std_error == pytest.approx(ref.std_error, rel=1e-12)  # df uses 3 params, not 4


def test_treatment_collinear_is_never_dropped(df: pd.DataFrame) -> None:
    with pytest.raises(DegenerateDesignError) as err:
        BackdoorOLS({"drop_collinear": True}).fit(
            df.assign(X2=2 * df["X"]), None, treatment="X2", outcome="Y", covariates=["X"]
        )
    assert "'X'" in one_line(err)


@pytest.mark.parametrize("cls", IV_ESTIMATORS)
def test_constant_instrument(df: pd.DataFrame, cls: type) -> None:
    with pytest.raises(DegenerateDesignError) as err:
        cls({"use_dowhy": False} if cls is TwoStageLeastSquares else {}).fit(
            df.assign(Z=1.0), None, **IV
        )
    assert "instrument 'Z' is constant" in one_line(err)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_values(df: pd.DataFrame, bad: float) -> None:
    d = df.copy()
    d.loc[5, "W"] = bad
    with pytest.raises(NonFiniteError) as err:
        BackdoorOLS().fit(d, None, treatment="X", outcome="Y", covariates=["W"])
    assert "column 'W' has 1 infinite value(s) (rows 5)" in one_line(err)


def test_all_nan_column_and_missing_rows(df: pd.DataFrame) -> None:
    with pytest.raises(NonFiniteError) as err:
        BackdoorOLS().fit(df.assign(W=np.nan), None, treatment="X", outcome="Y", covariates="W")
    assert "column 'W' has no value" in one_line(err)
    d = df.copy()
    d.loc[[1, 2], "W"] = np.nan
    res = BackdoorOLS().fit(d, None, treatment="X", outcome="Y", covariates="W")
    assert res.rows_dropped == 2 and res.n == len(df) - 2
    assert "rows dropped (missing) 2" in str(res.summary())
    with pytest.raises(NonFiniteError) as err2:
        BackdoorOLS({"missing": "raise"}).fit(d, None, treatment="X", outcome="Y", covariates="W")
    assert "2 missing value(s)" in one_line(err2)


def test_string_role_is_one_column(df: pd.DataFrame) -> None:
    d = df.assign(WZ=df["W"] - df["Z"])
    a = BackdoorOLS().fit(d, None, treatment="X", outcome="Y", covariates="WZ")
    b = BackdoorOLS().fit(d, None, treatment="X", outcome="Y", covariates=["WZ"])
    assert a.estimate == b.estimate and a.diagnostics["covariates"] == ["WZ"]
    c = TwoStageLeastSquares({"use_dowhy": False}).fit(
        d, None, treatment="X", outcome="Y", instruments="Z"
    )
    assert c.diagnostics["instruments"] == ["Z"]


def test_graph_chooses_the_adjustment_set(df: pd.DataFrame) -> None:
    graph = "W -> X; W -> Y; X -> Y; Z -> X"
    chosen = BackdoorOLS().fit(df, graph, treatment="X", outcome="Y")
    ref = BackdoorOLS().fit(df, None, treatment="X", outcome="Y", covariates=["W"])
    assert chosen.diagnostics["adjustment_source"] == "graph"
    assert chosen.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert chosen.diagnostics["covariates"] == ["W"] and not chosen.allow_invalid
    unadjusted = BackdoorOLS().fit(df, None, treatment="X", outcome="Y")
    assert abs(unadjusted.estimate - chosen.estimate) > 0.1  # W confounds: it mattered


def test_graph_confounder_left_out_of_listed_covariates(df: pd.DataFrame) -> None:
    graph = "W -> X; W -> Y; X -> Y; Z -> X"
    with pytest.raises(InvalidDesignError) as err:
        BackdoorOLS().fit(df, graph, treatment="X", outcome="Y", covariates=["Z"])
    assert "open backdoor path X <- W -> Y" in one_line(err)
    forced = BackdoorOLS().fit(
        df, graph, treatment="X", outcome="Y", covariates=["Z"], allow_invalid=True
    )
    assert forced.allow_invalid and "allow_invalid" in str(forced.summary())


def test_hidden_confounder_has_no_adjustment_set(df: pd.DataFrame) -> None:
    with pytest.raises(InvalidDesignError) as err:
        BackdoorOLS().fit(df, "Z -> X; (U) -> X; (U) -> Y; X -> Y", treatment="X", outcome="Y")
    assert "X <- (U) -> Y" in one_line(err)


def test_instrument_the_graph_shows_invalid(df: pd.DataFrame) -> None:
    graph = "Z -> X; Z -> Y; (U) -> X; (U) -> Y; X -> Y"
    with pytest.raises(InvalidDesignError) as err:
        TwoStageLeastSquares({"use_dowhy": False}).fit(df, graph, **IV)
    assert "instrument 'Z' reaches 'Y' other than through 'X': Z -> Y" in one_line(err)
    res = TwoStageLeastSquares({"use_dowhy": False, "allow_invalid": True}).fit(df, graph, **IV)
    assert res.allow_invalid and res.diagnostics["invalid_design"]


def test_bad_config_value_is_one_line() -> None:
    with pytest.raises(ConfigError) as err:
        BackdoorOLS({"cov_type": "HC9"})
    assert "cov_type='HC9'" in one_line(err)
    with pytest.raises(ConfigError) as err2:
        TwoStageLeastSquares({"cov_type": "HC3"})
    assert "OLS only" in one_line(err2)
    with pytest.raises(ConfigError) as err3:
        BackdoorOLS({"cov_type": "cluster"})
    assert "cluster=" in one_line(err3)


@pytest.mark.parametrize("cls", [Sieve2SLS, ForbiddenRegression])
@pytest.mark.parametrize("levels", [2, 3])
def test_a_sieve_needs_more_treatment_values_than_its_degree(
    df: pd.DataFrame, cls: type, levels: int
) -> None:
    # A binary treatment under the default cubic sieve: x, x², x³ are collinear. Sieve 2SLS
    # failed with "math domain error" or "Singular matrix"; the forbidden regression returned
    # a number (28.6 on this kind of data) for a curve it cannot identify.
    d = df.assign(X=(df["X"].rank(pct=True) * levels).clip(upper=levels - 1).floordiv(1))
    with pytest.raises(DegenerateDesignError) as err:
        cls().fit(d, None, **IV)
    text = one_line(err)
    assert f"'X' takes {levels} distinct values" in text and "degree 3" in text, text
    assert cls({"degree": levels - 1}).fit(d, None, **IV).n == len(df)


def test_one_bootstrap_draw_is_refused() -> None:
    # One draw has no spread: the SE came back NaN with numpy's "Degrees of freedom <= 0".
    with pytest.raises(ConfigError) as err:
        FrontDoorExact({"n_boot": 1})
    assert "n_boot" in one_line(err) and "at least 2" in one_line(err)
    FrontDoorExact({"n_boot": 0})
    FrontDoorExact({"n_boot": 2})
