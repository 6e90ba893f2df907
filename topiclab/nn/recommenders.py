"""Recommenders for logged implicit feedback (task ``"recommender"``): fit on a log, score.

    spec = ctx.registry.trainer("bpr-mf", task=RECOMMENDER_TASK)
    rec: Recommender = spec.create({"dim": 32, "epochs": 30, "seed": 0})
    rec.fit(log, progress=lambda step, **m: ...)     # log: an InteractionLog of exposures
    scores = rec.score(np.arange(log.n_users))        # (users, items), higher = recommend
    rec.save(path); rec.load(path)

The log holds *exposures* (what the logging policy showed) with a click label and the exposure
propensity of each row. Models:

- ``bpr-mf``: BPR matrix factorisation (Rendle et al. 2009) on the clicks, one uniformly sampled
  negative item per positive; ``weighting="ips"`` weights each positive by 1/propensity scaled to
  the unbiased estimator of Schnabel et al. (2016), ``"snips"`` self-normalises those weights in
  each batch.
- ``pd`` / ``pda`` (Zhang et al., SIGIR 2021): P(click | u, i, exposed in stage t) =
  ELU'(f(u, i))·m_i(t)^γ with m_i(t) the item's popularity in the row's stage and γ learned; PD
  ranks by ELU'(f) alone, PDA by ELU'(f)·m̃_i^γ̂ with m̃ the popularity predicted for the next
  stage, the paper's linear extrapolation m̃ = m(T) + α(m(T) − m(T−1)).
  The paper trains with BPR and γ tuned as a hyperparameter; here the click likelihood is fitted
  on the logged exposures (clicked or not), which makes γ an estimate of how popularity drives
  clicks once shown, and m_i(t) is the logged exposure propensity (no counting noise).
- ``popularity``: click counts, the baseline every debiasing paper reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

RECOMMENDER_TASK = "recommender"


class ProgressFn(Protocol):
    def __call__(self, step: int, **metrics: float) -> None: ...


@dataclass(frozen=True)
class InteractionLog:
    """Logged exposures: row k showed ``items[k]`` to ``users[k]``, clicked or not, in time
    stage ``stage[k]`` (0, 1, ...; None: one stage)."""

    users: np.ndarray  # int64
    items: np.ndarray  # int64
    clicks: np.ndarray  # float32, 0/1
    propensity: np.ndarray  # P(exposed) of each row under the logging policy
    n_users: int
    n_items: int
    stage: np.ndarray | None = None  # int, non-decreasing in time

    def positives(self) -> tuple[np.ndarray, np.ndarray]:
        keep = self.clicks > 0
        return self.users[keep], self.items[keep]

    def stages(self) -> np.ndarray:
        return np.zeros(len(self.users), np.int64) if self.stage is None else self.stage

    def stage_popularity(self) -> np.ndarray:
        """m_i(t), (stages, items): per stage, the item's mean exposure propensity under the
        logging policy over the stage's largest. The policy is logged, so this has none of the
        counting noise of rare items (noise in log m would bias a fitted exponent toward 0);
        an item unseen in a stage gets that stage's least."""
        stage = self.stages()
        rows = []
        for t in range(int(stage.max()) + 1 if len(stage) else 1):
            items, prop = self.items[stage == t], self.propensity[stage == t]
            counts = np.bincount(items, minlength=self.n_items).astype(float)
            sums = np.bincount(items, weights=prop, minlength=self.n_items)
            seen = counts > 0
            m = np.full(self.n_items, (sums[seen] / counts[seen]).min() if seen.any() else 1.0)
            m[seen] = sums[seen] / counts[seen]
            rows.append(m / m.max())
        return np.stack(rows)


