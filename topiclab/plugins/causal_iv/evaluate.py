"""The evaluate stage of causal-iv: metrics, tables, DoWhy refutations; claims and figures
come from ``claims.py`` and ``figures.py``.

    from topiclab.plugins.causal_iv.evaluate import evaluate
    result = evaluate(ctx, cfg, data, trained)     # metrics, claims, tables, figures, sections
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from topiclab.causal import dowhy_api
from topiclab.causal.graph import CausalGraph
from topiclab.causal.refute import RefuteConfig, as_table, refute
from topiclab.core.topic import StageContext, StageResult
from topiclab.plugins.causal_iv import data as d
from topiclab.plugins.causal_iv import figures
from topiclab.plugins.causal_iv.claims import build_claims
from topiclab.plugins.causal_iv.config import CausalIVConfig


def _load(path: str) -> Any:
    with open(path) as fh:
        return json.load(fh)


def evaluate(
    ctx: StageContext, cfg: CausalIVConfig, data: StageResult, trained: StageResult
) -> StageResult:
    f = trained.files
    ref, card = _load(f["reference_fits"]), _load(f["card_fits"])
    cov, weak, invalid = (pd.read_csv(f[k]) for k in ("coverage", "weak", "invalid"))
    curve = pd.read_csv(f["nonlinear_curve"])
    icp_reps, icp_first = pd.read_csv(f["icp_reps"]), _load(f["icp_first"])
    tsls = ref["iv"]["estimate"]
    m: dict[str, float] = {
        "ref_ols": ref["ols"]["estimate"],
        "ref_tsls": tsls,
        "ref_tsls_se": ref["iv"]["std_error"],
        "ref_first_stage_f": ref["iv"]["diagnostics"]["first_stage_f"],
        "ref_wald_minus_tsls": abs(ref["wald"]["estimate"] - tsls),
        "ref_cf_minus_tsls": abs(ref["control_function"]["estimate"] - tsls),
        "coverage_tsls": float(cov["tsls_covers"].mean()),
        "coverage_ols": float(cov["ols_covers"].mean()),
        "coverage_mean_tsls": float(cov["tsls"].mean()),
        "coverage_mean_ols": float(cov["ols"].mean()),
        "weak_median_f": float(weak["first_stage_f"].median()),
        "weak_mean_f": float(weak["first_stage_f"].mean()),
        "weak_coverage_tsls": float(weak["tsls_covers"].mean()),
        "weak_median_tsls": float(weak["tsls"].median()),
        "invalid_mean_tsls": float(invalid["tsls"].mean()),
        "invalid_coverage_tsls": float(invalid["tsls_covers"].mean()),
        "sieve_mse": float(np.mean((curve["sieve"] - curve["truth"]) ** 2)),
        "forbidden_mse": float(np.mean((curve["forbidden"] - curve["truth"]) ** 2)),
        "card_ols": card["ols"]["estimate"],
        "card_ols_se": card["ols"]["std_error"],
        "card_tsls": card["iv"]["estimate"],
        "card_tsls_se": card["iv"]["std_error"],
        "card_first_stage_f": card["iv"]["diagnostics"]["first_stage_f"],
        "icp_p_subset": float(icp_reps["subset_of_true"].mean()),
        "icp_p_exact": float(icp_reps["exact"].mean()),
        "icp_mse_causal": float(icp_reps["mse_causal"].mean()),
        "icp_mse_pooled": float(icp_reps["mse_pooled"].mean()),
    }
    m["icp_mse_ratio"] = m["icp_mse_pooled"] / m["icp_mse_causal"]
    tables = {
        "estimates": _estimates_table(ctx, ref, card),
        "monte_carlo": _mc_table(ctx, cfg, cov, weak, invalid),
        **_icp_tables(ctx, icp_first),
    }
    sections: dict[str, str] = {}
    refs = _refutations(ctx, cfg, data, ref["iv"]["std_error"])
    tables["refutations"] = refs["path"]
    m["refuters_passed"], m["refuters_total"] = refs["passed"], refs["total"]
    sections["Identified estimand"] = refs["estimand"]
    sections["How to read this"] = _reading_notes(cfg, icp_first)
    figs = figures.topic_figures(ctx, cfg, cov, weak, invalid, curve, icp_first)
    return StageResult(
        metrics=m,
        claims=build_claims(cfg, m),
        tables=tables,
        figures=figs,
        captions={k: v for k, v in figures.CAPTIONS.items() if k in figs},
        sections=sections,
    )


def _estimates_table(ctx: StageContext, ref: dict[str, Any], card: dict[str, Any]) -> str:
    rows = []
    for data_name, fits in (("reference SEM (β = 2)", ref), ("Card 1995 (educ)", card)):
        for role, r in fits.items():
            diag = r["diagnostics"]
            rows.append(
                {
                    "data": data_name,
                    "estimator": r["estimator"],
                    "estimate": r["estimate"],
                    "std_error": r["std_error"],
                    "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"],
                    "n": r["n"],
                    "first_stage_F": diag.get("first_stage_f", np.nan),
                    "weak": diag.get("weak", ""),
                    "note": _note(role, diag),
                }
            )
    path = ctx.path("estimates.csv")
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _note(role: str, diag: dict[str, Any]) -> str:
    if role == "ols":
        return f"backdoor valid: {diag.get('backdoor_valid')}"
    if role == "control_function":
        return f"endogeneity p = {diag['endogeneity_p']:.3g}"
    if "dowhy_estimate" in diag:
        return f"DoWhy iv.instrumental_variable: {diag['dowhy_estimate']:.6f}"
    return ""


def _mc_table(
    ctx: StageContext,
    cfg: CausalIVConfig,
    cov: pd.DataFrame,
    weak: pd.DataFrame,
    invalid: pd.DataFrame,
) -> str:
    rows = []
    for name, frame, n in (
        ("strong instrument", cov, cfg.coverage.n),
        (f"weak instrument (γ=δ={cfg.weak.gamma:g})", weak, cfg.weak.n),
        ("invalid instrument", invalid, cfg.invalid.n),
    ):
        rows.append(
            {
                "scenario": name,
                "reps": len(frame),
                "n": n,
                "2SLS mean": frame["tsls"].mean(),
                "2SLS median": frame["tsls"].median(),
                "2SLS coverage": frame["tsls_covers"].mean(),
                "median F": frame["first_stage_f"].median(),
                "OLS mean": frame["ols"].mean(),
                "OLS coverage": frame["ols_covers"].mean(),
            }
        )
    path = ctx.path("monte_carlo.csv")
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _icp_tables(ctx: StageContext, first: dict[str, Any]) -> dict[str, str]:
    accepted = {",".join(s) for s in first["accepted_sets"]}
    rows = [
        {"set": "{" + k.replace(",", ", ") + "}", "p_value": v, "accepted": k in accepted}
        for k, v in sorted(first["set_pvalues"].items(), key=lambda kv: -kv[1])
    ]
    sets_path = ctx.path("icp_sets.csv")
    pd.DataFrame(rows).to_csv(sets_path, index=False)
    ci = first["conf_intervals"] or {}
    per_var = [
        {
            "variable": v,
            "p_value": p,
            "in_S_hat": v in (first["parents"] or []),
            "ci_low": ci.get(v, [np.nan, np.nan])[0],
            "ci_high": ci.get(v, [np.nan, np.nan])[1],
            "true_parent": v in d.ICP_PARENTS,
        }
        for v, p in first["pvalues"].items()
    ]
    var_path = ctx.path("icp_variables.csv")
    pd.DataFrame(per_var).to_csv(var_path, index=False)
    return {"icp_accepted_sets": str(sets_path), "icp_variables": str(var_path)}


def _refutations(
    ctx: StageContext, cfg: CausalIVConfig, data: StageResult, full_se: float
) -> dict[str, Any]:
    """DoWhy refuters on a subsample of the reference SEM; the 2-SE rule uses the subsample's
    standard error (the full-sample SE scaled by √(N/n))."""
    ref = pd.read_parquet(data.files["reference"]).head(cfg.refute.n)
    se = full_se * np.sqrt(cfg.sem.n / len(ref))
    rows = refute(
        ref,
        d.IV_GRAPH,
        treatment="X",
        outcome="Y",
        std_error=se,
        config=RefuteConfig(
            num_simulations=cfg.refute.num_simulations,
            confounder_strengths=cfg.refute.confounder_strengths,
            seed=cfg.seed,
        ),
    )
    path = ctx.path("refutations.csv")
    as_table(rows).to_csv(path, index=False)
    graded = [r for r in rows if r.passed is not None]
    graph = CausalGraph.parse(d.IV_GRAPH)
    estimand = dowhy_api.identify(dowhy_api.causal_model(ref, graph, "X", "Y"))
    text = (
        f"Graph: `{graph.edge_string()}` (parenthesised nodes are hidden).\n\n"
        f"DoWhy's identification:\n\n```\n{estimand}\n```"
    )
    return {
        "path": str(path),
        "passed": float(sum(bool(r.passed) for r in graded)),
        "total": float(len(graded)),
        "estimand": text,
    }


def _reading_notes(cfg: CausalIVConfig, first: dict[str, Any]) -> str:
    return (
        "- *estimates*: every estimator on the reference SEM and on Card's data; on the SEM "
        "the hidden U biases OLS, and the graph shows no observed backdoor set.\n"
        "- *monte_carlo*: the invalid instrument's bias is the expected failure "
        f"(2 + τ/π = {cfg.sem.beta + cfg.invalid.direct_effect / cfg.sem.pi:.2f}), not a bug.\n"
        f"- *ICP* (first repetition): Ŝ = {{{', '.join(first['parents'] or [])}}}; "
        "a variable's p-value is the largest p over tested sets without it; intervals are the "
        "union over accepted sets (0 where a set leaves the variable out)."
    )
