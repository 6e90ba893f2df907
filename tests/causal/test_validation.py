"""Bad input gets one line that names the culprit (a TopiclabError the CLI prints as is)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topiclab.causal import (
    BackdoorOLS,
    GraphMismatchError,
    InvariantCausalPrediction,
    MissingInstrumentError,
    NonNumericColumnError,
    TwoStageLeastSquares,
)
from topiclab.core.errors import TopiclabError


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    z, u = rng.normal(size=(2, 200))
    x = z + u
    return pd.DataFrame({"Z": z, "X": x, "Y": 2 * x + u})


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    assert isinstance(err.value, TopiclabError)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_graph_node_missing_from_data(df: pd.DataFrame) -> None:
    with pytest.raises(GraphMismatchError) as err:
        TwoStageLeastSquares().fit(df, "Z -> X; W -> X; X -> Y", treatment="X", outcome="Y")
    assert "'W'" in one_line(err)


def test_hidden_node_that_is_a_column(df: pd.DataFrame) -> None:
    with pytest.raises(GraphMismatchError) as err:
        BackdoorOLS().fit(df, "(Z) -> X; X -> Y", treatment="X", outcome="Y")
    assert "'Z'" in one_line(err)


def test_role_not_in_graph(df: pd.DataFrame) -> None:
    with pytest.raises(GraphMismatchError) as err:
        BackdoorOLS().fit(
            df.assign(C=1.0), "Z -> X; X -> Y", treatment="X", outcome="Y", covariates=["C"]
        )
    assert "'C'" in one_line(err)


def test_treatment_without_instrument(df: pd.DataFrame) -> None:
    # Z -> Y directly: Z is no instrument, and there is no other candidate.
    with pytest.raises(MissingInstrumentError) as err:
        TwoStageLeastSquares().fit(
            df, "Z -> X; Z -> Y; (U) -> X; (U) -> Y; X -> Y", treatment="X", outcome="Y"
        )
    assert "'X'" in one_line(err)
    with pytest.raises(MissingInstrumentError):
        TwoStageLeastSquares().fit(df, None, treatment="X", outcome="Y")


def test_non_numeric_column(df: pd.DataFrame) -> None:
    bad = df.assign(Z=np.where(df["Z"] > 0, "near", "far"))
    with pytest.raises(NonNumericColumnError) as err:
        TwoStageLeastSquares().fit(bad, None, treatment="X", outcome="Y", instruments=["Z"])
    assert "'Z'" in one_line(err)
    with pytest.raises(NonNumericColumnError) as err2:
        InvariantCausalPrediction().fit(bad.assign(env=[0, 1] * 100), outcome="Y")
    assert "'Z'" in one_line(err2)


def test_unknown_column_and_cycle(df: pd.DataFrame) -> None:
    with pytest.raises(TopiclabError) as err:
        BackdoorOLS().fit(df, None, treatment="educ", outcome="Y")
    assert "'educ'" in one_line(err)
    with pytest.raises(GraphMismatchError) as err2:
        BackdoorOLS().fit(df, "X -> Y; Y -> X", treatment="X", outcome="Y")
    assert "cycle" in one_line(err2)
