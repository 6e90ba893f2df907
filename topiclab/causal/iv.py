"""Instrumental-variable estimators: 2SLS (closed form, DoWhy-identified), Wald, control
function, sieve 2SLS and the "forbidden regression".

    from topiclab.causal.iv import TwoStageLeastSquares
    res = TwoStageLeastSquares({"cov_type": "cluster", "cluster": "region"}).fit(
        df, None, treatment="educ", outcome="lwage", instruments="nearc4",
        covariates=["exper", "black", "south", "married", "smsa"])
    res.estimate, res.diagnostics["first_stage_f"], res.diagnostics["weak"]
    print(res.summary())   # structural terms, then the first-stage table

Standard errors use the residuals of the *structural* equation (Y − Xβ̂ with the original X,
not X̂): the second-stage OLS residuals would give wrong ones. With ``debiased=False`` (the
default here) σ̂² is divided by n and inference is normal, as in ``linearmodels.IV2SLS``; every
covariance type equals linearmodels' (HC2/HC3 are OLS-only and refused).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from topiclab.causal import dowhy_api
from topiclab.causal.base import CausalEstimator, Roles
from topiclab.causal.covariance import coef_cov
from topiclab.causal.linalg import checked_design, design, lstsq, solve_normal, wald_f
from topiclab.causal.regression import CovConfig, fit_linear, inference_df
from topiclab.causal.results import EstimateResult, Term, term_table
from topiclab.causal.validation import DegenerateDesignError, RoleError

IV_ASSUMPTIONS = [
    "relevance: the instruments move the treatment (first-stage F well above 10)",
    "exclusion: the instruments reach the outcome only through the treatment",
    "independence: the instruments share no cause with the outcome (given the covariates)",
    "constant (or LATE-interpretable) effect, linear in the treatment",
]


class IVConfig(CovConfig):
    debiased: bool = Field(
        default=False, description="divide σ̂² by n − k instead of n, Student-t inference"
    )
    weak_f_threshold: float = Field(
        default=10.0, description="first-stage F below this flags 'weak'"
    )

    @model_validator(mode="after")
    def _no_leverage_types(self) -> IVConfig:
        if self.cov_type in ("HC2", "HC3"):
            raise ValueError("HC2/HC3 are defined for OLS only; use HC0/HC1, cluster or HAC")
        return self


class TwoSLSConfig(IVConfig):
    use_dowhy: bool = Field(
        default=True,
        description="identify with DoWhy (once per graph and roles, cached) and cross-check "
        "its iv.instrumental_variable estimate (one instrument, no covariates)",
    )


@dataclass
class TwoSLSFit:
    """The matrix 2SLS fit: β̂ = (X̂'X̂)⁻¹X̂'y, with X̂ = P_Z X."""

    names: list[str]
    beta: np.ndarray
    cov: np.ndarray
    resid: np.ndarray
    xhat: np.ndarray
    df: float | None
    zm: np.ndarray  # the checked instrument design, reused by the first stage
    znames: list[str]


class _IVBase(CausalEstimator):
    needs = "iv"
    Config = IVConfig
    config: IVConfig

    def _designs(self, r: Roles) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
        """Structural design X (const, T, W) and instrument design Z (const, Z, W), checked."""
        for z in r.instruments:
            if np.ptp(r.data[z].to_numpy(float)) == 0:
                raise DegenerateDesignError(
                    f"instrument '{z}' is constant: the first stage has no variation to "
                    f"identify the effect of '{r.treatment}'"
                )
        zm, znames = checked_design(
            r.data,
            [*r.instruments, *r.covariates],
            what="first-stage (instruments and covariates)",
            drop_collinear=self.config.drop_collinear,
            protect=r.instruments,
        )
        covs = [c for c in r.covariates if c in znames]
        x, xnames = checked_design(
            r.data, [r.treatment, *covs], what="structural equation", protect=[r.treatment]
        )
        if zm.shape[1] < x.shape[1]:
            raise RoleError("2SLS needs at least as many instruments as treatments")
        return x, xnames, zm, znames

    def _two_sls(self, r: Roles) -> TwoSLSFit:
        x, xnames, zm, znames = self._designs(r)
        y = r.data[r.outcome].to_numpy(float)
        xhat = zm @ solve_normal(zm, x)
        beta = solve_normal(xhat, y)
        resid = y - x @ beta
        cov = coef_cov(xhat, resid, self.config.spec(), r.groups)
        df = inference_df(self.config, x.shape[0], x.shape[1], r.groups, cluster_df=False)
        return TwoSLSFit(xnames, beta, cov, resid, xhat, df, zm, znames)

    def _first_stage(
        self, r: Roles, zm: np.ndarray, znames: list[str]
    ) -> tuple[list[Term], dict[str, float]]:
        """Regress the treatment on instruments and covariates; F for excluding the
        instruments (Wald/q with the fit's covariance type), partial R²."""
        t = r.data[r.treatment].to_numpy(float)
        fit = fit_linear(zm, t, znames, self.config, r.groups, cluster_df=False)
        idx = [znames.index(z) for z in r.instruments]
        f = wald_f(fit.beta, fit.cov, idx)
        w = zm[:, [0, *range(1 + len(r.instruments), zm.shape[1])]]  # const and covariates
        r_w = t - w @ solve_normal(w, t)
        partial_r2 = 1.0 - float(fit.resid @ fit.resid) / float(r_w @ r_w)
        out = {"first_stage_f": f, "first_stage_partial_r2": partial_r2}
        for i, name in zip(idx, r.instruments, strict=True):
            out[f"first_stage_coef[{name}]"] = float(fit.beta[i])
            out[f"first_stage_se[{name}]"] = float(fit.se[i])
        return term_table(znames, fit.beta, fit.se, self._level(), fit.df), out

    def _iv_result(
        self, r: Roles, fit: TwoSLSFit, estimate: float, extra: dict[str, Any]
    ) -> EstimateResult:
        fs_terms, fs = self._first_stage(r, fit.zm, fit.znames)
        i = fit.names.index(r.treatment)
        return self._build(
            r,
            estimate,
            math.sqrt(fit.cov[i, i]),
            df=fit.df,
            terms=term_table(fit.names, fit.beta, np.sqrt(np.diag(fit.cov)), self._level(), fit.df),
            first_stage=fs_terms,
            estimand=f"β[{r.treatment}] in Y = β·T + γ'W + ε, instrumented by {r.instruments}",
            assumptions=IV_ASSUMPTIONS,
            cov_type=self.config.spec().name,
            diagnostics={
                **fs,
                "weak": fs["first_stage_f"] < self.config.weak_f_threshold,
                "instruments": r.instruments,
                "cov_type": self.config.cov_type,
                **extra,
            },
        )


class TwoStageLeastSquares(_IVBase):
    """2SLS/IV: DoWhy identifies the estimand (cached) and estimates it where it can; the point
    estimate, standard errors and first-stage diagnostics are computed in closed form."""

    key = "iv.2sls"
    Config = TwoSLSConfig
    config: TwoSLSConfig

    def _estimate(self, r: Roles) -> EstimateResult:
        fit = self._two_sls(r)
        i = fit.names.index(r.treatment)
        return self._iv_result(r, fit, float(fit.beta[i]), self._dowhy(r))

    def _dowhy(self, r: Roles) -> dict[str, Any]:
        """Identify with DoWhy (cached); estimate with ``iv.instrumental_variable`` where
        DoWhy's estimator is exact (one instrument, no covariates: it ignores covariates)."""
        if not self.config.use_dowhy:
            return {}
        graph = r.graph or dowhy_api.iv_graph(r.treatment, r.outcome, r.instruments, r.covariates)
        estimand = dowhy_api.identified(graph, r.treatment, r.outcome)
        out: dict[str, Any] = {"dowhy_instruments": list(estimand.instrumental_variables)}
        if len(r.instruments) == 1 and not r.covariates:
            model = dowhy_api.causal_model(r.data, graph, r.treatment, r.outcome)
            est = dowhy_api.estimate(
                model, estimand, "iv.instrumental_variable", iv_instrument_name=r.instruments[0]
            )
            # None when the graph admits no instrument (e.g. Z -> Y): the user forced one.
            if est.value is not None:
                out["dowhy_estimate"] = float(est.value)
                out["identifier_method"] = est.target_estimand.identifier_method
        if r.graph is not None:
            out["instruments_valid_in_graph"] = not r.problems
        return out


class WaldRatio(_IVBase):
    """β̂ = Cov(Z, Y)/Cov(Z, X) with one instrument (covariates partialled out first, by
    Frisch–Waugh–Lovell); the same number as 2SLS, and the same standard error."""

    key = "iv.wald"

    def _estimate(self, r: Roles) -> EstimateResult:
        if len(r.instruments) != 1:
            raise RoleError(
                f"the Wald ratio takes exactly one instrument, got "
                f"{len(r.instruments)}: {', '.join(r.instruments)}"
            )
        fit = self._two_sls(r)
        w = design(r.data, fit.names[2:])

        def partial(col: str) -> np.ndarray:
            v = r.data[col].to_numpy(float)
            return v - w @ solve_normal(w, v)

        z, t, y = partial(r.instruments[0]), partial(r.treatment), partial(r.outcome)
        return self._iv_result(r, fit, float(z @ y) / float(z @ t), {})


class ControlFunction(_IVBase):
    """Regress Y on X, W and the first-stage residual v̂ = X − X̂. Linear case: the coefficient
    on X equals 2SLS; the t-test on v̂'s coefficient is the Durbin–Wu–Hausman endogeneity test.
    The reported SE uses the structural residual (the naive OLS SE ignores that v̂ is estimated
    and is kept as ``naive_se``)."""

    key = "iv.control_function"

    def _estimate(self, r: Roles) -> EstimateResult:
        from scipy import stats

        fit = self._two_sls(r)
        x = design(r.data, fit.names[1:])
        v = x[:, 1] - fit.xhat[:, 1]
        xv = np.column_stack([x, v])
        y = r.data[r.outcome].to_numpy(float)
        beta_v = solve_normal(xv, y)
        naive = fit_linear(
            xv,
            y,
            [*fit.names, "v_hat"],
            self.config.model_copy(update={"debiased": True}),  # OLS SEs: σ̂² over n − k
            r.groups,
        )
        t_v = float(beta_v[-1] / naive.se[-1])
        return self._iv_result(
            r,
            fit,
            float(beta_v[1]),
            {
                "naive_se": float(naive.se[1]),
                "residual_coef": float(beta_v[-1]),
                "endogeneity_t": t_v,
                "endogeneity_p": float(2 * stats.norm.sf(abs(t_v))),
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


class Sieve2SLS(_IVBase):
    """Nonlinear IV for Y = f(X) + U: f in a polynomial basis φ_k(x), instruments ψ_j(z);
    2SLS with K endogenous regressors. ``estimate`` is the average derivative E[f̂'(X)]."""

    key = "iv.sieve_2sls"
    Config = SieveConfig
    config: SieveConfig

    def _estimate(self, r: Roles) -> EstimateResult:
        if self.config.instrument_degree * len(r.instruments) < self.config.degree:
            raise RoleError(
                f"sieve 2SLS with degree {self.config.degree} needs at least as many "
                "instrument terms: raise instrument_degree"
            )
        x, y, psi, cx, sx = self._bases(r)
        xc = np.column_stack([np.ones(len(y)), x])
        xhat = psi @ lstsq(psi, xc)
        beta = lstsq(xhat, y)
        cov = coef_cov(xhat, y - xc @ beta, self.config.spec(), r.groups)
        return self._sieve_result(r, beta, cx, sx, cov)

    def _bases(self, r: Roles) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
        t = r.data[r.treatment].to_numpy(float)
        cx, sx = float(t.mean()), float(t.std())
        if sx == 0:
            raise DegenerateDesignError(f"treatment '{r.treatment}' is constant")
        levels, k = len(np.unique(t)), self.config.degree
        if levels <= k:  # its powers up to k are then collinear: no curve of degree k
            raise DegenerateDesignError(
                f"treatment '{r.treatment}' takes {levels} distinct values: a sieve of degree "
                f"{k} needs at least {k + 1}; lower degree to {levels - 1}"
            )
        x = _poly(t, k, cx, sx)
        zs = [r.data[z].to_numpy(float) for z in r.instruments]
        for name, z in zip(r.instruments, zs, strict=True):
            if np.ptp(z) == 0:
                raise DegenerateDesignError(f"instrument '{name}' is constant: no first stage")
        psi = np.column_stack(
            [
                np.ones(len(t)),
                *(
                    _poly(z, self.config.instrument_degree, float(z.mean()), float(z.std()))
                    for z in zs
                ),
            ]
        )
        if len(t) <= psi.shape[1]:
            raise DegenerateDesignError(
                f"the sieve first stage has {psi.shape[1]} parameters but only {len(t)} rows"
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
        res = self._build(
            r,
            est,
            se,
            estimand="E[f'(X)] for Y = f(X) + U, f in a polynomial sieve",
            diagnostics={
                "degree": k,
                "x_center": cx,
                "x_scale": sx,
                "instruments": r.instruments,
            },
        )
        res.coefficients = {
            "const": float(beta[0]),
            **{f"phi{j}": float(beta[j]) for j in range(1, k + 1)},
        }
        return res


class ForbiddenRegression(Sieve2SLS):
    """The inconsistent plug-in: fit X̂ = E[X | Z], then regress Y on φ(X̂). Shown next to
    sieve 2SLS to demonstrate that E[f(X) | Z] ≠ f(E[X | Z]). No valid standard error."""

    key = "iv.forbidden_regression"

    def _estimate(self, r: Roles) -> EstimateResult:
        _, y, psi, cx, sx = self._bases(r)
        t = r.data[r.treatment].to_numpy(float)
        that = psi @ lstsq(psi, t)
        xf = np.column_stack([np.ones(len(y)), _poly(that, self.config.degree, cx, sx)])
        return self._sieve_result(r, lstsq(xf, y), cx, sx, None)
