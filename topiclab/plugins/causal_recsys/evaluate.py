"""The evaluate stage of causal-recsys: SCM estimates against the truth, the IPS loss check,
ranking metrics on the two test logs of the next stage, popularity skew; claims and figures.

    from topiclab.plugins.causal_recsys.evaluate import evaluate, ranking_metrics, gini
    result = evaluate(ctx, cfg, data, trained)     # metrics, claims, tables, figures, sections

Metrics per recommender are means over the worlds (seeds) with their standard errors:
``<key>.ndcg20``, ``<key>.ndcg20_se``, ``<key>.recall20`` on the random-exposure log (clicks
with conformity), the same with ``_do`` on the intervened log (popularity cut from the item),
``<key>.gini``, ``<key>.pop_corr``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.recommenders import InteractionLog
from topiclab.plugins.causal_recsys import data as d
from topiclab.plugins.causal_recsys import figures
from topiclab.plugins.causal_recsys.claims import build_claims
from topiclab.plugins.causal_recsys.config import CausalRecsysConfig
from topiclab.plugins.causal_recsys.train import top_k

# Rankings that know the world, by the exponent of the test stage's z they use (given γ and κ):
# the intervened log's truth (PD's target), the random-exposure log's own click model (PDA's
# target), and what a model of the biased log learns.
ORACLES: dict[str, Callable[[float, float], float]] = {
    "oracle: preference (the intervened log's truth)": lambda gamma, kappa: 0.0,
    "oracle: preference·z^γ (the random-exposure log's truth)": lambda gamma, kappa: gamma,
    "oracle: preference·z^(κ+γ) (what the biased log shows)": lambda gamma, kappa: gamma + kappa,
}


def _load(path: str) -> Any:
    with open(path) as fh:
        return json.load(fh)


def gini(freq: np.ndarray) -> float:
    """G = Σ_i (2i − n − 1)·f_(i) / (n·Σ f) with f sorted ascending (0: equal, → 1: one item)."""
    f = np.sort(np.asarray(freq, dtype=float))
    n = len(f)
    return float(((2 * np.arange(1, n + 1) - n - 1) * f).sum() / (n * f.sum()))


def ranking_metrics(
    top: np.ndarray, test: InteractionLog, train: InteractionLog, popularity: np.ndarray
) -> dict[str, float]:
    """Recall@k and NDCG@k against the test clicks (users with one or more), Gini of how often
    each item is recommended, and that frequency's correlation with popularity."""
    k = top.shape[1]
    rel = np.zeros((test.n_users, test.n_items), dtype=bool)
    rel[test.positives()] = True
    rel[train.positives()] = False  # training clicks are never recommended: not relevant here
    hits = np.take_along_axis(rel, top, 1)
    n_rel = rel.sum(1)
    ok = n_rel > 0
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_rel, k)]
    freq = np.bincount(top.ravel(), minlength=test.n_items)
    return {
        "recall20": float((hits.sum(1)[ok] / n_rel[ok]).mean()),
        "ndcg20": float(((hits * disc).sum(1)[ok] / ideal[ok]).mean()),
        "gini": gini(freq),
        "pop_corr": float(np.corrcoef(freq, popularity)[0, 1]),
    }


