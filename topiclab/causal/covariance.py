"""Covariance of least-squares coefficients: one sandwich, several meats, honest names.

    cov = coef_cov(x, resid, CovSpec("HC3"))               # OLS
    cov = coef_cov(xhat, structural_resid, CovSpec("cluster", debiased=False), groups=g)  # 2SLS

=============  ===========================================  ================================
name           meat / scale                                  equals
=============  ===========================================  ================================
unadjusted     σ̂²·X'X, σ̂² = e'e/(n−k) if debiased else /n     statsmodels nonrobust;
                                                             linearmodels unadjusted
HC0            Σ e²·xx'                                      White (1980); linearmodels robust
HC1            HC0 · n/(n−k)                                 MacKinnon & White (1985)
HC2            Σ e²/(1−h)·xx'                                MacKinnon & White (1985)
HC3            Σ e²/(1−h)²·xx'                               MacKinnon & White (1985)
cluster        Σ_g (X_g'e_g)(X_g'e_g)'; if debiased             Liang & Zeger (1986); statsmodels
               ·G/(G−1)·(n−1)/(n−k)                           cluster / linearmodels clustered
HAC            Γ0 + Σ_l (1 − l/(L+1))(Γ_l + Γ_l');            Newey & West (1987), Bartlett
               if debiased · n/(n−k)                          kernel; rows are in time order
=============  ===========================================  ================================

``robust`` is kept as an alias: HC1 when ``debiased`` (the OLS default, statsmodels' "robust"
in Stata's sense) and HC0 otherwise (the IV default, linearmodels' "robust"). Earlier docs
called it HC0 for OLS too, which it was not. HC2/HC3 need the hat matrix of an OLS fit; for
2SLS they are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

CovType = Literal["unadjusted", "robust", "HC0", "HC1", "HC2", "HC3", "cluster", "HAC"]


@dataclass(frozen=True)
class CovSpec:
    """What to compute; ``name`` is what it really is once the ``robust`` alias is resolved."""

    kind: CovType
    debiased: bool = True
    lags: int | None = None  # HAC bandwidth L; None: floor(4 (n/100)^(2/9)) (Newey–West 1994)

    @property
    def name(self) -> str:
        if self.kind == "robust":
            return "HC1" if self.debiased else "HC0"
        return self.kind


def hac_lags(n: int) -> int:
    return math.floor(4 * (n / 100) ** (2 / 9))


def coef_cov(
    x: np.ndarray,
    resid: np.ndarray,
    spec: CovSpec,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """The covariance of β̂ for regressors ``x`` (X̂ for 2SLS) and residuals ``resid``."""
    n, k = x.shape
    bread = np.linalg.inv(x.T @ x)
    kind = spec.name
    if kind == "unadjusted":
        sigma2 = float(resid @ resid) / (n - k if spec.debiased else n)
        return sigma2 * bread
    meat, scale = _meat(x, resid, bread, kind, spec, groups)
    return scale * bread @ meat @ bread


def _meat(
    x: np.ndarray,
    resid: np.ndarray,
    bread: np.ndarray,
    kind: str,
    spec: CovSpec,
    groups: np.ndarray | None,
) -> tuple[np.ndarray, float]:
    n, k = x.shape
    if kind in ("HC0", "HC1", "HC2", "HC3"):
        e2 = resid**2
        if kind in ("HC2", "HC3"):
            h = np.einsum("ij,jk,ik->i", x, bread, x)  # leverage: diagonal of the hat matrix
            e2 = e2 / (1 - h) ** (1 if kind == "HC2" else 2)
        return (x * e2[:, None]).T @ x, n / (n - k) if kind == "HC1" else 1.0
    if kind == "cluster":
        assert groups is not None, "cluster covariance needs groups"
        codes, g = _codes(groups)
        scores = np.zeros((g, k))
        np.add.at(scores, codes, x * resid[:, None])
        scale = g / (g - 1) * (n - 1) / (n - k) if spec.debiased else 1.0
        return scores.T @ scores, scale
    if kind == "HAC":
        lags = spec.lags if spec.lags is not None else hac_lags(n)
        s = x * resid[:, None]
        meat = s.T @ s
        for lag in range(1, lags + 1):
            gamma = s[lag:].T @ s[:-lag]
            meat += (1 - lag / (lags + 1)) * (gamma + gamma.T)
        return meat, n / (n - k) if spec.debiased else 1.0
    raise ValueError(f"unknown covariance type '{kind}'")


def _codes(groups: np.ndarray) -> tuple[np.ndarray, int]:
    import pandas as pd

    codes, uniques = pd.factorize(groups)
    return codes, len(uniques)


def n_groups(groups: np.ndarray | None) -> int | None:
    return None if groups is None else _codes(groups)[1]
