"""The propensity score e(W) = P(T=1 | W) and the estimators built on it: inverse-probability
weighting (ATE/ATT, normalised or not, clipped or trimmed) and stratification.

    from topiclab.causal.propensity import PropensityScoreWeighting
    res = PropensityScoreWeighting({"target": "att", "propensity_degree": 2}).fit(
        df, "W -> T; W -> Y; T -> Y", treatment="T", outcome="Y")
    res.diagnostics["overlap"], res.tables["balance"]   # overlap and covariate balance

The propensity model is a logistic regression fitted by Newton's method (no penalty, unlike
scikit-learn's default), on W or, with ``propensity_degree=2``, on W, its squares and pairwise
products. Standard errors stack the weighting equations with the logistic score (M-estimation;
Lunceford & Davidian 2004), so they account for the estimated propensity.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from topiclab.causal.base import CausalEstimator, EstimatorConfig, Roles
from topiclab.causal.linalg import checked_design
from topiclab.causal.results import EstimateResult
from topiclab.causal.validation import DegenerateDesignError, RoleError

PS_ASSUMPTIONS = [
    "the covariates block every backdoor path (no unmeasured confounding)",
    "overlap: 0 < e(W) < 1 for every unit",
    "the propensity model is correctly specified",
]


class PropensityConfig(EstimatorConfig):
    propensity_degree: Literal[1, 2] = Field(
        default=1, description="1: logit on W; 2: also squares and pairwise products"
    )
    clip: float = Field(
        default=0.0, ge=0, lt=0.5, description="clip e(W) to [clip, 1 − clip] (DoWhy's default)"
    )
    trim: float = Field(
        default=0.0,
        ge=0,
        lt=0.5,
        description="drop units with e(W) outside [trim, 1 − trim] and refit (Crump et al. 2009)",
    )


@dataclass
class Propensity:
    """A fitted logit: scores, design, and the influence function of its coefficients."""

    e: np.ndarray
    x: np.ndarray
    if_beta: np.ndarray  # n × p: (x (t − e)) A⁻¹, A = mean of e(1−e) x x'
    clipped: np.ndarray  # units whose score was clipped (their weight no longer moves with β)


def binary_treatment(r: Roles) -> np.ndarray:
    t = r.data[r.treatment].to_numpy(float)
    if not np.isin(t, (0.0, 1.0)).all():
        raise RoleError(f"treatment '{r.treatment}' must be binary 0/1 for this estimator")
    if t.min() == t.max():
        raise DegenerateDesignError(f"treatment '{r.treatment}' takes one value only")
    return t


def expand(data: pd.DataFrame, covariates: list[str], degree: int) -> pd.DataFrame:
    """W, and for degree 2 its squares (non-binary columns) and pairwise products."""
    cols = {c: data[c].to_numpy(float) for c in covariates}
    if degree == 2:
        for c in covariates:
            if not np.isin(cols[c], (0.0, 1.0)).all():
                cols[f"{c}^2"] = cols[c] ** 2
        for a, b in itertools.combinations(covariates, 2):
            cols[f"{a}*{b}"] = cols[a] * cols[b]
    return pd.DataFrame(cols, index=data.index)


def fit_logit(x: np.ndarray, t: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Maximum-likelihood logit coefficients by Newton's method with step halving."""
    beta = np.zeros(x.shape[1])
    loglik = _loglik(x, t, beta)
    for _ in range(max_iter):
        e = _expit(x @ beta)
        score = x.T @ (t - e)
        try:
            step = np.linalg.solve((x * (e * (1 - e))[:, None]).T @ x, score)
        except np.linalg.LinAlgError:
            break  # a singular information matrix: the scores have hit 0 or 1
        for _ in range(30):
            new = _loglik(x, t, beta + step)
            if new >= loglik - 1e-12:
                break
            step /= 2
        beta, change, loglik = beta + step, new - loglik, new
        if abs(change) < 1e-12 and np.abs(step).max() < 1e-8:
            return beta
    raise DegenerateDesignError(
        "the propensity model did not converge: the covariates (nearly) separate treated from "
        "untreated units, so overlap fails"
    )


def _expit(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * v))  # stable for large |v|


def _loglik(x: np.ndarray, t: np.ndarray, beta: np.ndarray) -> float:
    v = x @ beta
    return float(np.sum(t * v - np.logaddexp(0, v)))


