"""Invariant Causal Prediction (Peters, Bühlmann & Meinshausen 2016), "Method II".

For every subset S of the covariates: pooled OLS of Y on X_S; in each environment compare the
residuals with the rest (Welch t-test for means, two-sided F-test for variances); p_S =
min(1, 2·(E − 1)·min p) (the (E − 1) follows the R package); accept S if p_S > α. The estimate
Ŝ is the intersection of the accepted sets, with P(Ŝ ⊆ true parents) ≥ 1 − α. Numerically the
same procedure as the ``causalicp`` package (its tests compare with R)::

    from topiclab.causal.icp import InvariantCausalPrediction
    res = InvariantCausalPrediction({"alpha": 0.05}).fit(df, outcome="Y", environment="env")
    res.parents, res.accepted_sets, res.pvalues, res.conf_intervals
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import Field

from topiclab.causal.base import CausalEstimator, EstimateResult, EstimatorConfig
from topiclab.causal.graph import GraphLike
from topiclab.causal.validation import (
    RoleError,
    as_names,
    check_columns,
    check_distinct,
    check_numeric,
    complete_rows,
)


class ICPConfig(EstimatorConfig):
    alpha: float = Field(default=0.05, gt=0, lt=1, description="level of the invariance tests")
    environment: str = Field(default="env", description="column that labels the environment")
    max_set_size: int | None = Field(default=None, ge=0, description="test subsets up to this size")


class ICPResult(EstimateResult):
    """ICP's answer: Ŝ (None if every set was rejected), the accepted sets, per-set and
    per-variable p-values and the union of the accepted sets' confidence intervals."""

    parents: list[str] | None = None
    accepted_sets: list[list[str]] = Field(default_factory=list)
    set_pvalues: dict[str, float] = Field(default_factory=dict)
    pvalues: dict[str, float] = Field(default_factory=dict)
    conf_intervals: dict[str, tuple[float, float]] | None = None


class InvariantCausalPrediction(CausalEstimator):
    """ICP over the ``covariates`` (default: every numeric column but the outcome and the
    environment). ``treatment``, if given, is reported as ``estimate``: its coefficient in the
    pooled regression on Ŝ (NaN when it is not in Ŝ)."""

    key = "icp"
    Config = ICPConfig
    config: ICPConfig

    def fit(  # type: ignore[override]
        self,
        data: pd.DataFrame,
        graph: GraphLike | None = None,
        *,
        treatment: str | None = None,
        outcome: str,
        instruments: Sequence[str] | None = None,
        covariates: str | Sequence[str] | None = None,
    ) -> ICPResult:
        env = self.config.environment
        check_columns(data, [outcome], "outcome")
        check_columns(data, [env], "environment")
        listed = as_names(covariates, "covariate")  # a string is one column
        covs = (
            listed if listed is not None else [c for c in data.columns if c not in (outcome, env)]
        )
        check_columns(data, covs, "covariate")
        check_distinct({"outcome": [outcome], "environment": [env], "covariate": covs})
        check_numeric(data, [outcome, *covs])
        if graph is not None:
            from topiclab.causal.graph import CausalGraph

            CausalGraph.parse(graph).check_against(data.drop(columns=[env]), [outcome, *covs])
        kept, dropped = complete_rows(
            data.assign(_env=pd.factorize(data[env])[0]), [*covs, outcome, "_env"]
        )
        labels = kept["_env"].to_numpy(int)
        if len(np.unique(labels)) < 2:
            raise RoleError(f"ICP needs at least two environments in column '{env}'")
        blocks = [
            kept.loc[labels == e, [*covs, outcome]].to_numpy(float) for e in np.unique(labels)
        ]
        res = icp_arrays(blocks, len(covs), self.config.alpha, self.config.max_set_size)
        return self._result(res, covs, outcome, treatment, len(kept), dropped)

    def _result(
        self,
        res: ICPRaw,
        covs: list[str],
        outcome: str,
        treatment: str | None,
        n: int,
        dropped: int,
    ) -> ICPResult:
        parents = None if res.estimate is None else [covs[i] for i in sorted(res.estimate)]
        coef = math.nan
        if treatment is not None and res.estimate is not None and treatment in (parents or []):
            coef = float(res.coefs[tuple(sorted(res.estimate))][covs.index(treatment)])
        ci = res.conf_intervals
        return ICPResult(
            estimator=self.key,
            treatment=treatment,
            outcome=outcome,
            estimate=coef,
            n=n,
            parents=parents,
            accepted_sets=[[covs[i] for i in sorted(s)] for s in res.accepted],
            set_pvalues={
                ",".join(covs[i] for i in sorted(s)): v for s, v in res.set_pvalues.items()
            },
            pvalues={c: float(v) for c, v in zip(covs, res.pvalues, strict=True)},
            conf_intervals=None
            if ci is None
            else {c: (float(ci[0][i]), float(ci[1][i])) for i, c in enumerate(covs)},
            diagnostics={
                "alpha": self.config.alpha,
                "rows_dropped": dropped,
                "n_accepted": len(res.accepted),
            },
        )


@dataclass
class ICPRaw:
    """ICP on column indices: what :func:`icp_arrays` returns."""

    estimate: frozenset[int] | None
    accepted: list[frozenset[int]]
    set_pvalues: dict[frozenset[int], float]
    coefs: dict[tuple[int, ...], np.ndarray]
    pvalues: np.ndarray
    conf_intervals: tuple[np.ndarray, np.ndarray] | None


