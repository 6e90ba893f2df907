"""What an estimator returns: the estimate, a coefficient table per term, and readable tables.

    res = BackdoorOLS({"cov_type": "HC3"}).fit(df, "W -> X; W -> Y; X -> Y",
                                              treatment="X", outcome="Y")
    print(res.summary())      # estimand, assumptions, the term table, first-stage/balance tables
    res.to_frame()            # one row per term: coef, std_error, t, p_value, ci_low, ci_high
    res.summary()["estimate"] # summary() is also the flat dict of numbers it always was

Every table is a list of plain rows so that a result stays JSON-able as it is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field


class Term(BaseModel):
    """One row of a coefficient table."""

    name: str
    coef: float
    std_error: float
    t: float
    p_value: float
    ci_low: float
    ci_high: float


def term_table(
    names: list[str],
    beta: np.ndarray,
    se: np.ndarray,
    level: float,
    df: float | None,
) -> list[Term]:
    """Terms with t, p and CI from the normal law (``df=None``) or Student's t with ``df``."""
    from scipy import stats  # lazy: scipy.stats costs ~0.4 s to import

    # Module-level ppf/sf calls: freezing a distribution (stats.t(df)) costs ~1 ms a fit.
    beta, se = np.asarray(beta, float), np.asarray(se, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        tvals = np.where(se > 0, beta / se, np.nan)
    if df is None:
        crit = float(stats.norm.ppf(0.5 + level / 2))
        pvals = 2 * stats.norm.sf(np.abs(tvals))
    else:
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        pvals = 2 * stats.t.sf(np.abs(tvals), df)
    rows = []
    for name, b, s, t, p in zip(names, beta, se, tvals, pvals, strict=True):
        rows.append(
            Term(
                name=name,
                coef=float(b),
                std_error=float(s),
                t=float(t),
                p_value=float(p),
                ci_low=float(b - crit * s),
                ci_high=float(b + crit * s),
            )
        )
    return rows


class Summary(dict[str, float]):
    """The flat numbers of a result (a dict, as before), printed as readable tables."""

    def __init__(self, numbers: dict[str, float], text: str) -> None:
        super().__init__(numbers)
        self.text = text

    def __str__(self) -> str:
        return self.text

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython shows the tables
        p.text(self.text)


class EstimateResult(BaseModel):
    """One causal estimate with its uncertainty, its tables and what was checked on the way."""

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
    estimand: str = ""
    assumptions: list[str] = Field(default_factory=list)
    cov_type: str = ""
    rows_dropped: int = 0
    allow_invalid: bool = False
    terms: list[Term] = Field(default_factory=list)
    first_stage: list[Term] = Field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="named extra tables: balance, g-formula strata, ..."
    )

    def covers(self, value: float) -> bool:
        """Whether the confidence interval contains ``value``."""
        return bool(self.ci_low <= value <= self.ci_high)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table, one row per term (the effect alone when there are none)."""
        if self.terms:
            return pd.DataFrame([t.model_dump() for t in self.terms]).set_index("name")
        return pd.DataFrame(
            [
                {
                    "name": self.treatment or "effect",
                    "coef": self.estimate,
                    "std_error": self.std_error,
                    "ci_low": self.ci_low,
                    "ci_high": self.ci_high,
                }
            ]
        ).set_index("name")

    def summary(self) -> Summary:
        """Flat numbers (a dict) that print as the estimand, assumptions and tables."""
        numbers = {
            "estimate": self.estimate,
            "std_error": self.std_error,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": float(self.n),
        }
        return Summary(numbers, self.render())

    def render(self) -> str:
        head = [
            f"{self.estimator}: effect of {self.treatment} on {self.outcome}",
            f"estimate {self.estimate:.6g}  SE {self.std_error:.6g}  "
            f"CI [{self.ci_low:.6g}, {self.ci_high:.6g}]  n {self.n}  "
            f"rows dropped (missing) {self.rows_dropped}"
            + (f"  cov {self.cov_type}" if self.cov_type else ""),
        ]
        if self.estimand:
            head.append(f"estimand: {self.estimand}")
        head += [f"assumes: {a}" for a in self.assumptions]
        if self.allow_invalid:
            head.append("WARNING: allow_invalid=True: the graph says this design is not valid")
        blocks = ["\n".join(head), _table("terms", self.to_frame())]
        if self.first_stage:
            fs = pd.DataFrame([t.model_dump() for t in self.first_stage]).set_index("name")
            blocks.append(_table(f"first stage ({self.treatment})", fs))
        for name, rows in self.tables.items():
            blocks.append(_table(name, pd.DataFrame(rows)))
        return "\n\n".join(blocks)


def _table(title: str, frame: pd.DataFrame) -> str:
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        return f"{title}:\n{frame.to_string(float_format=lambda v: f'{v:.6g}')}"