def propensity(r: Roles, t: np.ndarray, cfg: PropensityConfig, data: pd.DataFrame) -> Propensity:
    feats = expand(data, r.covariates, cfg.propensity_degree)
    x, _ = checked_design(
        feats, list(feats.columns), what="propensity", drop_collinear=cfg.drop_collinear
    )
    e = _expit(x @ fit_logit(x, t))
    a = (x * (e * (1 - e))[:, None]).T @ x / len(t)
    if_beta = (x * (t - e)[:, None]) @ np.linalg.inv(a)
    clipped = np.zeros(len(t), bool)
    if cfg.clip > 0:
        clipped = (e < cfg.clip) | (e > 1 - cfg.clip)
        e = np.clip(e, cfg.clip, 1 - cfg.clip)
    return Propensity(e, x, if_beta, clipped)


def trimmed(r: Roles, t: np.ndarray, cfg: PropensityConfig) -> tuple[pd.DataFrame, int]:
    """The rows kept after trimming on a first propensity fit (all rows if trim = 0)."""
    if cfg.trim == 0:
        return r.data, 0
    e = propensity(r, t, cfg.model_copy(update={"clip": 0.0}), r.data).e
    keep = (e >= cfg.trim) & (e <= 1 - cfg.trim)
    return r.data.loc[keep], int((~keep).sum())


