"""Data of the causal-iv topic: seeded simulators and the real Card (1995) data.

    from topiclab.plugins.causal_iv.data import rng_for, simulate_iv
    df = simulate_iv(rng_for(0, "reference"), n=20_000)   # columns Z, X, Y (U stays hidden)

Each draw gets its own generator from (seed, label, repetition), so a repetition is the same
whether it runs first or last, alone or in a loop. ``generate(ctx, cfg)`` is the generate stage:
every data set of the run, as parquet files in the stage's folder.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from topiclab.core.topic import StageContext, StageResult

if TYPE_CHECKING:
    from topiclab.plugins.causal_iv.config import CausalIVConfig

IV_GRAPH = "Z -> X; (U) -> X; (U) -> Y; X -> Y"
INVALID_GRAPH = "Z -> X; (U) -> X; (U) -> Y; X -> Y; Z -> Y"
CARD_COVARIATES = ["exper", "black", "south", "married", "smsa"]
ICP_COLUMNS = ["X1", "X2", "X3", "X4", "X5"]
ICP_PARENTS = {"X1", "X2"}
ICP_GRAPH = "X4 -> X1; X1 -> Y; X2 -> Y; Y -> X3"


def rng_for(seed: int, label: str, rep: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(label.encode()), rep])


def simulate_iv(
    rng: np.random.Generator,
    n: int,
    pi: float = 1.0,
    gamma: float = 1.0,
    beta: float = 2.0,
    delta: float = 1.8,
    direct: float = 0.0,
) -> pd.DataFrame:
    """Linear SEM with hidden U: X = πZ + γU + ε_x, Y = βX + δU + τZ + ε_y, all N(0, 1)."""
    z, u, ex, ey = rng.standard_normal((4, n))
    x = pi * z + gamma * u + ex
    return pd.DataFrame({"Z": z, "X": x, "Y": beta * x + delta * u + direct * z + ey})


def ols_plim(pi: float, gamma: float, beta: float, delta: float) -> float:
    """plim β̂_OLS = β + γδ·Var(U)/Var(X) with Var(X) = π² + γ² + 1."""
    return beta + gamma * delta / (pi**2 + gamma**2 + 1)


def structural_f(x: np.ndarray) -> np.ndarray:
    return np.sin(x) + x


def simulate_nonlinear(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Y = sin(X) + X + 1.5U with X = Z + U + 0.5ε: E[f(X) | Z] ≠ f(E[X | Z])."""
    z, u, ex, ey = rng.standard_normal((4, n))
    x = z + u + 0.5 * ex
    return pd.DataFrame({"Z": z, "X": x, "Y": structural_f(x) + 1.5 * u + 0.3 * ey})


def _icp_env(
    rng: np.random.Generator, n: int, shift: float, do_x3: tuple[float, float] | None = None
) -> pd.DataFrame:
    """X4 -> X1 -> Y <- X2, Y -> X3, X5 noise. ``shift`` moves the mean and spread of X1, X3
    and X4 (never Y); ``do_x3`` replaces X3 by N(mean, sd²), cutting Y -> X3."""
    e = rng.standard_normal((6, n))
    x4 = e[0] * (1 + shift) + shift
    x1 = 0.8 * x4 + e[1] * (1 + shift) + shift
    x2 = e[2]
    y = x1 - 0.7 * x2 + e[3]
    x3 = y + 0.5 * e[4] * (1 + shift) + shift  # a strong child: pooled OLS leans on it
    if do_x3 is not None:
        x3 = do_x3[0] + do_x3[1] * e[4]
    return pd.DataFrame({"X1": x1, "X2": x2, "X3": x3, "X4": x4, "X5": e[5], "Y": y})


def simulate_icp(
    rng: np.random.Generator, n_per_env: int, strength: float, test_shift: float, test_scale: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three training environments (observational, shift s, shift 2s) and a test environment
    with a new intervention do(X3) that no training environment had."""
    train = pd.concat(
        [_icp_env(rng, n_per_env, strength * k).assign(env=k) for k in range(3)], ignore_index=True
    )
    test = _icp_env(rng, n_per_env, 0.0, do_x3=(test_shift, test_scale))
    return train, test


def load_card() -> pd.DataFrame:
    """Card (1995) as shipped by ``causaldata`` (``close_college``: 3,010 rows, 7 missing)."""
    import causaldata

    return causaldata.close_college.load_pandas().data


def generate(ctx: StageContext, cfg: CausalIVConfig) -> StageResult:
    """The reference SEM, the nonlinear SEM, ICP's first draw and Card's data, as parquet."""
    s, icp = cfg.sem, cfg.icp
    ref = simulate_iv(rng_for(cfg.seed, "reference"), s.n, s.pi, s.gamma, s.beta, s.delta)
    nonlin = simulate_nonlinear(rng_for(cfg.seed, "nonlinear"), cfg.nonlinear.n)
    icp_train, icp_test = simulate_icp(
        rng_for(cfg.seed, "icp", 0), icp.n_per_env, icp.strength, icp.test_shift, icp.test_scale
    )
    files = {}
    for name, frame in [
        ("reference", ref),
        ("nonlinear", nonlin),
        ("icp_train", icp_train),
        ("icp_test", icp_test),
        ("card", load_card()),
    ]:
        path = ctx.path(f"{name}.parquet")
        frame.to_parquet(path)
        files[name] = str(path)
    return StageResult(
        files=files,
        params={"reference_rows": s.n},
        metrics={"card_rows": float(len(pd.read_parquet(files["card"])))},
    )
