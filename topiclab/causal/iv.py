"""Instrumental-variable estimators: 2SLS (DoWhy + closed-form SEs), Wald, control function,
sieve 2SLS and the "forbidden regression".

    from topiclab.causal.iv import TwoStageLeastSquares
    res = TwoStageLeastSquares({"cov_type": "unadjusted"}).fit(
        df, None, treatment="educ", outcome="lwage", instruments=["nearc4"],
        covariates=["exper", "black", "south", "married", "smsa"])
    res.estimate, res.std_error, res.diagnostics["first_stage_f"], res.diagnostics["weak"]

Standard errors use the residuals of the *structural* equation (Y − Xβ̂ with the original X,
not X̂): the second-stage OLS residuals would give wrong ones. With ``debiased=False`` σ̂² is
divided by n (linearmodels' default), so coefficients and SEs equal ``linearmodels.IV2SLS``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field
from scipy import stats

from topiclab.causal import dowhy_api
from topiclab.causal.base import (
    CausalEstimator,
    EstimateResult,
    EstimatorConfig,
    Roles,
    design,
    lstsq,
    ols_fit,
    sandwich,
    wald_f,
)
from topiclab.causal.graph import GraphLike
from topiclab.causal.validation import RoleError


class IVConfig(EstimatorConfig):
    cov_type: Literal["unadjusted", "robust"] = Field(
        default="unadjusted",
        description="unadjusted (homoskedastic) or robust (HC0) standard errors",
    )
    debiased: bool = Field(default=False, description="divide σ̂² by n − k instead of n")
    weak_f_threshold: float = Field(
        default=10.0, description="first-stage F below this flags 'weak'"
    )


class TwoSLSConfig(IVConfig):
    use_dowhy: bool = Field(
        default=True,
        description="identify with DoWhy and cross-check its iv.instrumental_variable "
        "estimate (one instrument, no covariates)",
    )


@dataclass
class TwoSLSFit:
    """The matrix 2SLS fit: β̂ = (X̂'X̂)⁻¹X̂'y, with X̂ = P_Z X."""

    beta: np.ndarray
    cov: np.ndarray
    resid: np.ndarray
    xhat: np.ndarray


def two_sls(
    y: np.ndarray, x: np.ndarray, zm: np.ndarray, debiased: bool, robust: bool
) -> TwoSLSFit:
    """``x``: regressors (constant, endogenous, exogenous); ``zm``: constant, instruments,
    exogenous. Residuals come from the structural equation with the original ``x``."""
    xhat = zm @ lstsq(zm, x)
    beta = lstsq(xhat, y)
    resid = y - x @ beta
    return TwoSLSFit(beta, sandwich(xhat, resid, debiased, robust), resid, xhat)


def first_stage(
    data: pd.DataFrame,
    treatment: str,
    instruments: Sequence[str],
    covariates: Sequence[str],
    debiased: bool,
    robust: bool,
) -> dict[str, float]:
    """Regress the treatment on instruments and covariates; F for excluding the instruments."""
    z = design(data, [*instruments, *covariates])
    t = data[treatment].to_numpy(float)
    beta, cov, resid = ols_fit(z, t, debiased, robust)
    idx = list(range(1, 1 + len(instruments)))
    f = wald_f(beta, cov, idx)
    # Partial R²: how much of the treatment's variation the instruments add to the covariates.
    w = design(data, covariates)
    r_w = t - w @ lstsq(w, t)
    partial_r2 = 1.0 - float(resid @ resid) / float(r_w @ r_w)
    out = {"first_stage_f": f, "first_stage_partial_r2": partial_r2}
    for i, name in zip(idx, instruments, strict=True):
        out[f"first_stage_coef[{name}]"] = float(beta[i])
        out[f"first_stage_se[{name}]"] = float(math.sqrt(cov[i, i]))
    return out


class TwoStageLeastSquares(CausalEstimator):
    """2SLS/IV: DoWhy identifies the estimand (and estimates it where it can); the point
    estimate, standard errors and first-stage diagnostics are computed in closed form."""

    key = "iv.2sls"
    Config = TwoSLSConfig
    config: TwoSLSConfig

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
        r = self._roles(data, graph, treatment, outcome, instruments, covariates, True)
        return self._finish(r, self._fit_matrix(r), self._dowhy(r))

    def _fit_matrix(self, r: Roles) -> TwoSLSFit:
        x = design(r.data, [r.treatment, *r.covariates])
        zm = design(r.data, [*r.instruments, *r.covariates])
        if zm.shape[1] < x.shape[1]:
            raise RoleError("2SLS needs at least as many instruments as treatments")
        robust = self.config.cov_type == "robust"
        return two_sls(r.data[r.outcome].to_numpy(float), x, zm, self.config.debiased, robust)

    def _dowhy(self, r: Roles) -> dict[str, Any]:
        """Identify with DoWhy; estimate with ``iv.instrumental_variable`` where DoWhy's
        estimator is exact (one instrument, no covariates: it ignores covariates)."""
        if not self.config.use_dowhy:
            return {}
        graph = r.graph or dowhy_api.iv_graph(r.treatment, r.outcome, r.instruments, r.covariates)
        model = dowhy_api.causal_model(r.data, graph, r.treatment, r.outcome)
        estimand = dowhy_api.identify(model)
        out: dict[str, Any] = {"dowhy_instruments": list(estimand.instrumental_variables)}
        if len(r.instruments) == 1 and not r.covariates:
            est = dowhy_api.estimate(
                model, estimand, "iv.instrumental_variable", iv_instrument_name=r.instruments[0]
            )
            # None when the graph admits no instrument (e.g. Z -> Y): the user forced one.
            if est.value is not None:
                out["dowhy_estimate"] = float(est.value)
                out["identifier_method"] = est.target_estimand.identifier_method
        if r.graph is not None:
            valid = set(r.graph.instruments(r.treatment, r.outcome, r.covariates))
            out["instruments_valid_in_graph"] = set(r.instruments) <= valid
        return out

    def _finish(self, r: Roles, f: TwoSLSFit, extra: dict[str, Any]) -> EstimateResult:
        robust = self.config.cov_type == "robust"
        fs = first_stage(
            r.data, r.treatment, r.instruments, r.covariates, self.config.debiased, robust
        )
        return _result(
            self,
            r,
            f.beta,
            f.cov,
            {
                **fs,
                "weak": fs["first_stage_f"] < self.config.weak_f_threshold,
                "instruments": r.instruments,
                "covariates": r.covariates,
                "rows_dropped": r.dropped,
                "cov_type": self.config.cov_type,
                **extra,
            },
        )


def _result(
    est: CausalEstimator,
    r: Roles,
    beta: np.ndarray,
    cov: np.ndarray,
    diagnostics: dict[str, Any],
    index: int = 1,
) -> EstimateResult:
    """An EstimateResult for the coefficient at ``index`` (the treatment's column)."""
    se = float(math.sqrt(cov[index, index]))
    b = float(beta[index])
    names = ["const", r.treatment, *r.covariates]
    return EstimateResult(
        estimator=est.key,
        treatment=r.treatment,
        outcome=r.outcome,
        estimate=b,
        std_error=se,
        ci_low=b - est._z() * se,
        ci_high=b + est._z() * se,
        n=len(r.data),
        coefficients={n: float(v) for n, v in zip(names, beta, strict=False)},
        diagnostics=diagnostics,
    )


class WaldRatio(CausalEstimator):
    """β̂ = Cov(Z, Y)/Cov(Z, X) with one instrument (covariates partialled out first, by
    Frisch–Waugh–Lovell); the same number as 2SLS, and the same standard error."""

    key = "iv.wald"
    Config = IVConfig
    config: IVConfig

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
        r = self._roles(data, graph, treatment, outcome, instruments, covariates, True)
        if len(r.instruments) != 1:
            raise RoleError(
                f"the Wald ratio takes exactly one instrument, got "
                f"{len(r.instruments)}: {', '.join(r.instruments)}"
            )
        w = design(r.data, r.covariates)

        def partial(col: str) -> np.ndarray:
            v = r.data[col].to_numpy(float)
            return v - w @ lstsq(w, v)

        z, t, y = partial(r.instruments[0]), partial(r.treatment), partial(r.outcome)
        beta = float(z @ y) / float(z @ t)
        e = y - beta * t  # structural residual (covariates already partialled out)
        n, k = len(y), w.shape[1] + 1
        if self.config.cov_type == "robust":
            var = float(np.sum(z**2 * e**2)) / float(z @ t) ** 2
        else:
            var = float(e @ e) / n * float(z @ z) / float(z @ t) ** 2
        var *= n / (n - k) if self.config.debiased else 1.0
        se = math.sqrt(var)
        fs = first_stage(
            r.data,
            r.treatment,
            r.instruments,
            r.covariates,
            self.config.debiased,
            self.config.cov_type == "robust",
        )
        return EstimateResult(
            estimator=self.key,
            treatment=r.treatment,
            outcome=r.outcome,
            estimate=beta,
            std_error=se,
            ci_low=beta - self._z() * se,
            ci_high=beta + self._z() * se,
            n=n,
            diagnostics={
                **fs,
                "weak": fs["first_stage_f"] < self.config.weak_f_threshold,
                "instruments": r.instruments,
                "rows_dropped": r.dropped,
            },
        )


class ControlFunction(CausalEstimator):
    """Regress Y on X, W and the first-stage residual v̂ = X − X̂. Linear case: the coefficient
    on X equals 2SLS; the t-test on v̂'s coefficient is the Durbin–Wu–Hausman endogeneity test.
    The reported SE uses the structural residual (the naive OLS SE ignores that v̂ is estimated
    and is kept as ``naive_se``)."""

    key = "iv.control_function"
    Config = IVConfig
    config: IVConfig

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
        r = self._roles(data, graph, treatment, outcome, instruments, covariates, True)
        robust = self.config.cov_type == "robust"
        zm = design(r.data, [*r.instruments, *r.covariates])
        t = r.data[r.treatment].to_numpy(float)
        v = t - zm @ lstsq(zm, t)
        x = design(r.data, [r.treatment, *r.covariates])
        xv = np.column_stack([x, v])
        y = r.data[r.outcome].to_numpy(float)
        beta_v, cov_naive, _ = ols_fit(xv, y, True, robust)
        beta = beta_v[:-1]
        xhat = x.copy()
        xhat[:, 1] = t - v
        cov = sandwich(xhat, y - x @ beta, self.config.debiased, robust)
        t_v = float(beta_v[-1] / math.sqrt(cov_naive[-1, -1]))
        return _result(
            self,
            r,
            beta,
            cov,
            {
                "naive_se": float(math.sqrt(cov_naive[1, 1])),
                "residual_coef": float(beta_v[-1]),
                "endogeneity_t": t_v,
                "endogeneity_p": float(2 * stats.norm.sf(abs(t_v))),
                "instruments": r.instruments,
                "rows_dropped": r.dropped,
            },
        )


class SieveConfig(IVConfig):
    degree: int = Field(
        default=3, ge=1, le=8, description="polynomial degree of the sieve for f(x)"
    )
    instrument_degree: int = Field(default=5, ge=1, le=10, description="polynomial degree in z")


def _poly(v: np.ndarray, degree: int, center: float, scale: float) -> np.ndarray:
    s = (v - center) / scale
    return np.column_stack([s**k for k in range(1, degree + 1)])


def sieve_predict(result: EstimateResult, x: np.ndarray) -> np.ndarray:
    """Evaluate the fitted structural function f̂(x) (up to the constant, which is kept)."""
    d = result.diagnostics
    basis = _poly(np.asarray(x, float), int(d["degree"]), d["x_center"], d["x_scale"])
    coefs = np.array([result.coefficients[f"phi{k}"] for k in range(1, int(d["degree"]) + 1)])
    return result.coefficients["const"] + basis @ coefs


class Sieve2SLS(CausalEstimator):
    """Nonlinear IV for Y = f(X) + U: f in a polynomial basis φ_k(x), instruments ψ_j(z);
    2SLS with K endogenous regressors. ``estimate`` is the average derivative E[f̂'(X)]."""

    key = "iv.sieve_2sls"
    Config = SieveConfig
    config: SieveConfig

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
        r = self._roles(data, graph, treatment, outcome, instruments, covariates, True)
        if self.config.instrument_degree * len(r.instruments) < self.config.degree:
            raise RoleError(
                f"sieve 2SLS with degree {self.config.degree} needs at least as many "
                "instrument terms: raise instrument_degree"
            )
        x, y, psi, cx, sx = self._bases(r)
        fit = two_sls(
            y,
            np.column_stack([np.ones(len(y)), x]),
            psi,
            self.config.debiased,
            self.config.cov_type == "robust",
        )
        return self._sieve_result(r, fit.beta, cx, sx, fit.cov)

    def _bases(self, r: Roles) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
        t = r.data[r.treatment].to_numpy(float)
        cx, sx = float(t.mean()), float(t.std())
        x = _poly(t, self.config.degree, cx, sx)
        zs = [r.data[z].to_numpy(float) for z in r.instruments]
        psi = np.column_stack(
            [
                np.ones(len(t)),
                *(
                    _poly(z, self.config.instrument_degree, float(z.mean()), float(z.std()))
                    for z in zs
                ),
            ]
        )
        return x, r.data[r.outcome].to_numpy(float), psi, cx, sx

    def _sieve_result(
        self, r: Roles, beta: np.ndarray, cx: float, sx: float, cov: np.ndarray | None
    ) -> EstimateResult:
        k = self.config.degree
        t = (r.data[r.treatment].to_numpy(float) - cx) / sx
        # d/dx of Σ β_k s^k with s = (x − c)/σ: the average derivative over the sample.
        grads = np.column_stack(
            [np.zeros(len(t))] + [j * t ** (j - 1) / sx for j in range(1, k + 1)]
        )
        avg = grads.mean(axis=0)
        est = float(avg @ beta)
        se = float(math.sqrt(avg @ cov @ avg)) if cov is not None else math.nan
        coefs = {"const": float(beta[0]), **{f"phi{j}": float(beta[j]) for j in range(1, k + 1)}}
        return EstimateResult(
            estimator=self.key,
            treatment=r.treatment,
            outcome=r.outcome,
            estimate=est,
            std_error=se,
            ci_low=est - self._z() * se,
            ci_high=est + self._z() * se,
            n=len(t),
            coefficients=coefs,
            diagnostics={
                "degree": k,
                "x_center": cx,
                "x_scale": sx,
                "instruments": r.instruments,
                "rows_dropped": r.dropped,
            },
        )


class ForbiddenRegression(Sieve2SLS):
    """The inconsistent plug-in: fit X̂ = E[X | Z], then regress Y on φ(X̂). Shown next to
    sieve 2SLS to demonstrate that E[f(X) | Z] ≠ f(E[X | Z]). No valid standard error."""

    key = "iv.forbidden_regression"

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
        r = self._roles(data, graph, treatment, outcome, instruments, covariates, True)
        _, y, psi, cx, sx = self._bases(r)
        t = r.data[r.treatment].to_numpy(float)
        that = psi @ lstsq(psi, t)
        xf = np.column_stack([np.ones(len(y)), _poly(that, self.config.degree, cx, sx)])
        return self._sieve_result(r, lstsq(xf, y), cx, sx, None)