def overlap(e: np.ndarray, t: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Where the scores of the two arms lie, and how much the weights concentrate."""

    def ess(v: np.ndarray) -> float:
        return float(v.sum() ** 2 / (v**2).sum()) if v.sum() > 0 else 0.0

    return {
        "ps_min_treated": float(e[t == 1].min()),
        "ps_max_treated": float(e[t == 1].max()),
        "ps_min_control": float(e[t == 0].min()),
        "ps_max_control": float(e[t == 0].max()),
        "share_outside_0.05_0.95": float(np.mean((e < 0.05) | (e > 0.95))),
        "ess_treated": ess(w[t == 1]),
        "ess_control": ess(w[t == 0]),
        "max_weight_share": float(w.max() / w.sum()),
    }


def balance(data: pd.DataFrame, covs: list[str], t: np.ndarray, w: np.ndarray) -> list[dict]:
    """Standardised mean differences before and after weighting (pooled unweighted SD)."""
    rows = []
    for c in covs:
        v = data[c].to_numpy(float)
        sd = math.sqrt((v[t == 1].var(ddof=1) + v[t == 0].var(ddof=1)) / 2) or 1.0
        after = [np.average(v[t == a], weights=w[t == a]) for a in (1, 0)]
        rows.append(
            {
                "covariate": c,
                "mean_treated": float(v[t == 1].mean()),
                "mean_control": float(v[t == 0].mean()),
                "smd_before": float((v[t == 1].mean() - v[t == 0].mean()) / sd),
                "smd_after": float((after[0] - after[1]) / sd),
            }
        )
    return rows


class WeightingConfig(PropensityConfig):
    target: Literal["ate", "att"] = "ate"
    normalize: bool = Field(
        default=True, description="Hájek (weights normalised within arm) vs Horvitz–Thompson"
    )


class PropensityScoreWeighting(CausalEstimator):
    """Inverse-probability weighting: ATE (weights 1/e, 1/(1−e)) or ATT (1, e/(1−e)),
    normalised within arm by default; SEs account for the estimated propensity. Stabilised
    weights (× P(T=t), Robins, Hernán & Brumback 2000) give the normalised estimate exactly:
    the constant cancels within each arm."""

    key = "backdoor.propensity_score_weighting"
    Config = WeightingConfig
    config: WeightingConfig

    def _estimate(self, r: Roles) -> EstimateResult:
        t0 = binary_treatment(r)
        data, n_trim = trimmed(r, t0, self.config)
        t = data[r.treatment].to_numpy(float)
        ps = propensity(r, t, self.config, data)
        y = data[r.outcome].to_numpy(float)
        tau, se, w = ipw(y, t, ps, self.config.target, self.config.normalize)
        return self._build(
            r,
            tau,
            se,
            estimand=f"{self.config.target.upper()} = E[Y(1) − Y(0)"
            + (" | T=1]" if self.config.target == "att" else "]"),
            assumptions=PS_ASSUMPTIONS,
            diagnostics={
                "overlap": overlap(ps.e, t, w),
                "trimmed": n_trim,
                "clipped": int(ps.clipped.sum()),
                "n_used": len(t),
            },
            tables={"balance": balance(data, r.covariates, t, w)},
        )


def ipw(
    y: np.ndarray, t: np.ndarray, ps: Propensity, target: str, normalize: bool
) -> tuple[float, float, np.ndarray]:
    """The weighted contrast, its stacked-M-estimation SE, and each unit's weight."""
    e, free = ps.e, ~ps.clipped
    if target == "ate":
        w1, w0 = 1 / e, 1 / (1 - e)
        d1 = d0 = np.ones_like(t)
        dw1 = -(1 - e) / e * free  # ∂w/∂β = dw · x
    else:
        w1, w0 = np.ones_like(e), e / (1 - e)
        d1 = d0 = t
        dw1 = np.zeros_like(e)
    dw0 = e / (1 - e) * free
    mu1, if1 = _arm(y, t * w1, t * dw1, d1, normalize, ps)
    mu0, if0 = _arm(y, (1 - t) * w0, (1 - t) * dw0, d0, normalize, ps)
    infl = if1 - if0
    n = len(y)
    return mu1 - mu0, float(math.sqrt(infl @ infl) / n), t * w1 + (1 - t) * w0


def _arm(
    y: np.ndarray,
    w: np.ndarray,
    dw: np.ndarray,
    d: np.ndarray,
    normalize: bool,
    ps: Propensity,
) -> tuple[float, np.ndarray]:
    """One arm's weighted mean and influence function, the logit's included:
    solve mean ψ(μ, β) = 0 jointly with the logit score and linearise."""
    if normalize:
        mu = float(w @ y / w.sum())
        psi, jac = w * (y - mu), float(w.mean())
        grad = ((y - mu) * dw) @ ps.x / len(y)
    else:
        mu = float(w @ y / d.sum())
        psi, jac = w * y - d * mu, float(d.mean())
        grad = (y * dw) @ ps.x / len(y)
    return mu, (psi + ps.if_beta @ grad) / jac


class StratificationConfig(PropensityConfig):
    n_strata: int = Field(default=5, ge=2, le=100, description="quantile strata of e(W)")
    target: Literal["ate", "att"] = "ate"


class PropensityScoreStratification(CausalEstimator):
    """Subclassification on quantiles of the propensity score (Rosenbaum & Rubin 1984):
    differences in means within strata, averaged with stratum shares (ATE) or treated
    shares (ATT). Five strata remove about 90% of the bias; some remains."""

    key = "backdoor.propensity_score_stratification"
    Config = StratificationConfig
    config: StratificationConfig

    def _estimate(self, r: Roles) -> EstimateResult:
        t = binary_treatment(r)
        ps = propensity(r, t, self.config, r.data)
        y = r.data[r.outcome].to_numpy(float)
        strata, edges = _strata(ps.e, self.config.n_strata)
        rows = [_stratum(s, edges, y, t, strata == s) for s in range(len(edges) - 1)]
        empty = [row["stratum"] for row in rows if min(row["n_treated"], row["n_control"]) < 2]
        if empty:
            raise DegenerateDesignError(
                f"propensity strata {empty} have fewer than two treated or control units: "
                "overlap fails there; use fewer strata or trim"
            )
        key = "n" if self.config.target == "ate" else "n_treated"
        share = np.array([row[key] for row in rows], float)
        share /= share.sum()
        tau = float(share @ [row["effect"] for row in rows])
        se = math.sqrt(float(share**2 @ [row["var"] for row in rows]))
        return self._build(
            r,
            tau,
            se,
            estimand=f"{self.config.target.upper()} by subclassification on e(W)",
            assumptions=[*PS_ASSUMPTIONS, "e(W) is nearly constant within each stratum"],
            tables={"strata": rows},
        )


def _strata(e: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's stratum and the strata's edges: quantile bins of e(W), or, when e takes at
    most k values (discrete covariates), one stratum per value."""
    values = np.unique(e)
    if len(values) <= k:
        return np.searchsorted(values, e), np.r_[values, values[-1]]
    edges = np.quantile(e, np.linspace(0, 1, k + 1))
    return np.clip(np.searchsorted(edges, e, side="right") - 1, 0, k - 1), edges


def _stratum(
    s: int, edges: np.ndarray, y: np.ndarray, t: np.ndarray, m: np.ndarray
) -> dict[str, Any]:
    y1, y0 = y[m & (t == 1)], y[m & (t == 0)]
    ok = len(y1) > 1 and len(y0) > 1
    return {
        "stratum": s,
        "ps_low": float(edges[s]),
        "ps_high": float(edges[s + 1]),
        "n": int(m.sum()),
        "n_treated": len(y1),
        "n_control": len(y0),
        "effect": float(y1.mean() - y0.mean()) if ok else math.nan,
        "var": float(y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0)) if ok else math.nan,
    }