@runtime_checkable
class Recommender(Protocol):
    """Fits on an ``InteractionLog`` and scores every item for given users."""

    def fit(self, log: InteractionLog, progress: ProgressFn | None = None) -> None: ...

    def score(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) scores; higher means recommend first."""
        ...


class RecommenderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    dim: int = Field(default=32, ge=1, le=1024, description="latent factors")
    epochs: int = Field(default=30, ge=1, le=10_000)
    batch: int = Field(default=4096, ge=16, le=1_000_000)
    lr: float = Field(default=0.01, gt=0, le=1)
    l2: float = Field(default=0.01, ge=0, le=10, description="L2 penalty on the used embeddings")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class BPRConfig(RecommenderConfig):
    weighting: Literal["none", "ips", "snips"] = "none"
    clip: float = Field(
        default=0.0, ge=0, le=1, description="propensities below this are raised to it (0: none)"
    )


class IPSConfig(BPRConfig):
    weighting: Literal["none", "ips", "snips"] = "ips"


class SNIPSConfig(BPRConfig):
    weighting: Literal["none", "ips", "snips"] = "snips"


class PDConfig(RecommenderConfig):
    dim: int = Field(default=8, ge=1, le=1024, description="latent factors")
    adjust: bool = Field(default=False, description="PDA: rank with the predicted popularity")
    epochs: int = Field(default=15, ge=1, le=10_000)
    alpha: float = Field(
        default=1.0, ge=0, le=10, description="PDA's prediction m(T) + α(m(T) − m(T−1))"
    )


class PDAConfig(PDConfig):
    adjust: bool = Field(default=True, description="PDA: rank with the predicted popularity")


class _Factors(torch.nn.Module):
    """p_u·q_i (+ a user bias and a global bias where asked)."""

    def __init__(self, n_users: int, n_items: int, dim: int, biases: bool) -> None:
        super().__init__()
        self.user = torch.nn.Embedding(n_users, dim)
        self.item = torch.nn.Embedding(n_items, dim)
        torch.nn.init.normal_(self.user.weight, std=0.1)
        torch.nn.init.normal_(self.item.weight, std=0.1)
        self.user_bias = torch.nn.Embedding(n_users, 1) if biases else None
        self.bias = torch.nn.Parameter(torch.zeros(1)) if biases else None
        if self.user_bias is not None:
            torch.nn.init.zeros_(self.user_bias.weight)

    def forward(self, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        out = (self.user(u) * self.item(i)).sum(-1)
        if self.user_bias is not None and self.bias is not None:
            out = out + self.user_bias(u).squeeze(-1) + self.bias
        return out

    def all_items(self, u: torch.Tensor) -> torch.Tensor:
        out = self.user(u) @ self.item.weight.T
        if self.user_bias is not None and self.bias is not None:
            out = out + self.user_bias(u) + self.bias
        return out

    def l2(self, u: torch.Tensor, *items: torch.Tensor) -> torch.Tensor:
        return self.l2_rows(u, *items).mean()

    def l2_rows(self, u: torch.Tensor, *items: torch.Tensor) -> torch.Tensor:
        reg = self.user(u).pow(2).sum(-1)
        for i in items:
            reg = reg + self.item(i).pow(2).sum(-1)
        return reg


class _TorchRecommender:
    """Shared parts: the seeded generator, the module, save/load and scoring."""

    config: RecommenderConfig
    net: _Factors | None = None

    def _net(self) -> _Factors:
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}: call fit() or load() before score()")
        return self.net

    def save(self, path: str | Path) -> None:
        torch.save({"state": self._net().state_dict(), "extra": self._extra()}, path)

    def load(self, path: str | Path) -> None:
        blob = torch.load(path, weights_only=False)
        state = blob["state"]
        n_users, dim = state["user.weight"].shape
        self.net = _Factors(n_users, state["item.weight"].shape[0], dim, "bias" in state)
        self.net.load_state_dict(state)
        self._set_extra(blob["extra"])

    def _extra(self) -> dict[str, object]:
        return {}

    def _set_extra(self, extra: dict[str, object]) -> None:
        pass

    def module(self) -> torch.nn.Module:
        return self._net()


class BPRMF(_TorchRecommender):
    """BPR-MF on the clicks; ``weighting`` ips/snips reweights positives by 1/propensity."""

    def __init__(self, config: BPRConfig) -> None:
        self.config: BPRConfig = config

    def _weights(self, log: InteractionLog) -> np.ndarray:
        keep = log.clicks > 0
        if self.config.weighting == "none":
            return np.ones(int(keep.sum()), np.float32)
        p = np.maximum(log.propensity[keep], self.config.clip or 1e-12)
        # Scaled so that the weighted mean over the log estimates the mean over all pairs of
        # all stages: E_log[1/p] = T·|U×I| / |log|, so w = |log| / (T·|U×I|·p) has mean ≈ 1.
        pairs = (int(log.stages().max()) + 1) * log.n_users * log.n_items
        return (len(log.users) / pairs / p).astype(np.float32)

    def fit(self, log: InteractionLog, progress: ProgressFn | None = None) -> None:
        c = self.config
        gen = torch.Generator().manual_seed(c.seed)
        torch.manual_seed(c.seed)
        self.net = net = _Factors(log.n_users, log.n_items, c.dim, biases=False)
        pu, pi = (torch.as_tensor(a, dtype=torch.long) for a in log.positives())
        w = torch.as_tensor(self._weights(log))
        opt = torch.optim.Adam(net.parameters(), lr=c.lr)
        for epoch in range(c.epochs):
            order = torch.randperm(len(pu), generator=gen)
            total = 0.0
            for start in range(0, len(order), c.batch):
                b = order[start : start + c.batch]
                u, i = pu[b], pi[b]
                j = torch.randint(log.n_items, (len(b),), generator=gen)
                margin = net(u, i) - net(u, j)
                per_row = -torch.nn.functional.logsigmoid(margin)
                wb = w[b]
                denom = wb.sum() if c.weighting == "snips" else torch.tensor(float(len(b)))
                # The penalty is weighted like the row it regularises: unweighted, it would
                # outweigh the down-weighted clicks on popular items and shrink them away.
                reg = (wb * net.l2_rows(u, i, j)).sum() / denom
                loss = (wb * per_row).sum() / denom + c.l2 * reg
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            if progress is not None:
                progress(epoch, loss=total / max(len(pu), 1))

    @torch.no_grad()
    def score(self, users: np.ndarray) -> np.ndarray:
        return self._net().all_items(torch.as_tensor(users, dtype=torch.long)).numpy()


def elu_plus(x: torch.Tensor) -> torch.Tensor:
    """ELU'(x) = e^x for x ≤ 0, x + 1 otherwise: positive, so it can multiply m^γ (PDA eq. 5)."""
    return torch.where(x > 0, x + 1, torch.exp(torch.clamp(x, max=0.0)))


