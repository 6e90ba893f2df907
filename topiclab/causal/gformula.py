"""Exact adjustment over discrete covariates: the g-formula (backdoor adjustment formula)
computed on the contingency table, with the table itself in the result.

    from topiclab.causal.gformula import ExactAdjustment
    res = ExactAdjustment().fit(df, "Sex -> Drug; Sex -> Recovery; Drug -> Recovery",
                                treatment="Drug", outcome="Recovery")
    res.tables["g_formula"]   # per stratum w: P(w), E[Y | T=1, w], E[Y | T=0, w], effect

E[Y | do(T=t)] = Σ_w P(w) E[Y | T=t, W=w] (Pearl 2009, eq. 3.19; Robins 1986). The SE comes
from the efficient influence function of the saturated model:
T(Y − m1(w))/π(w) − (1 − T)(Y − m0(w))/(1 − π(w)) + m1(w) − m0(w) − τ.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import Field

from topiclab.causal.base import CausalEstimator, EstimatorConfig, Roles
from topiclab.causal.propensity import binary_treatment
from topiclab.causal.results import EstimateResult
from topiclab.causal.validation import DegenerateDesignError


class ExactConfig(EstimatorConfig):
    max_strata: int = Field(
        default=1000, ge=1, description="refuse covariates with more value combinations"
    )


class ExactAdjustment(CausalEstimator):
    """The g-formula over discrete covariates: E[Y | do(T=1)] − E[Y | do(T=0)], stratum by
    stratum, with its table."""

    key = "backdoor.exact_adjustment"
    Config = ExactConfig
    config: ExactConfig

    def _estimate(self, r: Roles) -> EstimateResult:
        t = binary_treatment(r)
        table, codes = g_table(r.data, r.covariates, r.treatment, r.outcome, t)
        if len(table) > self.config.max_strata:
            raise DegenerateDesignError(
                f"the covariates take {len(table)} value combinations (max_strata="
                f"{self.config.max_strata}): exact adjustment needs discrete covariates"
            )
        bad = table[(table["n_treated"] == 0) | (table["n_control"] == 0)]
        if len(bad):
            row = bad.iloc[0]
            stratum = ", ".join(f"{c}={row[c]:g}" for c in r.covariates) or "all"
            arm = "treated" if row["n_treated"] == 0 else "control"
            raise DegenerateDesignError(
                f"stratum {stratum} has no {arm} unit ({len(bad)} such strata): "
                "positivity fails, the g-formula is undefined"
            )
        p = table["p_w"].to_numpy()
        do1 = float(p @ table["mean_treated"].to_numpy())
        do0 = float(p @ table["mean_control"].to_numpy())
        tau = do1 - do0
        se = _influence_se(r.data[r.outcome].to_numpy(float), t, codes, table, tau)
        return self._build(
            r,
            tau,
            se,
            estimand="Σ_w P(w) (E[Y | T=1, w] − E[Y | T=0, w])",
            assumptions=[
                "the covariates block every backdoor path (no unmeasured confounding)",
                "positivity: every stratum has treated and control units",
            ],
            diagnostics={"E[Y|do(T=1)]": do1, "E[Y|do(T=0)]": do0, "n_strata": len(table)},
            tables={"g_formula": table.to_dict("records")},
        )


def g_table(
    data: pd.DataFrame, covs: list[str], treatment: str, outcome: str, t: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per covariate stratum (all rows are one stratum without covariates), and each
    unit's stratum index."""
    if covs:
        keys = data[covs]
        codes = keys.groupby(covs, sort=True).ngroup().to_numpy()
        # ngroup numbers the groups in the order groupby lists them (sorted): the same rows.
        strata = keys.groupby(covs, sort=True).size().reset_index()[covs]
    else:
        codes, strata = np.zeros(len(data), int), pd.DataFrame(index=[0])
    y = data[outcome].to_numpy(float)
    k = int(codes.max()) + 1
    n = np.bincount(codes, minlength=k).astype(float)
    n1 = np.bincount(codes, weights=t, minlength=k)
    s1 = np.bincount(codes, weights=t * y, minlength=k)
    s0 = np.bincount(codes, weights=(1 - t) * y, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        m1, m0 = s1 / n1, s0 / (n - n1)
    table = strata.assign(
        n=n.astype(int),
        p_w=n / n.sum(),
        n_treated=n1.astype(int),
        n_control=(n - n1).astype(int),
        mean_treated=m1,
        mean_control=m0,
        effect=m1 - m0,
    )
    return table, codes


def _influence_se(
    y: np.ndarray, t: np.ndarray, codes: np.ndarray, table: pd.DataFrame, tau: float
) -> float:
    m1 = table["mean_treated"].to_numpy()[codes]
    m0 = table["mean_control"].to_numpy()[codes]
    pi = (table["n_treated"] / table["n"]).to_numpy()[codes]
    phi = t * (y - m1) / pi - (1 - t) * (y - m0) / (1 - pi) + m1 - m0 - tau
    return math.sqrt(float(phi @ phi)) / len(y)
