"""Data of causal-recsys: the binary SCM, the Primer's front-door table, a recommender world.

    from topiclab.plugins.causal_recsys.data import rng_for, simulate_scm, make_world
    df = simulate_scm(rng_for(0, "scm"), 1_000_000)            # columns U, X, M, Y
    w = make_world(rng_for(0, "world", 0), cfg.world)          # latent factors, popularity
    train_log, test_log = w.training_log(rng), w.uniform_log(rng)   # also w.intervened_log

The SCM (Arel-Bundock's front-door primer): U ~ Bern(0.2), X ~ Bern(0.1 + 0.6U),
M ~ Bern(0.3 + 0.5X), Y ~ Bern(0.1 + 0.3U + 0.5M); the effect of X on Y is 0.5·0.5 = 0.25.

The world (the PDA paper's causal graph, Zhang et al. 2021, Fig. 1): item popularity z_i(t) is
long-tailed, drifts from stage to stage, and confounds exposure (the logging policy shows item i
to each user with probability p_i(t) ∝ z_i(t)^κ) and clicks (P(click | shown) =
σ(a·p_u·q_i + b)·z_i(t)^γ, conformity). Two test logs of the next stage show items uniformly
at random: ``test`` keeps conformity (preference times the new z^γ: what PDA predicts), and
``intervened`` draws each pair's Z from its marginal (preference alone in expectation: what PD
and the debiasing methods aim at).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from topiclab.causal.graph import CausalGraph
from topiclab.causal.validation import CausalInputError
from topiclab.core.errors import TopiclabError
from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.recommenders import InteractionLog

if TYPE_CHECKING:
    from topiclab.plugins.causal_recsys.config import CausalRecsysConfig, WorldConfig

SCM_HIDDEN = "(U) -> X; (U) -> Y; X -> M; M -> Y"  # the front-door graph: U not measured
SCM_OBSERVED = "U -> X; U -> Y; X -> M; M -> Y"  # the same graph with U measured
TRUE_ACE = 0.25  # 0.5 (X -> M) · 0.5 (M -> Y)

# Pearl, Glymour & Jewell (2016), Primer, Table 3.1: (smoker, tar) -> (cancer cases, group size).
PRIMER_TABLE = {(1, 1): (57, 380), (0, 1): (19, 20), (1, 0): (2, 20), (0, 0): (342, 380)}
PRIMER_GRAPH = "(U) -> Smoking; (U) -> Cancer; Smoking -> Tar; Tar -> Cancer"


class NotIdentifiableError(CausalInputError):
    """The graph identifies the effect neither by the backdoor nor by the front door."""


@dataclass(frozen=True)
class Identified:
    strategy: str  # "backdoor" or "frontdoor"
    variables: list[str]  # the adjustment set or the mediators


def identify_effect(
    graph: str | CausalGraph, treatment: str = "X", outcome: str = "Y"
) -> Identified:
    """Backdoor if an observed set blocks every backdoor path, else the front door, else a
    one-line NotIdentifiableError naming a backdoor path nothing observed can block."""
    from topiclab.causal.identify import identify, open_path

    g = CausalGraph.parse(graph)
    for node in (treatment, outcome):
        if node not in g.dag or node in g.latent:
            raise NotIdentifiableError(f"'{node}' must be an observed node of the graph")
    found = identify(g, treatment, outcome)
    if found.adjustment is not None:
        return Identified("backdoor", found.adjustment)
    if found.frontdoor is not None:
        return Identified("frontdoor", found.frontdoor)
    cut = g.dag.copy()
    cut.remove_edges_from(list(g.dag.out_edges(treatment)))  # what remains are backdoor paths
    path = open_path(g, cut, treatment, outcome, [])
    raise NotIdentifiableError(
        f"the effect of {treatment} on {outcome} is not identifiable: the backdoor path {path} "
        "has no observed node to adjust for, and no observed mediator meets the front-door "
        "criterion"
    )


def rng_for(seed: int, label: str, rep: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(label.encode()), rep])


def simulate_scm(rng: np.random.Generator, n: int, do_x: int | None = None) -> pd.DataFrame:
    """n draws of the binary SCM; ``do_x`` sets X for every unit (the intervention)."""
    u = rng.random(n) < 0.2
    x = rng.random(n) < 0.1 + 0.6 * u if do_x is None else np.full(n, bool(do_x))
    m = rng.random(n) < 0.3 + 0.5 * x
    y = rng.random(n) < 0.1 + 0.3 * u + 0.5 * m
    return pd.DataFrame({"U": u, "X": x, "M": m, "Y": y}).astype(float)


def naive_closed_form() -> float:
    """E[Y | X=1] − E[Y | X=0] with E[Y | x] = 0.1 + 0.3·P(U=1 | x) + 0.5·P(M=1 | x)."""
    # Bayes: P(U=1 | X=1) = 0.2·0.7 / (0.2·0.7 + 0.8·0.1), P(U=1 | X=0) with 0.3 and 0.9.
    pu = {1: 0.2 * 0.7 / (0.2 * 0.7 + 0.8 * 0.1), 0: 0.2 * 0.3 / (0.2 * 0.3 + 0.8 * 0.9)}
    return (0.1 + 0.3 * pu[1] + 0.5 * 0.8) - (0.1 + 0.3 * pu[0] + 0.5 * 0.3)


def primer_frame() -> pd.DataFrame:
    """The 800 subjects of the Primer's Table 3.1, one row each."""
    rows = []
    for (x, z), (cases, size) in PRIMER_TABLE.items():
        rows += [(x, z, 1)] * cases + [(x, z, 0)] * (size - cases)
    return pd.DataFrame(rows, columns=["Smoking", "Tar", "Cancer"]).astype(float)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class World:
    """Latent preferences, drifting popularity and the logging policy of one platform.

    Row t of ``stage_popularity`` / ``stage_exposure`` is stage t; the training log covers the
    first ``stages`` rows, the test logs the last one (the next stage)."""

    user_factors: np.ndarray  # (users, d)
    item_factors: np.ndarray  # (items, d)
    stage_popularity: np.ndarray  # (stages + 1, items): z_i in (0, 1], the largest 1 per stage
    stage_exposure: np.ndarray  # (stages + 1, items): p_i, P(item i shown to a given user)
    gamma: float  # true popularity exponent of the click
    scale: float
    bias: float
    test_per_user: int

    @property
    def n_users(self) -> int:
        return len(self.user_factors)

    @property
    def n_items(self) -> int:
        return len(self.item_factors)

    @property
    def stages(self) -> int:
        return len(self.stage_popularity) - 1

    @property
    def popularity(self) -> np.ndarray:
        """z_i at the test stage: when the recommendations are served."""
        return self.stage_popularity[-1]

    @property
    def exposure(self) -> np.ndarray:
        """The logging policy's p_i at the test stage."""
        return self.stage_exposure[-1]

    def preference(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """σ(a·p_u·q_i + b) for matching rows of ``users`` and ``items``."""
        dot = np.einsum("kd,kd->k", self.user_factors[users], self.item_factors[items])
        return sigmoid(self.scale * dot + self.bias)

    def click_prob(self, users: np.ndarray, items: np.ndarray, stage: int = -1) -> np.ndarray:
        """P(click | shown) in ``stage`` (default: the test stage): preference times z_i^γ."""
        return self.preference(users, items) * self.stage_popularity[stage][items] ** self.gamma

    def _log(
        self,
        rng: np.random.Generator,
        users: np.ndarray,
        items: np.ndarray,
        p: np.ndarray,
        z: np.ndarray,
        stage: int,
    ) -> InteractionLog:
        """Clicks on the shown pairs, each with popularity ``z`` (the item's, or drawn)."""
        prob = self.preference(users, items) * z**self.gamma
        clicks = (rng.random(len(users)) < prob).astype(np.float32)
        stages = np.full(len(users), stage)
        return InteractionLog(users, items, clicks, p, self.n_users, self.n_items, stages)

    def training_log(self, rng: np.random.Generator) -> InteractionLog:
        """Stage by stage, every (user, item) pair is shown with probability p_i(t) (the
        popularity-driven policy) and clicked with σ(·)·z_i(t)^γ."""
        parts = []
        for t in range(self.stages):
            p = self.stage_exposure[t]
            users, items = np.nonzero(rng.random((self.n_users, self.n_items)) < p[None, :])
            parts.append(self._log(rng, users, items, p[items], self.stage_popularity[t][items], t))
        return concat_logs(parts)

    def _uniform_pairs(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Each user is shown ``test_per_user`` distinct items uniformly at random."""
        k = self.test_per_user
        keys = rng.random((self.n_users, self.n_items))
        items = np.argpartition(keys, k - 1, axis=1)[:, :k].ravel()
        return np.repeat(np.arange(self.n_users), k), items

    def uniform_log(self, rng: np.random.Generator) -> InteractionLog:
        """The next stage under random exposure, clicks with conformity σ(·)·z_i^γ: the
        missing-at-random test (Schnabel et al. 2016), the outcome model the training log's,
        only the selection random; popularity has moved on, which PDA predicts."""
        users, items = self._uniform_pairs(rng)
        p = np.full(len(users), self.test_per_user / self.n_items)
        return self._log(rng, users, items, p, self.popularity[items], self.stages)

    def intervened_log(self, rng: np.random.Generator) -> InteractionLog:
        """Random exposure, and popularity cut loose from the item: each shown pair's Z is
        drawn from its marginal (the popularity of a random item), so P(click) averages to
        σ(·)·E[z^γ], the interventional P(C | do(U, I)) = Σ_z P(C | U, I, z) P(z) that PD
        estimates (Zhang et al. 2021). Clicks no longer follow popularity, as in the
        item-balanced ("intervened") test sets used to score deconfounded training."""
        users, items = self._uniform_pairs(rng)
        p = np.full(len(users), self.test_per_user / self.n_items)
        z = self.popularity[rng.integers(self.n_items, size=len(users))]
        return self._log(rng, users, items, p, z, self.stages)


def concat_logs(parts: list[InteractionLog]) -> InteractionLog:
    first = parts[0]
    cols = ("users", "items", "clicks", "propensity", "stage")
    users, items, clicks, prop, stage = (
        np.concatenate([getattr(p, c) for p in parts]) for c in cols
    )
    return InteractionLog(users, items, clicks, prop, first.n_users, first.n_items, stage)


def make_world(rng: np.random.Generator, w: WorldConfig) -> World:
    """Factors; a shuffled Zipf popularity whose log drifts linearly, each item at its own
    rate (N(0, drift²) per stage); the policy scaled to the target log size per stage."""
    users = rng.standard_normal((w.n_users, w.dim)) / np.sqrt(w.dim)
    items = rng.standard_normal((w.n_items, w.dim)) / np.sqrt(w.dim)
    ranks = rng.permutation(w.n_items) + 1.0
    log_z0 = -w.zipf_exponent * np.log(ranks + w.zipf_offset)
    trend = w.drift * rng.standard_normal(w.n_items)
    log_z = log_z0[None, :] + np.arange(w.stages + 1)[:, None] * trend[None, :]
    z = np.exp(log_z - log_z.max(axis=1, keepdims=True))
    per_user = w.train_exposures / w.n_users / w.stages
    p = np.stack([exposure_policy(zt, w.kappa, per_user) for zt in z])
    return World(
        users, items, z, p, w.gamma, w.preference_scale, w.preference_bias, w.test_per_user
    )


def exposure_policy(z: np.ndarray, kappa: float, per_user: float) -> np.ndarray:
    """p_i = min(cap, c·z_i^κ) with c chosen so a user sees ``per_user`` items on average."""
    base = z**kappa
    cap = 0.95
    lo, hi = 0.0, per_user / base.sum() * len(z)
    for _ in range(60):  # bisection: the cap makes Σ p_i piecewise linear in c
        c = (lo + hi) / 2
        lo, hi = (c, hi) if np.minimum(cap, c * base).sum() < per_user else (lo, c)
    return np.minimum(cap, hi * base)


def save_log(log: InteractionLog, path: str) -> str:
    np.savez(
        path,
        users=log.users,
        items=log.items,
        clicks=log.clicks,
        propensity=log.propensity,
        stage=log.stages(),
        shape=np.array([log.n_users, log.n_items]),
    )
    return path


def load_log(path: str) -> InteractionLog:
    with np.load(path) as f:
        n_users, n_items = (int(v) for v in f["shape"])
        return InteractionLog(
            f["users"], f["items"], f["clicks"], f["propensity"], n_users, n_items, f["stage"]
        )


def save_world(world: World, path: str) -> str:
    np.savez(
        path,
        user_factors=world.user_factors,
        item_factors=world.item_factors,
        stage_popularity=world.stage_popularity,
        stage_exposure=world.stage_exposure,
        scalars=np.array([world.gamma, world.scale, world.bias, world.test_per_user]),
    )
    return path


def load_world(path: str) -> World:
    with np.load(path) as f:
        gamma, scale, bias, k = f["scalars"]
        return World(
            f["user_factors"],
            f["item_factors"],
            f["stage_popularity"],
            f["stage_exposure"],
            float(gamma),
            float(scale),
            float(bias),
            int(k),
        )


def check_clicks(logs: dict[str, InteractionLog], w: WorldConfig, rep: int) -> None:
    """The recommenders learn from clicks and are ranked by them: a log without any would
    give NaN for every ranking metric after training on nothing."""
    empty = [name for name, log in logs.items() if not log.clicks.any()]
    if empty:
        raise TopiclabError(
            f"world {rep}: no click in the {', '.join(empty)} log (world.preference_bias "
            f"({w.preference_bias}), world.preference_scale ({w.preference_scale})): raise them"
        )


def generate(ctx: StageContext, cfg: CausalRecsysConfig) -> StageResult:
    """The SCM sample, and per seed a world with its biased training log (stages 0..T−1) and
    two test logs of stage T: random exposure (``test``) and the intervention (``intervened``)."""
    files: dict[str, str] = {}
    path = ctx.path("scm.parquet")
    simulate_scm(rng_for(cfg.seed, "scm"), cfg.scm.n).to_parquet(path)
    files["scm"] = str(path)
    metrics: dict[str, float] = {}
    for rep in range(cfg.world.seeds):
        rng = rng_for(cfg.seed, "world", rep)
        world = make_world(rng, cfg.world)
        logs = {"train": world.training_log(rng)}
        logs |= {"test": world.uniform_log(rng), "intervened": world.intervened_log(rng)}
        check_clicks(logs, cfg.world, rep)
        files[f"world_{rep}"] = save_world(world, str(ctx.path(f"world_{rep}.npz")))
        for name, log in logs.items():
            files[f"{name}_{rep}"] = save_log(log, str(ctx.path(f"{name}_{rep}.npz")))
            if rep == 0:
                metrics[f"{name}_exposures"] = float(len(log.users))
                metrics[f"{name}_clicks"] = float(log.clicks.sum())
    return StageResult(files=files, metrics=metrics, params={"scm_rows": cfg.scm.n})
