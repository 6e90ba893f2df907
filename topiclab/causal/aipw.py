"""Augmented inverse-probability weighting (doubly robust): the ATE is consistent when either
the propensity model or the outcome model is right.

    from topiclab.causal.aipw import AIPW
    res = AIPW({"propensity_degree": 2}).fit(df, graph, treatment="T", outcome="Y")

φ_i = μ̂1(W_i) − μ̂0(W_i) + T_i(Y_i − μ̂1(W_i))/ê_i − (1 − T_i)(Y_i − μ̂0(W_i))/(1 − ê_i);
τ̂ = mean φ, SE = sd(φ)/√n (Robins, Rotnitzky & Zhao 1994; Glynn & Quinn 2010). The outcome
models are linear regressions fitted separately in each arm (on W, or its degree-2 expansion).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from topiclab.causal.base import CausalEstimator, Roles
from topiclab.causal.linalg import checked_design, solve_normal
from topiclab.causal.propensity import (
    PropensityConfig,
    balance,
    binary_treatment,
    expand,
    overlap,
    propensity,
)
from topiclab.causal.results import EstimateResult


class AIPWConfig(PropensityConfig):
    outcome_degree: Literal[1, 2] = Field(
        default=1, description="outcome model features: W, or W with squares and products"
    )


def arm_predictions(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """μ̂1(W) and μ̂0(W) for every unit, from OLS fitted within each arm."""
    b1 = solve_normal(x[t == 1], y[t == 1])
    b0 = solve_normal(x[t == 0], y[t == 0])
    return x @ b1, x @ b0


class AIPW(CausalEstimator):
    """Doubly robust ATE: outcome regressions per arm, augmented by inverse-probability
    weighted residuals; SE from the influence function."""

    key = "backdoor.aipw"
    Config = AIPWConfig
    config: AIPWConfig

    def _estimate(self, r: Roles) -> EstimateResult:
        t = binary_treatment(r)
        ps = propensity(r, t, self.config, r.data)
        y = r.data[r.outcome].to_numpy(float)
        feats = expand(r.data, r.covariates, self.config.outcome_degree)
        x, _ = checked_design(feats, list(feats.columns), what="outcome model")
        for arm in (0, 1):
            checked_design(feats.loc[t == arm], list(feats.columns), what=f"outcome model T={arm}")
        m1, m0 = arm_predictions(x, y, t)
        phi = aipw_scores(y, t, ps.e, m1, m0)
        tau = float(phi.mean())
        se = math.sqrt(float(((phi - tau) ** 2).sum())) / len(y)
        w = t / ps.e + (1 - t) / (1 - ps.e)
        return self._build(
            r,
            tau,
            se,
            estimand="ATE = E[Y(1) − Y(0)]",
            assumptions=[
                "the covariates block every backdoor path (no unmeasured confounding)",
                "overlap: 0 < e(W) < 1",
                "the propensity model OR the outcome model is correctly specified",
            ],
            diagnostics={"overlap": overlap(ps.e, t, w), "clipped": int(ps.clipped.sum())},
            tables={"balance": balance(r.data, r.covariates, t, w)},
        )


def aipw_scores(
    y: np.ndarray, t: np.ndarray, e: np.ndarray, m1: np.ndarray, m0: np.ndarray
) -> np.ndarray:
    return m1 - m0 + t * (y - m1) / e - (1 - t) * (y - m0) / (1 - e)
