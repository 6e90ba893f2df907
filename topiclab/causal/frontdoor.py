"""Front-door estimators, identified from the graph: two-stage regression (linear, any number
of mediators) and the exact discrete formula.

    from topiclab.causal.frontdoor import FrontDoorExact
    res = FrontDoorExact().fit(df, "(U) -> Smoking; (U) -> Cancer; Smoking -> Tar; Tar -> Cancer",
                               treatment="Smoking", outcome="Cancer")
    res.diagnostics["E[Y|do(T=1)]"], res.diagnostics["E[Y|do(T=0)]"]   # 0.5475, 0.5025

Exact: P(y | do(x)) = Σ_m P(m | x) Σ_x' P(y | x', m) P(x') (Pearl 1995; Pearl, Glymour &
Jewell 2016, eq. 3.15). Linear: with M = αT + e and Y = βM + γT + u, the effect is Σ α_m β_m
(DoWhy's ``frontdoor.two_stage_regression`` handles one mediator, linearly; this any number).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from topiclab.causal.base import CausalEstimator, EstimatorConfig, Roles
from topiclab.causal.covariance import CovSpec, coef_cov
from topiclab.causal.linalg import checked_design, solve_normal
from topiclab.causal.propensity import binary_treatment
from topiclab.causal.results import EstimateResult, term_table
from topiclab.causal.validation import DegenerateDesignError

FRONTDOOR_ASSUMPTIONS = [
    "the mediators intercept every directed path from the treatment to the outcome",
    "no unblocked backdoor path from the treatment to the mediators",
    "every backdoor path from the mediators to the outcome is blocked by the treatment",
]


class FrontDoorTwoStage(CausalEstimator):
    """Front door, linear: regress each mediator on the treatment (α), the outcome on the
    mediators and the treatment (β); the effect is Σ α_m β_m, SE by the delta method."""

    key = "frontdoor.two_stage_regression"
    needs = "frontdoor"

    def _estimate(self, r: Roles) -> EstimateResult:
        spec = CovSpec("unadjusted", debiased=True)
        x1, names1 = checked_design(
            r.data, [r.treatment, *r.covariates], what="mediator regression"
        )
        mediators = r.data[r.mediators].to_numpy(float)
        a = solve_normal(x1, mediators)  # k1 × M
        e = mediators - x1 @ a
        bread = np.linalg.inv(x1.T @ x1)
        sigma = e.T @ e / (len(e) - x1.shape[1])
        i = names1.index(r.treatment)
        alpha, cov_alpha = a[i], sigma * bread[i, i]
        x2, names2 = checked_design(
            r.data, [*r.mediators, r.treatment, *r.covariates], what="outcome regression"
        )
        y = r.data[r.outcome].to_numpy(float)
        b = solve_normal(x2, y)
        cov_b = coef_cov(x2, y - x2 @ b, spec)
        idx = [names2.index(m) for m in r.mediators]
        beta, cov_beta = b[idx], cov_b[np.ix_(idx, idx)]
        tau = float(alpha @ beta)
        se = math.sqrt(float(beta @ cov_alpha @ beta + alpha @ cov_beta @ alpha))
        terms = term_table(
            [*(f"alpha[{m}]" for m in r.mediators), *(f"beta[{m}]" for m in r.mediators)],
            np.r_[alpha, beta],
            np.sqrt(np.r_[np.diag(cov_alpha), np.diag(cov_beta)]),
            self._level(),
            None,
        )
        return self._build(
            r,
            tau,
            se,
            terms=terms,
            estimand="Σ_m α_m β_m: T → M (α), M → Y given T (β), all linear",
            assumptions=[*FRONTDOOR_ASSUMPTIONS, "linear, constant effects in both stages"],
            cov_type="unadjusted",
            diagnostics={"mediators": r.mediators},
        )


class FrontDoorExactConfig(EstimatorConfig):
    n_boot: int = Field(default=200, ge=0, description="bootstrap draws for the SE (0: none)")
    seed: int = 0

    @field_validator("n_boot")
    @classmethod
    def _spread(cls, n: int) -> int:
        if n == 1:  # one draw has no spread: the SE would be NaN
            raise ValueError("one bootstrap draw gives no standard error: 0 (none) or at least 2")
        return n


class FrontDoorExact(CausalEstimator):
    """Front door over a discrete mediator and binary treatment: Pearl's front-door formula
    on the contingency table, with the table; SE by the nonparametric bootstrap."""

    key = "frontdoor.exact"
    needs = "frontdoor"
    Config = FrontDoorExactConfig
    config: FrontDoorExactConfig

    def _estimate(self, r: Roles) -> EstimateResult:
        t = binary_treatment(r).astype(int)
        codes, levels = _codes(r.data, r.mediators)
        y = r.data[r.outcome].to_numpy(float)
        do1, do0, table = frontdoor_formula(t, codes, y, len(levels))
        levels = levels.assign(**{k: v for k, v in table.items()})
        se = _bootstrap_se(t, codes, y, len(levels), self.config.n_boot, self.config.seed)
        return self._build(
            r,
            do1 - do0,
            se,
            estimand="Σ_m P(m|x) Σ_x' E[Y|x',m] P(x'), at x = 1 minus at x = 0",
            assumptions=[*FRONTDOOR_ASSUMPTIONS, "positivity: every mediator value under both x"],
            diagnostics={"E[Y|do(T=1)]": do1, "E[Y|do(T=0)]": do0, "mediators": r.mediators},
            tables={"front_door": levels.to_dict("records")},
        )


def _codes(data: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    codes = data.groupby(cols, sort=True).ngroup().to_numpy()
    levels = data[cols].groupby(cols, sort=True).size().reset_index()[cols]
    return codes, levels


def frontdoor_formula(
    t: np.ndarray, m: np.ndarray, y: np.ndarray, k: int, w: np.ndarray | None = None
) -> tuple[float, float, dict[str, np.ndarray]]:
    """E[Y|do(T=1)], E[Y|do(T=0)] and the per-mediator-value table, with unit weights ``w``
    (the bootstrap passes resampling counts)."""
    w = np.ones(len(t)) if w is None else w
    cell = t * k + m  # (x, m) cells
    n = np.bincount(cell, weights=w, minlength=2 * k).reshape(2, k)
    s = np.bincount(cell, weights=w * y, minlength=2 * k).reshape(2, k)
    if (n == 0).any():
        x, mm = np.argwhere(n == 0)[0]
        raise DegenerateDesignError(
            f"no unit has treatment {x} with mediator level {mm}: positivity fails, "
            "the front-door formula is undefined"
        )
    p_x = n.sum(axis=1) / n.sum()
    p_m_given_x = n / n.sum(axis=1, keepdims=True)
    ey = s / n  # E[Y | x, m]
    inner = p_x @ ey  # Σ_x' E[Y | x', m] P(x'), per m
    do = p_m_given_x @ inner
    table = {
        "P(m|T=1)": p_m_given_x[1],
        "P(m|T=0)": p_m_given_x[0],
        "E[Y|T=1,m]": ey[1],
        "E[Y|T=0,m]": ey[0],
        "sum_x' E[Y|x',m]P(x')": inner,
    }
    return float(do[1]), float(do[0]), table


def _bootstrap_se(
    t: np.ndarray, m: np.ndarray, y: np.ndarray, k: int, draws: int, seed: int
) -> float:
    if draws == 0:
        return math.nan
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        w = rng.multinomial(len(t), np.full(len(t), 1 / len(t))).astype(float)
        try:
            do1, do0, _ = frontdoor_formula(t, m, y, k, w)
        except DegenerateDesignError:
            continue  # a draw missing a cell: skip it (rare unless cells are tiny)
        out.append(do1 - do0)
    return float(np.std(out, ddof=1))
