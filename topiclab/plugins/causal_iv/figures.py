"""Figures of the causal-iv report (matplotlib, Agg): CI coverage, estimate spreads, sieve fit,
the IV graph and ICP's estimated graph. ``topic_figures`` draws them all for the evaluate stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd

from topiclab.causal.graph import CausalGraph
from topiclab.core.figures import save_figure
from topiclab.plugins.causal_iv import data as d

if TYPE_CHECKING:
    from topiclab.core.topic import StageContext
    from topiclab.plugins.causal_iv.config import CausalIVConfig


def coverage_plot(cov: pd.DataFrame, truth: float, path: Path, shown: int = 100) -> str:
    """The first ``shown`` 2SLS and OLS intervals, sorted; red where they miss the truth."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, name in zip(axes, ["tsls", "ols"], strict=True):
        part = cov.head(shown).sort_values(name).reset_index(drop=True)
        lo, hi = part[f"{name}_lo"], part[f"{name}_hi"]
        ok = (lo <= truth) & (truth <= hi)
        for i in range(len(part)):
            ax.plot([i, i], [lo[i], hi[i]], color="#2a9d8f" if ok[i] else "#d62828", lw=1)
        ax.axhline(truth, color="black", ls="--", lw=1)
        rate = float(cov[f"{name}_covers"].mean())
        ax.set_title(
            f"{'2SLS' if name == 'tsls' else 'OLS'} 95% CIs: coverage {rate:.3f} ({len(cov)} reps)",
            fontsize=9,
        )
        ax.set_xlabel("repetition (sorted)")
    axes[0].set_ylabel("effect of X on Y")
    return save_figure(fig, path)


def estimate_spread(series: dict[str, np.ndarray], marks: dict[str, float], path: Path) -> str:
    """Histograms of Monte-Carlo estimates with reference lines (truth, OLS limit, ...)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    values = np.concatenate(list(series.values()))
    lo, hi = np.quantile(values, [0.01, 0.99])
    bins = list(np.linspace(lo, hi, 60))
    for label, v in series.items():
        ax.hist(np.clip(v, lo, hi), bins=bins, alpha=0.55, label=label)
    for label, x in marks.items():
        ax.axvline(x, ls="--", lw=1, color="black")
        ax.text(x, ax.get_ylim()[1] * 0.95, f" {label}", fontsize=8, rotation=90, va="top")
    ax.legend(fontsize=8)
    ax.set_xlabel("estimate")
    return save_figure(fig, path)


def sieve_plot(curve: pd.DataFrame, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(curve["x"], curve["truth"], color="black", lw=2, label="f(x) = sin x + x")
    ax.plot(curve["x"], curve["sieve"], label="sieve 2SLS")
    ax.plot(curve["x"], curve["forbidden"], ls="--", label="forbidden regression")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x) (centred)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


CAPTIONS = {
    "coverage": "95 % confidence intervals of 2SLS (left) and OLS (right) across Monte-Carlo "
    "repetitions, sorted; red intervals miss the true effect (dashed line)",
    "estimates_spread": "Spread of the Monte-Carlo estimates: 2SLS with a strong, a weak and an "
    "invalid instrument, and OLS; dashed lines mark the true β and the probability limits of "
    "OLS and of 2SLS with the invalid instrument",
    "sieve_vs_forbidden": "Nonlinear IV: the sieve 2SLS fit and the forbidden regression "
    "(plug-in of the fitted X) against the true f(x)",
    "iv_graph": "The instrumental-variable graph: Z moves X, a hidden U confounds X and Y",
    "icp_estimated_graph": "Invariant causal prediction's estimated parents of Y (solid) over "
    "the true graph (dashed)",
}


def topic_figures(
    ctx: StageContext,
    cfg: CausalIVConfig,
    cov: pd.DataFrame,
    weak: pd.DataFrame,
    invalid: pd.DataFrame,
    curve: pd.DataFrame,
    icp_first: dict[str, Any],
) -> dict[str, str]:
    """Every figure of the report, name -> PNG path."""
    s = cfg.sem
    out = {
        "coverage": coverage_plot(cov, s.beta, ctx.path("coverage.png")),
        "estimates_spread": estimate_spread(
            {
                "2SLS (strong)": cov["tsls"].to_numpy(),
                "OLS": cov["ols"].to_numpy(),
                "2SLS (weak)": weak["tsls"].to_numpy(),
                "2SLS (invalid)": invalid["tsls"].to_numpy(),
            },
            {
                "β": s.beta,
                "OLS limit": d.ols_plim(s.pi, s.gamma, s.beta, s.delta),
                "invalid limit": s.beta + cfg.invalid.direct_effect / s.pi,
            },
            ctx.path("estimates_spread.png"),
        ),
        "sieve_vs_forbidden": sieve_plot(curve, ctx.path("sieve.png")),
        "iv_graph": CausalGraph.parse(d.IV_GRAPH).draw(
            ctx.path("iv_graph.png"),
            title="IV graph: Z instrument, (U) hidden confounder",
            roles={"instruments": ["Z"], "treatment": ["X"], "outcome": ["Y"]},
        ),
    }
    # The estimated graph: ICP's Ŝ -> Y solid; the rest of the true graph dashed for context.
    parents = icp_first["parents"] or []
    dag = nx.DiGraph(CausalGraph.parse(d.ICP_GRAPH).dag)
    dag.add_nodes_from(d.ICP_COLUMNS)
    dag.add_edges_from((p, "Y") for p in parents)
    dashed = [e for e in dag.edges if not (e[1] == "Y" and e[0] in parents)]
    out["icp_estimated_graph"] = CausalGraph.parse(dag).draw(
        ctx.path("icp_graph.png"),
        roles={"parents": parents, "outcome": ["Y"]},
        dashed_edges=dashed,
        title=f"ICP estimate: Ŝ = {{{', '.join(parents)}}} (solid); true graph dashed",
    )
    return {k: str(v) for k, v in out.items()}