class PD(_TorchRecommender):
    """Popularity-bias Deconfounding (PD) and Adjusting (PDA), Zhang et al. SIGIR 2021.

    Trained pointwise on the logged exposures: the click likelihood ELU'(f(u, i))·m_i(t)^γ, m_i(t)
    the item's popularity in the row's stage and γ a learned scalar, so γ̂ is the model's
    estimate of how popularity drives clicks. Scoring takes popularity out (PD: do(I) cuts
    Z -> I) or puts the next stage's predicted popularity back (PDA).
    """

    def __init__(self, config: PDConfig) -> None:
        self.config: PDConfig = config
        self.gamma = 0.0
        self.popularity: np.ndarray | None = None

    def fit(self, log: InteractionLog, progress: ProgressFn | None = None) -> None:
        c = self.config
        gen = torch.Generator().manual_seed(c.seed)
        torch.manual_seed(c.seed)
        self.net = net = _Factors(log.n_users, log.n_items, c.dim, biases=True)
        by_stage = log.stage_popularity()
        self.popularity = predict_popularity(by_stage, c.alpha)
        assert net.bias is not None
        # Start at the log's click rate: at f = 0 the likelihood is 1, the clamp below is hit
        # and no gradient flows.
        rate = float(np.clip(log.clicks.mean(), 1e-6, 0.5))
        net.bias.data.fill_(math.log(rate))
        # Each row's popularity in its own stage (the paper's local popularity m_i^t).
        log_m = torch.as_tensor(np.log(by_stage[log.stages(), log.items]), dtype=torch.float32)
        gamma = torch.nn.Parameter(torch.zeros(1))
        users, items = (torch.as_tensor(a, dtype=torch.long) for a in (log.users, log.items))
        y = torch.as_tensor(log.clicks, dtype=torch.float32)
        opt = torch.optim.Adam([*net.parameters(), gamma], lr=c.lr)
        for epoch in range(c.epochs):
            order = torch.randperm(len(users), generator=gen)
            total = 0.0
            for start in range(0, len(order), c.batch):
                b = order[start : start + c.batch]
                u, i = users[b], items[b]
                # log P = log ELU'(f) + γ log m, kept below 0 so that P is a probability.
                log_p = torch.log(elu_plus(net(u, i))) + gamma * log_m[b]
                log_p = torch.clamp(log_p, max=-1e-4)
                log_q = torch.log1p(-torch.exp(log_p))
                nll = -(y[b] * log_p + (1 - y[b]) * log_q).mean()
                loss = nll + c.l2 * net.l2(u, i)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(nll.detach()) * len(b)
            self.gamma = float(gamma.detach())
            if progress is not None:
                progress(epoch, loss=total / len(users), gamma=self.gamma)

    @torch.no_grad()
    def score(self, users: np.ndarray) -> np.ndarray:
        f = self._net().all_items(torch.as_tensor(users, dtype=torch.long))
        s = torch.log(elu_plus(f)).numpy()
        if self.config.adjust and self.popularity is not None:
            s = s + self.gamma * np.log(self.popularity)[None, :]  # log of ELU'(f)·m̃^γ̂
        return s

    def _extra(self) -> dict[str, object]:
        return {"gamma": self.gamma, "popularity": self.popularity}

    def _set_extra(self, extra: dict[str, object]) -> None:
        self.gamma = float(extra["gamma"])  # type: ignore[arg-type]
        pop = extra["popularity"]
        self.popularity = None if pop is None else np.asarray(pop)


