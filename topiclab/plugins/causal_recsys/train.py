"""The train stage of causal-recsys: SCM estimates by registry key, recommenders by key.

    from topiclab.plugins.causal_recsys.train import train
    result = train(ctx, cfg, data)    # files: scm_fits.json, loss_check.csv, top-k lists, fits

- SCM: the naive contrast, backdoor with U observed, front door with U hidden (estimators from
  the registry), a simulated do(X) as the truth, the strategy the user's graph identifies, and
  the front door on the Primer's Table 3.1.
- IPS vs naive estimates of a fixed model's loss over redraws of the logging policy.
- Every recommender of ``cfg.recommenders`` on every world's training log; a recommender whose
  fit or score raises is recorded with its error and the others go on. When none is left (every
  fit failed), the stage fails in one line naming each key and why: a ranking comparison
  without a ranking is not a result.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from topiclab.core.errors import TopiclabError
from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.recommenders import RECOMMENDER_TASK, InteractionLog
from topiclab.nn.threads import torch_threads
from topiclab.plugins.causal_recsys import data as d
from topiclab.plugins.causal_recsys.config import CausalRecsysConfig

TOP_K = 20
Children = dict[str, dict[str, float]]


def train(ctx: StageContext, cfg: CausalRecsysConfig, data: StageResult) -> StageResult:
    children: Children = {}
    files = {"scm_fits": _save_json(ctx, "scm_fits.json", scm_fits(ctx, cfg, data, children))}
    files["loss_check"] = loss_check(ctx, cfg, data)
    models: dict[str, str] = {}
    with torch_threads(cfg.train.torch_threads):
        fits = fit_recommenders(ctx, cfg, data, files, models)
    require_a_fit(fits)
    files["fits"] = _save_json(ctx, "fits.json", fits)
    return StageResult(files=files, children=children, models=models)


def estimator(ctx: StageContext, cfg: CausalRecsysConfig, key: str) -> Any:
    return ctx.registry.estimator(key).create(cfg.estimators.options.get(key, {}))


def _save_json(ctx: StageContext, name: str, obj: Any) -> str:
    path = ctx.path(name)
    path.write_text(json.dumps(obj, indent=1, default=float))
    return str(path)


def _contrast(y1: np.ndarray, y0: np.ndarray) -> dict[str, float]:
    est = float(y1.mean() - y0.mean())
    se = math.sqrt(y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0))
    return {"estimate": est, "std_error": se, "ci_low": est - 1.96 * se, "ci_high": est + 1.96 * se}


def _result(res: Any) -> dict[str, Any]:
    keep = ("estimate", "std_error", "ci_low", "ci_high", "estimator", "n")
    return {k: getattr(res, k) for k in keep} | {
        "diagnostics": {k: v for k, v in res.diagnostics.items() if isinstance(v, float | list)}
    }


def scm_fits(
    ctx: StageContext, cfg: CausalRecsysConfig, data: StageResult, children: Children
) -> dict[str, Any]:
    df = pd.read_parquet(data.files["scm"])
    hidden = df.drop(columns="U")
    x = df["X"].to_numpy() > 0
    y = df["Y"].to_numpy()
    n = cfg.scm.intervention_n
    do1 = d.simulate_scm(d.rng_for(cfg.seed, "do", 1), n, do_x=1)["Y"].to_numpy()
    do0 = d.simulate_scm(d.rng_for(cfg.seed, "do", 0), n, do_x=0)["Y"].to_numpy()
    out: dict[str, Any] = {"naive": _contrast(y[x], y[~x]), "intervention": _contrast(do1, do0)}
    bd = estimator(ctx, cfg, cfg.estimators.backdoor)
    fd = estimator(ctx, cfg, cfg.estimators.frontdoor)
    out["backdoor"] = _result(bd.fit(df, d.SCM_OBSERVED, treatment="X", outcome="Y"))
    out["frontdoor"] = _result(fd.fit(hidden, d.SCM_HIDDEN, treatment="X", outcome="Y"))
    out["user_graph"] = _user_graph(ctx, cfg, df)
    primer = fd.fit(d.primer_frame(), d.PRIMER_GRAPH, treatment="Smoking", outcome="Cancer")
    out["primer"] = _result(primer)
    for name in ("naive", "intervention", "backdoor", "frontdoor"):
        children[f"scm/{name}"] = {k: out[name][k] for k in ("estimate", "std_error")}
    return out


def _user_graph(ctx: StageContext, cfg: CausalRecsysConfig, df: pd.DataFrame) -> dict[str, Any]:
    """The strategy the user's graph identifies, fitted on the columns it calls observed."""
    from topiclab.causal.graph import CausalGraph

    graph = CausalGraph.parse(cfg.scm.graph)
    found = d.identify_effect(graph)
    key = cfg.estimators.backdoor if found.strategy == "backdoor" else cfg.estimators.frontdoor
    observed = df[[c for c in df.columns if c in graph.observed]]
    res = estimator(ctx, cfg, key).fit(observed, graph, treatment="X", outcome="Y")
    return _result(res) | {"strategy": found.strategy, "variables": found.variables}


