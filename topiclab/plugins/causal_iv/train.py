"""The train stage of causal-iv: every estimator fitted by registry key, and the loops.

    from topiclab.plugins.causal_iv.train import train
    result = train(ctx, cfg, data)        # files: fits (JSON), Monte-Carlo and ICP tables (CSV)

Reference fits on the SEM and on Card's data; Monte-Carlo repetitions of the SEM (coverage,
weak and invalid instruments); sieve vs forbidden regression on the nonlinear SEM; ICP
repetitions with a new test-time intervention. Each repetition draws from its own generator
(``data.rng_for``), so a repetition is the same whatever ran before it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from topiclab.core.topic import StageContext, StageResult
from topiclab.plugins.causal_iv import data as d
from topiclab.plugins.causal_iv.config import CausalIVConfig

ROLES = ("iv", "wald", "control_function", "ols")  # the estimators fitted on the reference data
Children = dict[str, dict[str, float]]


def train(ctx: StageContext, cfg: CausalIVConfig, data: StageResult) -> StageResult:
    files: dict[str, str] = {}
    children: Children = {}
    files["reference_fits"] = _save_json(
        ctx, "reference_fits.json", _reference(ctx, cfg, data, children)
    )
    files["card_fits"] = _save_json(ctx, "card_fits.json", _card(ctx, cfg, data, children))
    s, weak, invalid = cfg.sem, cfg.weak, cfg.invalid
    files["coverage"] = monte_carlo(
        ctx, cfg, "coverage", cfg.coverage.reps, cfg.coverage.n, s.pi, 0.0
    )
    files["weak"] = monte_carlo(
        ctx, cfg, "weak", weak.reps, weak.n, weak.pi, 0.0, weak.gamma, weak.delta
    )
    files["invalid"] = monte_carlo(
        ctx, cfg, "invalid", invalid.reps, invalid.n, s.pi, invalid.direct_effect
    )
    files.update(_nonlinear(ctx, cfg, data, children))
    files.update(_icp(ctx, cfg, data, children))
    return StageResult(files=files, children=children)


def estimator(ctx: StageContext, cfg: CausalIVConfig, key: str, **options: Any) -> Any:
    """The estimator ``key`` with ``options``, then the options the config gives for that key."""
    return ctx.registry.estimator(key).create({**options, **cfg.estimators.options.get(key, {})})


def _save_json(ctx: StageContext, name: str, obj: Any) -> str:
    path = ctx.path(name)
    path.write_text(json.dumps(obj, indent=1, default=float))
    return str(path)


def _reference(
    ctx: StageContext, cfg: CausalIVConfig, data: StageResult, children: Children
) -> dict[str, Any]:
    ref = pd.read_parquet(data.files["reference"])
    fits = {}
    for role in ROLES:
        key = getattr(cfg.estimators, role)
        # OLS under the hidden confounder is invalid on purpose: it shows the bias IV removes.
        res = estimator(ctx, cfg, key, allow_invalid=role == "ols").fit(
            ref, d.IV_GRAPH, treatment="X", outcome="Y"
        )
        fits[role] = res.model_dump(mode="json")
        children[key] = dict(res.summary())
    return fits


def _card(
    ctx: StageContext, cfg: CausalIVConfig, data: StageResult, children: Children
) -> dict[str, Any]:
    card = pd.read_parquet(data.files["card"])
    out = {}
    roles = {"treatment": "educ", "outcome": "lwage", "covariates": d.CARD_COVARIATES}
    for role in ROLES:
        key = getattr(cfg.estimators, role)
        ivs = None if role == "ols" else ["nearc4"]
        res = estimator(ctx, cfg, key).fit(card, None, instruments=ivs, **roles)
        out[role] = res.model_dump(mode="json")
        children[f"card/{key}"] = res.summary()
    return out


def monte_carlo(
    ctx: StageContext,
    cfg: CausalIVConfig,
    label: str,
    reps: int,
    n: int,
    pi: float,
    direct: float,
    gamma: float | None = None,
    delta: float | None = None,
) -> str:
    """Repeat: draw the SEM, fit 2SLS and OLS, keep estimates, SEs, CIs and the F."""
    s = cfg.sem
    # Deliberately invalid fits, to show their bias: OLS under the hidden confounder, and 2SLS
    # with an instrument the graph says violates exclusion. The library refuses both by default.
    iv = estimator(ctx, cfg, cfg.estimators.iv, allow_invalid=bool(direct))
    ols = estimator(ctx, cfg, cfg.estimators.ols, allow_invalid=True)
    graph = d.INVALID_GRAPH if direct else d.IV_GRAPH
    g = s.gamma if gamma is None else gamma
    dl = s.delta if delta is None else delta
    rows = []
    with ctx.progress(label, total=reps) as progress:
        for rep in range(reps):
            df = d.simulate_iv(d.rng_for(cfg.seed, label, rep), n, pi, g, s.beta, dl, direct)
            # The invalid graph has no instrument for X: name Z explicitly, as a user who
            # wrongly believes in exclusion would.
            a = iv.fit(df, graph, treatment="X", outcome="Y", instruments=["Z"])
            b = ols.fit(df, graph, treatment="X", outcome="Y")
            rows.append(
                {
                    "rep": rep,
                    "tsls": a.estimate,
                    "tsls_se": a.std_error,
                    "tsls_lo": a.ci_low,
                    "tsls_hi": a.ci_high,
                    "tsls_covers": a.covers(s.beta),
                    "first_stage_f": a.diagnostics["first_stage_f"],
                    "ols": b.estimate,
                    "ols_lo": b.ci_low,
                    "ols_hi": b.ci_high,
                    "ols_covers": b.covers(s.beta),
                }
            )
            # One series per scenario: under one key MLflow would draw them as one curve.
            progress(rep, **{f"{label}/tsls": a.estimate, f"{label}/ols": b.estimate})
    path = ctx.path(f"{label}.csv")
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _nonlinear(
    ctx: StageContext, cfg: CausalIVConfig, data: StageResult, children: Children
) -> dict[str, str]:
    from topiclab.causal.iv import sieve_predict

    df = pd.read_parquet(data.files["nonlinear"])
    opts = {"degree": cfg.nonlinear.degree, "instrument_degree": cfg.nonlinear.instrument_degree}
    lo, hi = np.quantile(df["X"], [0.1, 0.9])
    grid = np.linspace(lo, hi, 81)
    truth = d.structural_f(grid)
    curve = {"x": grid, "truth": truth - truth.mean()}
    for role in ("sieve", "forbidden"):
        key = getattr(cfg.estimators, role)
        res = estimator(ctx, cfg, key, **opts).fit(
            df, None, treatment="X", outcome="Y", instruments=["Z"]
        )
        f = sieve_predict(res, grid)
        curve[role] = f - f.mean()  # the constant of f is not identified apart from E[U]
        children[key] = {
            "avg_derivative": res.estimate,
            "mse": float(np.mean((curve[role] - curve["truth"]) ** 2)),
        }
    path = ctx.path("nonlinear_curve.csv")
    pd.DataFrame(curve).to_csv(path, index=False)
    return {"nonlinear_curve": str(path)}


def _icp(
    ctx: StageContext, cfg: CausalIVConfig, data: StageResult, children: Children
) -> dict[str, str]:
    """ICP repetitions: is Ŝ ⊆ {X1, X2}? And under a new do(X3), how do the model on Ŝ
    and pooled regression on every covariate predict Y?"""
    icp = estimator(ctx, cfg, cfg.estimators.icp)
    rows, first = [], None
    with ctx.progress("icp", total=cfg.icp.reps) as progress:
        for rep in range(cfg.icp.reps):
            train_env, test_env = _icp_draw(cfg, data, rep)
            res = icp.fit(train_env, None, outcome="Y", covariates=d.ICP_COLUMNS)
            first = first or res
            parents = res.parents or []
            rows.append(
                {
                    "rep": rep,
                    "parents": "{" + ", ".join(parents) + "}",
                    "none_accepted": res.parents is None,
                    "subset_of_true": set(parents) <= d.ICP_PARENTS,
                    "exact": set(parents) == d.ICP_PARENTS,
                    "mse_causal": shifted_mse(train_env, test_env, parents),
                    "mse_pooled": shifted_mse(train_env, test_env, d.ICP_COLUMNS),
                }
            )
            progress(rep)
    reps = pd.DataFrame(rows)
    path = ctx.path("icp_reps.csv")
    reps.to_csv(path, index=False)
    assert first is not None  # reps >= 2 (config bound)
    children[cfg.estimators.icp] = {
        "p_subset_of_true": float(reps["subset_of_true"].mean()),
        "mse_causal": float(reps["mse_causal"].mean()),
        "mse_pooled": float(reps["mse_pooled"].mean()),
    }
    return {
        "icp_reps": str(path),
        "icp_first": _save_json(ctx, "icp_first.json", first.model_dump(mode="json")),
    }


def _icp_draw(
    cfg: CausalIVConfig, data: StageResult, rep: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Repetition 0 is the draw the generate stage saved; the others are drawn here."""
    if rep == 0:
        return pd.read_parquet(data.files["icp_train"]), pd.read_parquet(data.files["icp_test"])
    c = cfg.icp
    return d.simulate_icp(
        d.rng_for(cfg.seed, "icp", rep), c.n_per_env, c.strength, c.test_shift, c.test_scale
    )


def shifted_mse(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> float:
    """Fit Y on ``columns`` (pooled training environments); MSE in the test environment."""
    x = np.column_stack([np.ones(len(train)), *(train[c] for c in columns)])
    beta = np.linalg.lstsq(x, train["Y"].to_numpy(), rcond=None)[0]
    xt = np.column_stack([np.ones(len(test)), *(test[c] for c in columns)])
    return float(np.mean((test["Y"].to_numpy() - xt @ beta) ** 2))
