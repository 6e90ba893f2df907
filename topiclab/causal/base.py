"""The estimator API: ``fit(data, graph, treatment=..., outcome=..., ...) -> EstimateResult``.

    from topiclab.causal import TwoStageLeastSquares
    res = TwoStageLeastSquares().fit(df, "Z -> X; (U) -> X; (U) -> Y; X -> Y",
                                     treatment="X", outcome="Y")
    res.estimate, res.std_error, res.ci_low, res.ci_high, res.diagnostics["first_stage_f"]

Every estimator has a pydantic ``Config``; results are pydantic models, JSON-able as they are.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from topiclab.causal.graph import CausalGraph, GraphLike
from topiclab.causal.validation import (
    RoleError,
    check_columns,
    check_distinct,
    check_numeric,
    complete_rows,
)


class EstimatorConfig(BaseModel):
    """Base of every estimator config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    confidence_level: float = Field(
        default=0.95, gt=0, lt=1, description="Level of the reported CI."
    )


class EstimateResult(BaseModel):
    """One causal estimate with its uncertainty and what the estimator checked on the way."""

    estimator: str
    treatment: str | None
    outcome: str
    estimate: float
    std_error: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: int = 0
    coefficients: dict[str, float] = Field(default_factory=dict)
    diagnostics: dict[str, Any] = Field(default_factory=dict)

    def covers(self, value: float) -> bool:
        """Whether the confidence interval contains ``value``."""
        return bool(self.ci_low <= value <= self.ci_high)

    def summary(self) -> dict[str, float]:
        """Flat numbers for metrics and tables."""
        return {
            "estimate": self.estimate,
            "std_error": self.std_error,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": float(self.n),
        }


@dataclass(frozen=True)
class Roles:
    """The checked variable roles of one fit, with the complete-case data they use."""

    data: pd.DataFrame
    treatment: str
    outcome: str
    instruments: list[str]
    covariates: list[str]
    graph: CausalGraph | None
    dropped: int


class CausalEstimator(abc.ABC):
    """Base class: a key, a Config, and ``fit``. Build with a config model, a dict or nothing."""

    key: ClassVar[str]
    Config: ClassVar[type[EstimatorConfig]] = EstimatorConfig

    def __init__(self, config: EstimatorConfig | dict[str, Any] | None = None) -> None:
        if isinstance(config, EstimatorConfig):
            config = config.model_dump()
        self.config = self.Config.model_validate(config or {})

    @abc.abstractmethod
    def fit(
        self,
        data: pd.DataFrame,
        graph: GraphLike | None = None,
        *,
        treatment: str,
        outcome: str,
        instruments: Sequence[str] | None = None,
        covariates: Sequence[str] | None = None,
    ) -> EstimateResult:
        """Estimate the effect of ``treatment`` on ``outcome``."""

    def _z(self) -> float:
        return float(stats.norm.ppf(0.5 + self.config.confidence_level / 2))

    def _roles(
        self,
        data: pd.DataFrame,
        graph: GraphLike | None,
        treatment: str,
        outcome: str,
        instruments: Sequence[str] | None,
        covariates: Sequence[str] | None,
        need_instruments: bool,
    ) -> Roles:
        """Check every role against the data and the graph; find instruments in the graph."""
        if not isinstance(data, pd.DataFrame):
            raise RoleError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        cg = CausalGraph.parse(graph) if graph is not None else None
        covs = list(covariates or [])
        check_columns(data, [treatment], "treatment")
        check_columns(data, [outcome], "outcome")
        check_columns(data, covs, "covariate")
        if cg is not None:
            cg.check_against(data, [treatment, outcome, *covs, *(instruments or [])])
        if instruments is None and need_instruments:
            instruments = cg.instruments(treatment, outcome, covs) if cg is not None else []
        ivs = list(instruments or [])
        check_columns(data, ivs, "instrument")
        if need_instruments and not ivs:
            from topiclab.causal.validation import MissingInstrumentError

            where = "in the graph" if cg is not None else "(no graph given)"
            raise MissingInstrumentError(
                f"treatment '{treatment}' has no instrument {where}; pass instruments=[...] or "
                f"add a variable that reaches '{outcome}' only through '{treatment}'"
            )
        check_distinct(
            {"treatment": [treatment], "outcome": [outcome], "instrument": ivs, "covariate": covs}
        )
        used = [outcome, treatment, *ivs, *covs]
        check_numeric(data, used)
        kept, dropped = complete_rows(data, used)
        return Roles(kept, treatment, outcome, ivs, covs, cg, dropped)


def design(data: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """A design matrix: a constant, then ``columns``."""
    return np.column_stack([np.ones(len(data)), *(data[c].to_numpy(float) for c in columns)])


def lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(x, y, rcond=None)[0]


def ols_fit(
    x: np.ndarray, y: np.ndarray, debiased: bool, robust: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS coefficients, their covariance (σ² over n−k if ``debiased`` else n) and residuals."""
    beta = lstsq(x, y)
    resid = y - x @ beta
    return beta, sandwich(x, resid, debiased, robust), resid


def sandwich(x: np.ndarray, resid: np.ndarray, debiased: bool, robust: bool) -> np.ndarray:
    """Unadjusted σ²(X'X)⁻¹ or HC0 robust covariance, with linearmodels' n/(n−k) convention."""
    n, k = x.shape
    bread = np.linalg.inv(x.T @ x)
    scale = n / (n - k) if debiased else 1.0
    if robust:
        meat = (x * resid[:, None] ** 2).T @ x
        return scale * bread @ meat @ bread
    return scale * float(resid @ resid) / n * bread


def wald_f(beta: np.ndarray, cov: np.ndarray, idx: Sequence[int]) -> float:
    """Wald statistic for ``beta[idx] == 0`` divided by the number of restrictions."""
    b = beta[list(idx)]
    v = cov[np.ix_(list(idx), list(idx))]
    return float(b @ np.linalg.solve(v, b)) / len(idx)