def predict_popularity(by_stage: np.ndarray, alpha: float) -> np.ndarray:
    """PDA's linear prediction of the next stage's popularity from the last two,
    m(T) + α(m(T) − m(T−1)), kept at or above the last stage's least (it must stay > 0)."""
    last = by_stage[-1]
    if len(by_stage) < 2:
        return last
    return np.maximum(last + alpha * (last - by_stage[-2]), last.min())


class PopularityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class PopularityRecommender:
    """Every user gets the most-clicked items (ties broken by exposures)."""

    def __init__(self, config: PopularityConfig) -> None:
        self.config = config
        self.counts: np.ndarray | None = None

    def fit(self, log: InteractionLog, progress: ProgressFn | None = None) -> None:
        clicks = np.bincount(log.items, weights=log.clicks, minlength=log.n_items)
        shown = np.bincount(log.items, minlength=log.n_items)
        self.counts = clicks + shown / (shown.max() + 1.0)
        if progress is not None:
            progress(0)

    def _counts(self) -> np.ndarray:
        if self.counts is None:
            raise RuntimeError("PopularityRecommender: call fit() or load() first")
        return self.counts

    def score(self, users: np.ndarray) -> np.ndarray:
        counts = self._counts()
        return np.broadcast_to(counts, (len(users), len(counts))).copy()

    def save(self, path: str | Path) -> None:
        # Through a file object: np.save given a name appends ".npy" unless it has that suffix,
        # and load(path) would then not find the file.
        with Path(path).open("wb") as fh:
            np.save(fh, self._counts())

    def load(self, path: str | Path) -> None:
        self.counts = np.load(Path(path))


__all__ = [
    "BPRMF",
    "PD",
    "RECOMMENDER_TASK",
    "BPRConfig",
    "IPSConfig",
    "InteractionLog",
    "PDAConfig",
    "PDConfig",
    "PopularityConfig",
    "PopularityRecommender",
    "Recommender",
    "RecommenderConfig",
    "SNIPSConfig",
    "elu_plus",
    "predict_popularity",
]
