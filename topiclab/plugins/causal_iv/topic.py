"""Topic ``causal-iv``: two-stage least squares and invariant causal prediction.

    topiclab run causal-iv                     # standard profile: 2 CPU cores, < 5 minutes
    python -c "from topiclab.core.stages import run_direct as r; r('causal-iv', 'quick')"

generate: reference SEM, nonlinear SEM, one ICP draw, Card (1995) data -> parquet.
train:    fit every estimator (by registry key) on them, plus the Monte-Carlo loops (coverage,
          weak and invalid instruments, ICP repetitions with a new test-time intervention).
evaluate: claims, DoWhy refutations, graph drawings, figures and tables. report: the platform's.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from topiclab.core.topic import StageContext, StageResult, Topic
from topiclab.plugins.causal_iv import data as d
from topiclab.plugins.causal_iv.config import PROFILES, CausalIVConfig


def _cfg(ctx: StageContext) -> CausalIVConfig:
    assert isinstance(ctx.config, CausalIVConfig)
    return ctx.config


def _estimator(ctx: StageContext, key: str) -> Any:
    """Build an estimator by registry key with the options the config gives for that key."""
    spec = ctx.registry.estimator(key)
    return spec.build(_cfg(ctx).estimators.options.get(key, {}))


def _save_json(ctx: StageContext, name: str, obj: Any) -> str:
    path = ctx.path(name)
    path.write_text(json.dumps(obj, indent=1, default=float))
    return str(path)


class CausalIVTopic(Topic):
    key = "causal-iv"
    title = "Causal Inference 102: instrumental variables (2SLS) and invariant causal prediction"
    summary = (
        "A hidden confounder biases OLS; an instrument recovers the effect (2SLS, Wald ratio, "
        "control function), with valid intervals unless the instrument is weak or invalid. "
        "Sieve 2SLS handles a nonlinear outcome where the 'forbidden regression' fails. "
        "ICP finds the causal parents from environments and predicts well under a new "
        "intervention. Real data: Card (1995), college proximity as the instrument."
    )
    Config = CausalIVConfig
    profiles = PROFILES

    # --- generate --------------------------------------------------------------------------

    def generate(self, ctx: StageContext) -> StageResult:
        cfg = _cfg(ctx)
        s = cfg.sem
        files = {}
        ref = d.simulate_iv(d.rng_for(cfg.seed, "reference"), s.n, s.pi, s.gamma, s.beta, s.delta)
        nonlin = d.simulate_nonlinear(d.rng_for(cfg.seed, "nonlinear"), cfg.nonlinear.n)
        icp_train, icp_test = d.simulate_icp(
            d.rng_for(cfg.seed, "icp", 0),
            cfg.icp.n_per_env,
            cfg.icp.strength,
            cfg.icp.test_shift,
            cfg.icp.test_scale,
        )
        for name, frame in [
            ("reference", ref),
            ("nonlinear", nonlin),
            ("icp_train", icp_train),
            ("icp_test", icp_test),
            ("card", d.load_card()),
        ]:
            path = ctx.path(f"{name}.parquet")
            frame.to_parquet(path)
            files[name] = str(path)
        return StageResult(
            files=files,
            params={"reference_rows": s.n},
            metrics={"card_rows": float(len(pd.read_parquet(files["card"])))},
        )

    # --- train -----------------------------------------------------------------------------

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        cfg = _cfg(ctx)
        files: dict[str, str] = {}
        children: dict[str, dict[str, float]] = {}
        ref = pd.read_parquet(data.files["reference"])
        fits = {}
        for role in ("iv", "wald", "control_function", "ols"):
            key = getattr(cfg.estimators, role)
            res = _estimator(ctx, key).fit(ref, d.IV_GRAPH, treatment="X", outcome="Y")
            fits[role] = res.model_dump(mode="json")
            children[key] = {k: v for k, v in res.summary().items()}
        files["reference_fits"] = _save_json(ctx, "reference_fits.json", fits)
        files["card_fits"] = _save_json(ctx, "card_fits.json", self._card(ctx, data, children))
        files["coverage"] = self._monte_carlo(
            ctx, "coverage", cfg.coverage.reps, cfg.coverage.n, cfg.sem.pi, 0.0
        )
        files["weak"] = self._monte_carlo(
            ctx, "weak", cfg.weak.reps, cfg.weak.n, cfg.weak.pi, 0.0, cfg.weak.gamma, cfg.weak.delta
        )
        files["invalid"] = self._monte_carlo(
            ctx, "invalid", cfg.invalid.reps, cfg.invalid.n, cfg.sem.pi, cfg.invalid.direct_effect
        )
        files.update(self._nonlinear(ctx, data, children))
        files.update(self._icp(ctx, data, children))
        return StageResult(files=files, children=children)

    def _card(
        self, ctx: StageContext, data: StageResult, children: dict[str, dict[str, float]]
    ) -> dict[str, Any]:
        cfg = _cfg(ctx)
        card = pd.read_parquet(data.files["card"])
        out = {}
        roles = {"treatment": "educ", "outcome": "lwage", "covariates": d.CARD_COVARIATES}
        for role in ("iv", "wald", "control_function", "ols"):
            key = getattr(cfg.estimators, role)
            ivs = None if role == "ols" else ["nearc4"]
            res = _estimator(ctx, key).fit(card, None, instruments=ivs, **roles)
            out[role] = res.model_dump(mode="json")
            children[f"card/{key}"] = res.summary()
        return out

    def _monte_carlo(
        self,
        ctx: StageContext,
        label: str,
        reps: int,
        n: int,
        pi: float,
        direct: float,
        gamma: float | None = None,
        delta: float | None = None,
    ) -> str:
        """Repeat: draw the SEM, fit 2SLS and OLS, keep estimates, SEs, CIs and the F."""
        cfg = _cfg(ctx)
        s = cfg.sem
        iv, ols = _estimator(ctx, cfg.estimators.iv), _estimator(ctx, cfg.estimators.ols)
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
                progress(rep, tsls=a.estimate)
        path = ctx.path(f"{label}.csv")
        pd.DataFrame(rows).to_csv(path, index=False)
        return str(path)

    def _nonlinear(
        self, ctx: StageContext, data: StageResult, children: dict[str, dict[str, float]]
    ) -> dict[str, str]:
        from topiclab.causal.iv import sieve_predict

        cfg = _cfg(ctx)
        df = pd.read_parquet(data.files["nonlinear"])
        opts = {
            "degree": cfg.nonlinear.degree,
            "instrument_degree": cfg.nonlinear.instrument_degree,
        }
        lo, hi = np.quantile(df["X"], [0.1, 0.9])
        grid = np.linspace(lo, hi, 81)
        truth = d.structural_f(grid)
        curve = {"x": grid, "truth": truth - truth.mean()}
        for role in ("sieve", "forbidden"):
            key = getattr(cfg.estimators, role)
            spec = ctx.registry.estimator(key)
            res = spec.build({**opts, **cfg.estimators.options.get(key, {})}).fit(
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
        self, ctx: StageContext, data: StageResult, children: dict[str, dict[str, float]]
    ) -> dict[str, str]:
        """ICP repetitions: is Ŝ ⊆ {X1, X2}? And under a new do(X3), how do the model on Ŝ
        and pooled regression on every covariate predict Y?"""
        cfg = _cfg(ctx)
        icp = _estimator(ctx, cfg.estimators.icp)
        rows, first = [], None
        with ctx.progress("icp", total=cfg.icp.reps) as progress:
            for rep in range(cfg.icp.reps):
                if rep == 0:  # repetition 0 is the draw the generate stage saved
                    train = pd.read_parquet(data.files["icp_train"])
                    test = pd.read_parquet(data.files["icp_test"])
                else:
                    train, test = d.simulate_icp(
                        d.rng_for(cfg.seed, "icp", rep),
                        cfg.icp.n_per_env,
                        cfg.icp.strength,
                        cfg.icp.test_shift,
                        cfg.icp.test_scale,
                    )
                res = icp.fit(train, None, outcome="Y", covariates=d.ICP_COLUMNS)
                first = first or res
                parents = res.parents or []
                rows.append(
                    {
                        "rep": rep,
                        "parents": "{" + ", ".join(parents) + "}",
                        "none_accepted": res.parents is None,
                        "subset_of_true": set(parents) <= d.ICP_PARENTS,
                        "exact": set(parents) == d.ICP_PARENTS,
                        "mse_causal": _test_mse(train, test, parents),
                        "mse_pooled": _test_mse(train, test, d.ICP_COLUMNS),
                    }
                )
                progress(rep)
        reps = pd.DataFrame(rows)
        path = ctx.path("icp_reps.csv")
        reps.to_csv(path, index=False)
        assert first is not None
        children[cfg.estimators.icp] = {
            "p_subset_of_true": float(reps["subset_of_true"].mean()),
            "mse_causal": float(reps["mse_causal"].mean()),
            "mse_pooled": float(reps["mse_pooled"].mean()),
        }
        return {
            "icp_reps": str(path),
            "icp_first": _save_json(ctx, "icp_first.json", first.model_dump(mode="json")),
        }

    # --- evaluate --------------------------------------------------------------------------

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        from topiclab.plugins.causal_iv.evaluate import evaluate

        return evaluate(ctx, _cfg(ctx), data, trained)


def _test_mse(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> float:
    """Fit Y on ``columns`` (pooled training environments); MSE in the test environment."""
    x = np.column_stack([np.ones(len(train)), *(train[c] for c in columns)])
    beta = np.linalg.lstsq(x, train["Y"].to_numpy(), rcond=None)[0]
    xt = np.column_stack([np.ones(len(test)), *(test[c] for c in columns)])
    return float(np.mean((test["Y"].to_numpy() - xt @ beta) ** 2))