def _env_tests(resid: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch t and variance-ratio F statistics of each environment against the rest."""
    ts, dfs, fs, df1, df2 = [], [], [], [], []
    for i, r in enumerate(resid):
        rest = np.hstack([resid[j] for j in range(len(resid)) if j != i])
        n1, n2 = len(r), len(rest)
        v1, v2 = np.var(r, ddof=1), np.var(rest, ddof=1)
        s1, s2 = v1 / n1, v2 / n2
        ts.append((r.mean() - rest.mean()) / np.sqrt(s1 + s2))
        dfs.append((s1 + s2) ** 2 / (s1**2 / (n1 - 1) + s2**2 / (n2 - 1)))
        fs.append(v1 / v2)
        df1.append(n1 - 1)
        df2.append(n2 - 1)
    return np.array([ts, dfs]), np.array(fs), np.array([df1, df2])


def icp_arrays(
    blocks: list[np.ndarray], p: int, alpha: float, max_size: int | None = None
) -> ICPRaw:
    """ICP on per-environment arrays whose first ``p`` columns are covariates and whose last
    column is the target. Returns indices: estimate, accepted sets, p-values, intervals."""
    pooled = np.vstack(blocks)
    n_total, e = len(pooled), len(blocks)
    # Regress through the pooled covariance (ddof=0) and means, as causalicp's default does.
    mean, cov = pooled.mean(axis=0), np.cov(pooled, rowvar=False, ddof=0)
    with_one = np.column_stack([pooled[:, :p], np.ones(n_total)])
    gram = with_one.T @ with_one
    y = p
    sizes = range(p + 1 if max_size is None else min(p, max_size) + 1)
    sets = [c for k in sizes for c in itertools.combinations(range(p), k)]
    betas, resids, t_stats, f_stats, dofs = [], [], [], [], []
    for s in sets:
        sl = list(s)
        beta = np.zeros(p + 1)
        if sl:
            beta[sl] = np.linalg.solve(cov[np.ix_(sl, sl)], cov[y, sl])
        intercept = mean[y] - beta @ mean
        resid = [b[:, y] - b @ beta - intercept for b in blocks]
        t, f, d = _env_tests(resid)
        betas.append(beta[:p])
        resids.append(np.hstack(resid))
        t_stats.append(t)
        f_stats.append(f)
        dofs.append(d)
    # All the tests at once: scipy's per-call overhead dominated a loop of ttest_ind calls.
    t_arr, f_arr, d_arr = np.array(t_stats), np.array(f_stats), np.array(dofs)
    from scipy import stats  # lazy: ~0.4 s to import

    p_mean = 2 * stats.t.sf(np.abs(t_arr[:, 0]), t_arr[:, 1])
    cdf = stats.f.cdf(f_arr, d_arr[:, 0], d_arr[:, 1])
    p_var = 2 * np.minimum(cdf, 1 - cdf)
    smallest = np.minimum(p_mean.min(axis=1), p_var.min(axis=1))
    p_sets = np.minimum(1.0, smallest * 2 * (e - 1))
    z = stats.norm.ppf(1 - alpha / 4)
    set_p: dict[frozenset[int], float] = {}
    coefs: dict[tuple[int, ...], np.ndarray] = {}
    accepted: list[frozenset[int]] = []
    intervals: list[tuple[np.ndarray, np.ndarray]] = []
    for s, p_s, beta, resid_all in zip(sets, p_sets, betas, resids, strict=True):
        set_p[frozenset(s)] = float(p_s)
        coefs[s] = beta
        if p_s > alpha:
            accepted.append(frozenset(s))
            intervals.append(_interval(beta, list(s), resid_all, gram, n_total, p, z))
    return _summarise(p, set_p, coefs, accepted, intervals)


def _interval(
    beta: np.ndarray, s: list[int], resid: np.ndarray, gram: np.ndarray, n: int, p: int, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Normal intervals at 1 − α/4 (as the R package and causalicp do); zero outside S."""
    lo, hi = np.zeros(p), np.zeros(p)
    if s:
        sigma = float(resid @ resid) / (n - len(s) - 1)
        sup = [*s, p]
        se = np.sqrt(sigma * np.diag(np.linalg.inv(gram[np.ix_(sup, sup)])))[:-1]
        lo[s], hi[s] = beta[s] - z * se, beta[s] + z * se
    return lo, hi


def _summarise(
    p: int,
    set_p: dict[frozenset[int], float],
    coefs: dict[tuple[int, ...], np.ndarray],
    accepted: list[frozenset[int]],
    intervals: list[tuple[np.ndarray, np.ndarray]],
) -> ICPRaw:
    if not accepted:
        # Every set rejected: a model violation. No estimate; p-values of 1 (as causalicp).
        return ICPRaw(None, [], set_p, coefs, np.ones(p), None)
    estimate = frozenset(range(p)).intersection(*accepted)
    # A variable's p-value: the largest p_S over the tested sets without it.
    pvalues = np.array([max(v for s, v in set_p.items() if j not in s) for j in range(p)])
    lo = np.min([i[0] for i in intervals], axis=0)
    hi = np.max([i[1] for i in intervals], axis=0)
    return ICPRaw(estimate, accepted, set_p, coefs, pvalues, (lo, hi))
