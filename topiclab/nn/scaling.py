"""Chinchilla scaling-law fit L(N, D) = E + A/N^α + B/D^β, as Hoffmann et al. (Approach 3)
and Besiroglu et al. (2024) fit it.

    from topiclab.nn.scaling import fit_law, bootstrap, frontier, law
    fit = fit_law(n, d, loss)                   # ScalingFit(E, A, B, alpha, beta, r2)
    lo, hi = bootstrap(n, d, loss, reps=100)    # percentile intervals per parameter
    n_opt, d_opt = frontier(fit, compute=1e21)  # C ≈ 6ND

The recipe: Huber loss (δ = 1e-3) *summed* (Besiroglu's fix: a mean stopped L-BFGS early) on
log L, with log L = LSE(a − α log N, b − β log D, e), A = e^a, B = e^b, E = e^e; L-BFGS-B with
an analytic gradient from every point of a grid of starts, keeping the best.
"""

from __future__ import annotations

import itertools
from dataclasses import astuple, dataclass, replace

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

DELTA = 1e-3
GRID = {  # Hoffmann et al.'s grid of starts
    "a": np.arange(0.0, 26.0, 5.0),
    "b": np.arange(0.0, 26.0, 5.0),
    "e": np.arange(-1.0, 1.01, 0.5),
    "alpha": np.arange(0.0, 2.01, 0.5),
    "beta": np.arange(0.0, 2.01, 0.5),
}
NAMES = ("E", "A", "B", "alpha", "beta")


@dataclass(frozen=True)
class ScalingFit:
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    r2: float = float("nan")

    def params(self) -> np.ndarray:
        return np.array(astuple(self)[:5])


def law(n: np.ndarray, d: np.ndarray, f: ScalingFit) -> np.ndarray:
    return f.E + f.A / np.power(n, f.alpha) + f.B / np.power(d, f.beta)


def _objective(
    theta: np.ndarray, x: np.ndarray, y: np.ndarray, logl: np.ndarray
) -> tuple[float, np.ndarray]:
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * x, b - beta * y, np.full_like(x, e)])
    r = logsumexp(terms, axis=0) - logl
    small = np.abs(r) <= DELTA
    value = np.where(small, 0.5 * r**2, DELTA * (np.abs(r) - 0.5 * DELTA)).sum()
    dr = np.where(small, r, DELTA * np.sign(r))
    w = softmax(terms, axis=0) * dr
    grad = np.array([w[0].sum(), w[1].sum(), w[2].sum(), -(w[0] * x).sum(), -(w[1] * y).sum()])
    return float(value), grad


def _best(x: np.ndarray, y: np.ndarray, logl: np.ndarray, starts: list[np.ndarray]) -> np.ndarray:
    best, best_val = starts[0], np.inf
    for s in starts:
        res = minimize(_objective, s, args=(x, y, logl), jac=True, method="L-BFGS-B")
        if res.fun < best_val:
            best, best_val = res.x, res.fun
    return best


def _to_fit(theta: np.ndarray, n: np.ndarray, d: np.ndarray, loss: np.ndarray) -> ScalingFit:
    a, b, e, alpha, beta = theta
    f = ScalingFit(float(np.exp(e)), float(np.exp(a)), float(np.exp(b)), float(alpha), float(beta))
    resid = loss - law(n, d, f)
    r2 = 1 - float((resid**2).sum() / ((loss - loss.mean()) ** 2).sum())
    return replace(f, r2=r2)


def fit_law(
    n: np.ndarray, d: np.ndarray, loss: np.ndarray, grid: dict[str, np.ndarray] | None = None
) -> ScalingFit:
    g = grid or GRID
    starts = [np.array(s) for s in itertools.product(g["a"], g["b"], g["e"], g["alpha"], g["beta"])]
    n, d, loss = (np.asarray(v, dtype=np.float64) for v in (n, d, loss))
    theta = _best(np.log(n), np.log(d), np.log(loss), starts)
    return _to_fit(theta, n, d, loss)


def bootstrap(
    n: np.ndarray,
    d: np.ndarray,
    loss: np.ndarray,
    reps: int = 100,
    seed: int = 0,
    start: ScalingFit | None = None,
    level: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals for (E, A, B, α, β) over resampled points; each refit starts from
    the full fit (a bootstrap sample is close to the data, so one start suffices)."""
    n, d, loss = (np.asarray(v, dtype=np.float64) for v in (n, d, loss))
    f = start or fit_law(n, d, loss)
    theta0 = np.array([np.log(f.A), np.log(f.B), np.log(f.E), f.alpha, f.beta])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(reps):
        i = rng.integers(0, len(n), len(n))
        theta = _best(np.log(n[i]), np.log(d[i]), np.log(loss[i]), [theta0])
        draws.append(_to_fit(theta, n[i], d[i], loss[i]).params())
    q = (1 - level) / 2
    arr = np.array(draws)
    return np.quantile(arr, q, axis=0), np.quantile(arr, 1 - q, axis=0)


def frontier(f: ScalingFit, compute: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compute-optimal N and D under C = 6ND (Hoffmann et al., Approach 3)."""
    g = (f.alpha * f.A / (f.beta * f.B)) ** (1 / (f.alpha + f.beta))
    c6 = np.asarray(compute, dtype=np.float64) / 6
    n_opt = g * c6 ** (f.beta / (f.alpha + f.beta))
    return n_opt, c6 / n_opt


def fit_kaplan(x: np.ndarray, loss: np.ndarray) -> tuple[float, float]:
    """Kaplan et al.'s L(X) = (X_c / X)^α for X = N or D: (X_c, α) by least squares on
    log L = α log X_c − α log X (a straight line in log-log)."""
    slope, intercept = np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(loss, float)), 1)
    alpha = -float(slope)
    return float(np.exp(intercept / alpha)), alpha