def loss_check(ctx: StageContext, cfg: CausalRecsysConfig, data: StageResult) -> str:
    """A fixed model ŷ = σ(preference)·E[z^γ] (knows tastes, not conformity); its expected
    squared error on every pair is the truth; each redraw of a logging (the first stage's
    popularity, a policy the size of the whole training log) gives the naive mean over shown
    pairs, IPS (Σ δ/p over |U×I|) and SNIPS (Σ δ/p over Σ 1/p)."""
    world = d.load_world(data.files["world_0"])
    users = np.repeat(np.arange(world.n_users), world.n_items)
    items = np.tile(np.arange(world.n_items), world.n_users)
    # Stage 0: the Zipf popularity before any drift; the policy's size sets the spread of both
    # estimates (with a stage's quarter of the exposures their SD ratio was 1.07, not 1.4).
    c = world.click_prob(users, items, stage=0).reshape(world.n_users, world.n_items)
    conformity = np.mean(world.stage_popularity[0] ** world.gamma)
    pred = world.preference(users, items).reshape(c.shape) * conformity
    delta = c * (1 - pred) ** 2 + (1 - c) * pred**2
    per_user = cfg.world.train_exposures / world.n_users
    policy = d.exposure_policy(world.stage_popularity[0], cfg.world.kappa, per_user)
    p = np.broadcast_to(policy, c.shape)
    truth = float(delta.mean())
    rows = []
    for s in range(cfg.loss_check.seeds):
        shown = d.rng_for(cfg.seed, "loss_check", s).random(c.shape) < p
        w = 1.0 / p[shown]
        rows.append(
            {
                "seed": s,
                "truth": truth,
                "naive": float(delta[shown].mean()),
                "ips": float((delta[shown] * w).sum() / delta.size),
                "snips": float((delta[shown] * w).sum() / w.sum()),
            }
        )
    path = ctx.path("loss_check.csv")
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def options(cfg: CausalRecsysConfig, key: str, rep: int) -> dict[str, Any]:
    """The topic's shared settings for the built-in recommenders, then the key's own options."""
    t = cfg.train
    # Within the trainers' seed bound (2^31 − 1) for every topic seed; unchanged below 2,147,484.
    base: dict[str, Any] = {"seed": (cfg.seed * 1000 + rep) % 2**31}
    if key in ("bpr-mf", "bpr-ips", "bpr-snips"):
        base |= {"dim": t.dim, "epochs": t.epochs, "batch": t.batch, "lr": t.lr, "l2": t.l2}
    elif key in ("pd", "pda"):
        base |= {"dim": t.pd_dim, "epochs": t.pd_epochs, "batch": t.batch, "lr": t.lr}
        base["l2"] = t.pd_l2
    return base | cfg.options.get(key, {})


def top_k(scores: np.ndarray, log: InteractionLog, k: int = TOP_K) -> np.ndarray:
    """Each user's k best items by score, best first, training clicks excluded."""
    s = np.array(scores, dtype=np.float64)
    pu, pi = log.positives()
    s[pu, pi] = -np.inf
    idx = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, idx, 1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, 1)


def fit_recommenders(
    ctx: StageContext,
    cfg: CausalRecsysConfig,
    data: StageResult,
    files: dict[str, str],
    models: dict[str, str],
) -> list[dict[str, Any]]:
    fits = []
    for rep in range(cfg.world.seeds):
        log = d.load_log(data.files[f"train_{rep}"])
        for key in cfg.recommenders:
            fits.append(_fit_one(ctx, cfg, log, key, rep, files, models))
    return fits


def require_a_fit(fits: list[dict[str, Any]]) -> None:
    """Fail the stage when no recommender fitted on any world: the run would otherwise finish
    "ok" with every ranking claim left out."""
    if not fits or any("error" not in f for f in fits):
        return
    why: dict[str, str] = {}
    for f in fits:  # a key's first world's error speaks for its others
        why.setdefault(f["key"], f["error"])
    named = "; ".join(f"{key} ({error})" for key, error in why.items())
    raise TopiclabError(f"every recommender failed, so nothing is ranked: {named}")


def _fit_one(
    ctx: StageContext,
    cfg: CausalRecsysConfig,
    log: InteractionLog,
    key: str,
    rep: int,
    files: dict[str, str],
    models: dict[str, str],
) -> dict[str, Any]:
    row: dict[str, Any] = {"key": key, "rep": rep}
    start = time.perf_counter()
    try:
        rec = ctx.registry.trainer(key, task=RECOMMENDER_TASK).create(options(cfg, key, rep))
        with ctx.progress(f"{key} (world {rep})", total=1, child=f"{key}/world{rep}") as p:
            rec.fit(log, progress=p)
        scores = rec.score(np.arange(log.n_users))
        if not np.isfinite(scores).all():
            raise FloatingPointError("non-finite scores (the model diverged)")
        top = top_k(scores, log)
    except Exception as exc:  # one recommender failing must not hide the others' results
        row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return row
    path = ctx.path(f"top{TOP_K}_{key}_{rep}.npy")
    np.save(path, top)
    files[f"top_{key}_{rep}"] = str(path)
    row["seconds"] = time.perf_counter() - start
    if hasattr(rec, "gamma"):
        row["gamma"] = float(rec.gamma)
    if rep == 0 and hasattr(rec, "module"):
        model_path = ctx.path(f"model_{key}.pt")
        torch.save(rec.module(), model_path)
        models[key] = str(model_path)
    return row