def _per_world(
    cfg: CausalRecsysConfig, data: StageResult, trained: StageResult
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (method, world): ranking metrics on both test logs (``_do``: the intervened
    one); and the training logs' own skew."""
    rows, logs = [], []
    for rep in range(cfg.world.seeds):
        world = d.load_world(data.files[f"world_{rep}"])
        train = d.load_log(data.files[f"train_{rep}"])
        test = d.load_log(data.files[f"test_{rep}"])
        intervened = d.load_log(data.files[f"intervened_{rep}"])
        clicks = np.bincount(train.items, weights=train.clicks, minlength=train.n_items)
        shown = np.bincount(train.items, minlength=train.n_items)
        logs.append({"rep": rep, "gini_clicks": gini(clicks), "gini_exposures": gini(shown)})
        tops = {
            k: np.load(trained.files[f"top_{k}_{rep}"])
            for k in cfg.recommenders
            if f"top_{k}_{rep}" in trained.files
        }  # a failed recommender has none
        for name, power in ORACLES.items():
            scores = _oracle_scores(world, power(world.gamma, cfg.world.kappa))
            tops[name] = top_k(scores, train)
        for method, top in tops.items():
            metrics = ranking_metrics(top, test, train, world.popularity)
            do = ranking_metrics(top, intervened, train, world.popularity)
            metrics |= {f"{k}_do": do[k] for k in ("ndcg20", "recall20")}
            rows.append({"method": method, "rep": rep, **metrics})
    return pd.DataFrame(rows), pd.DataFrame(logs)


def _oracle_scores(world: d.World, power: float) -> np.ndarray:
    users = np.repeat(np.arange(world.n_users), world.n_items)
    items = np.tile(np.arange(world.n_items), world.n_users)
    pref = np.log(world.preference(users, items)).reshape(world.n_users, world.n_items)
    return pref + power * np.log(world.popularity)[None, :]


def _mean_se(values: pd.Series) -> tuple[float, float]:
    v = values.to_numpy(float)
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return float(v.mean()), se


RANKING_COLUMNS = ("ndcg20", "ndcg20_do", "recall20", "recall20_do", "gini", "pop_corr")


def ranking_table(per_world: pd.DataFrame, fits: list[dict[str, Any]]) -> pd.DataFrame:
    errors = {f["key"]: f["error"] for f in fits if "error" in f}
    rows = []
    for method, g in per_world.groupby("method", sort=False):
        row: dict[str, Any] = {"method": method, "worlds": len(g)}
        for col in RANKING_COLUMNS:
            row[col], row[f"{col}_se"] = _mean_se(g[col])
        for col in ("ndcg20", "ndcg20_do"):
            row[f"{col}_sd"] = float(g[col].std(ddof=1)) if len(g) > 1 else math.nan
        rows.append(row)
    for key, err in errors.items():
        rows.append({"method": key, "worlds": 0, "error": err})
    return pd.DataFrame(rows)


def _scm_table(fits: dict[str, Any]) -> pd.DataFrame:
    labels = {
        "intervention": "simulated do(X): the truth",
        "naive": "naive E[Y|X=1] − E[Y|X=0]",
        "backdoor": "backdoor, U observed",
        "frontdoor": "front door through M, U hidden",
        "user_graph": f"the user's graph: {fits['user_graph']['strategy']} "
        f"over {fits['user_graph']['variables']}",
    }
    rows = []
    for name, label in labels.items():
        f = fits[name]
        rows.append(
            {
                "estimate": label,
                "estimator": f.get("estimator", "difference of means"),
                "value": f["estimate"],
                "std_error": f["std_error"],
                "ci_low": f["ci_low"],
                "ci_high": f["ci_high"],
                "error vs 0.25": f["estimate"] - d.TRUE_ACE,
            }
        )
    return pd.DataFrame(rows)


def evaluate(
    ctx: StageContext, cfg: CausalRecsysConfig, data: StageResult, trained: StageResult
) -> StageResult:
    scm = _load(trained.files["scm_fits"])
    loss = pd.read_csv(trained.files["loss_check"])
    fits = _load(trained.files["fits"])
    per_world, logs = _per_world(cfg, data, trained)
    ranking = ranking_table(per_world, fits)
    m = _scm_metrics(scm) | _loss_metrics(loss) | _rec_metrics(ranking, logs, fits)
    tables = {
        "scm_estimates": _csv(ctx, "scm_estimates.csv", _scm_table(scm)),
        "ranking": _csv(ctx, "ranking.csv", ranking),
        "ranking_per_world": _csv(ctx, "ranking_per_world.csv", per_world),
        "loss_check": _csv(ctx, "loss_check_summary.csv", _loss_table(loss)),
        "fits": _csv(ctx, "fits.csv", pd.DataFrame(fits)),
    }
    figs = figures.topic_figures(ctx, cfg, data, trained, scm, loss, ranking)
    sections = {"How to read this": _notes(cfg, ranking, fits)}
    return StageResult(
        metrics=m,
        claims=build_claims(cfg, m),
        tables=tables,
        figures=figs,
        sections=sections,
    )


def _csv(ctx: StageContext, name: str, frame: pd.DataFrame) -> str:
    path = ctx.path(name)
    frame.to_csv(path, index=False)
    return str(path)


def _scm_metrics(scm: dict[str, Any]) -> dict[str, float]:
    m = {f"scm_{k}": scm[k]["estimate"] for k in ("naive", "intervention", "backdoor", "frontdoor")}
    m |= {
        f"scm_{k}_se": scm[k]["std_error"]
        for k in ("naive", "intervention", "backdoor", "frontdoor")
    }
    m["scm_user_graph"] = scm["user_graph"]["estimate"]
    # An estimator that reports only the effect (the linear two-stage front door) leaves the
    # primer's interventional means NaN: its claim fails and says so.
    primer = scm["primer"]["diagnostics"]
    m["primer_do1"] = primer.get("E[Y|do(T=1)]", math.nan)
    m["primer_do0"] = primer.get("E[Y|do(T=0)]", math.nan)
    return m


def _loss_table(loss: pd.DataFrame) -> pd.DataFrame:
    truth = float(loss["truth"].iloc[0])
    rows = []
    for col in ("naive", "ips", "snips"):
        mean, se = _mean_se(loss[col])
        rows.append(
            {
                "estimator": col,
                "seeds": len(loss),
                "truth": truth,
                "mean": mean,
                "mc_se": se,
                "bias": mean - truth,
                "bias / mc_se": (mean - truth) / se,
                "sd": float(loss[col].std(ddof=1)),
            }
        )
    return pd.DataFrame(rows)


def _loss_metrics(loss: pd.DataFrame) -> dict[str, float]:
    m: dict[str, float] = {"loss_truth": float(loss["truth"].iloc[0])}
    for row in _loss_table(loss).to_dict("records"):
        name = row["estimator"]
        m |= {
            f"loss_{name}_mean": row["mean"],
            f"loss_{name}_z": row["bias / mc_se"],
            f"loss_{name}_sd": row["sd"],
        }
    return m


def _rec_metrics(
    ranking: pd.DataFrame, logs: pd.DataFrame, fits: list[dict[str, Any]]
) -> dict[str, float]:
    m: dict[str, float] = {
        "train_gini_clicks": float(logs["gini_clicks"].mean()),
        "train_gini_exposures": float(logs["gini_exposures"].mean()),
    }
    for row in ranking.to_dict("records"):
        if row["method"].startswith("oracle") or row.get("worlds", 0) == 0:
            continue
        for col in RANKING_COLUMNS:
            for suffix in ("", "_se"):
                m[f"{row['method']}.{col}{suffix}"] = float(row[col + suffix])
        for col in ("ndcg20_sd", "ndcg20_do_sd"):
            m[f"{row['method']}.{col}"] = float(row[col])
    gammas = [f["gamma"] for f in fits if f["key"] == "pd" and "gamma" in f]
    if gammas:
        m["pd.gamma"] = float(np.mean(gammas))
        m["pd.gamma_se"] = (
            float(np.std(gammas, ddof=1) / math.sqrt(len(gammas))) if len(gammas) > 1 else math.nan
        )
    m["failed_recommenders"] = float(sum("error" in f for f in fits))
    return m


def _notes(cfg: CausalRecsysConfig, ranking: pd.DataFrame, fits: list[dict[str, Any]]) -> str:
    failed = sorted({f"{f['key']} ({f['error']})" for f in fits if "error" in f})
    lines = [
        "- *scm_estimates*: the naive contrast is confounded by U; backdoor needs U, the front "
        "door does not; the simulated intervention is the truth (0.25 in closed form).",
        f"- *ranking*: means over {cfg.world.seeds} worlds ± standard errors, on two test "
        f"logs of the stage after the {cfg.world.stages} training stages, both with random "
        "exposure: `ndcg20`/`recall20` with the clicks' conformity (σ·z^γ at the new "
        "popularity: PDA's target, which puts the predicted popularity back), `_do` with each "
        "pair's popularity drawn from its marginal (the intervention do(I): preference alone "
        "ranks best; PD's and the debiasing methods' target). The oracle rows rank by the "
        "world's own click model.",
        "- *loss_check*: IPS with the true propensities is unbiased for the loss over all "
        "pairs; the naive mean over shown pairs is not, and IPS pays with a larger spread.",
    ]
    if failed:
        lines.append(f"- failed recommenders (the others are reported): {', '.join(failed)}")
    return "\n".join(lines) + "\n\n<!-- table:ranking -->"
