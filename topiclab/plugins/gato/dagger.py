"""DAgger for the control tasks: roll the model out, relabel what it saw with the expert.

    from topiclab.plugins.gato.dagger import dagger_episodes
    eps = dagger_episodes(model, task, cfg, round_=0)   # token records, one list per episode

Behaviour cloning trains only on states the expert visits; in closed loop a small error takes
the model to states it never saw, and it copies its own earlier (wrong) actions from the
context. DAgger (Ross, Gordon & Bagnell 2011) rolls the current model out, labels every state
it visited with the expert's action, and adds those episodes to the training data. This is a
departure from Gato (Reed et al. 2022), which trains purely offline on fixed demonstrations:
here the scripted expert is queried during training. Roll-outs use training seeds only
(``DAGGER_SEEDS``, below the validation seeds and far below the evaluation seeds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from topiclab.plugins.gato import data as d
from topiclab.plugins.gato import tasks as tk
from topiclab.plugins.gato.rollout import rollout_task

if TYPE_CHECKING:
    from topiclab.nn.gato import GatoModel
    from topiclab.plugins.gato.config import GatoConfig

DAGGER_SEEDS = range(6_000, 10_000)  # training seeds: demonstrations 0.., validation 5,000..
PROMPT_SEED = 4_999  # a training expert episode for the roll-outs' prompt
PROMPT_EPISODES = 20  # expert demonstrations that prompt the relabelled sequences


def dagger_seeds(round_: int, n: int) -> list[int]:
    """The ``n`` roll-out seeds of round ``round_`` (distinct across rounds)."""
    start = DAGGER_SEEDS.start + round_ * n
    if start + n > DAGGER_SEEDS.stop:
        raise ValueError(f"DAgger round {round_} of {n} episodes runs past training seed 10,000")
    return list(range(start, start + n))


def relabel(task: tk.ControlTask, observations: list[Any], seed: int) -> list[np.ndarray]:
    """The visited observations with the expert's action at each, as token records."""
    rng = np.random.default_rng(seed)
    return d.episode_records(task, observations, [task.expert(o, rng) for o in observations])


def dagger_episodes(
    model: GatoModel, task: tk.ControlTask, cfg: GatoConfig, round_: int
) -> tuple[list[list[np.ndarray]], list[float]]:
    """Roll ``model`` out on round ``round_``'s training seeds (with a prompt on half of them,
    as evaluation does both): the relabelled episodes and the roll-outs' returns."""
    seeds = dagger_seeds(round_, cfg.data.dagger_episodes)
    if max(seeds) >= cfg.eval.first_seed:
        raise ValueError("DAgger seeds must stay below the evaluation seeds")
    _, obs, acts = tk.run_episode(task, task.expert, PROMPT_SEED)
    demo = np.concatenate(d.episode_records(task, obs, acts)[-cfg.data.prompt_steps :])
    episodes: list[list[np.ndarray]] = []
    returns: list[float] = []
    half = len(seeds) // 2
    for part, prompt in ((seeds[:half], demo), (seeds[half:], demo[:0])):
        if not part:
            continue
        visits: list[list[Any]] = []
        returns += rollout_task(model, task, part, prompt, cfg.model.seq_len, visits=visits)
        episodes += [relabel(task, v, s) for v, s in zip(visits, part, strict=True)]
    return episodes, returns


def round_steps(steps: int, rounds: int) -> list[int]:
    """The steps after which each round runs: half the run is pure imitation, the other half
    is split evenly between the rounds (1,000 steps, 3 rounds: 500, 667, 833)."""
    first = steps // 2
    return [first + (steps - first) * k // rounds for k in range(rounds)]


def rewrite_rows(
    pool: torch.Tensor,
    rows: np.ndarray,
    episodes: list[list[np.ndarray]],
    prompts: list[list[np.ndarray]],
    cfg: GatoConfig,
    rng: np.random.Generator,
) -> None:
    """Overwrite ``pool[rows]`` in place with sequences cut from ``episodes`` as the data
    stage cuts expert ones, prompted (``prompt_share``, from the end on ``prompt_end_share``)
    with one of ``prompts``, expert demonstrations: the roll-outs' own ends (a pendulum
    spinning, a car short of the flag) are not what evaluation prompts with."""
    length = cfg.model.seq_len + 1
    for r in rows:
        prompt = rng.random() < cfg.data.prompt_share
        seq = d.control_sequence(
            episodes,
            length,
            prompt,
            cfg.data.prompt_steps,
            rng,
            cfg.data.prompt_end_share,
            prompts,
        )
        pool[int(r)] = torch.from_numpy(seq.astype(np.int64))


class DaggerHook:
    """The generalist's progress callback with DAgger rounds: after each round's step it rolls
    the model out on every DAgger task, aggregates the relabelled episodes, and rewrites
    ``dagger_share`` of that task's rows of the training pool in place (the trainer draws its
    batches from that same tensor). Deterministic under the seed: roll-outs are greedy/median
    decoding on fixed seeds, the rows are cut with a generator seeded by (seed, round)."""

    def __init__(
        self, model: GatoModel, pool: torch.Tensor, cfg: GatoConfig, progress: Any | None
    ) -> None:
        self.model, self.pool, self.cfg, self.progress = model, pool, cfg, progress
        self.stops = round_steps(cfg.train.steps, cfg.data.dagger_rounds)
        self.episodes: dict[str, list[list[np.ndarray]]] = {t: [] for t in cfg.data.dagger_active()}
        # prompts: the task's first demonstrations (the data stage's, without DART noise)
        n, share = min(PROMPT_EPISODES, cfg.data.episodes), cfg.data.filter_share
        self.prompts = {
            t: d.expert_episodes(tk.TASKS[t], n, share, 0)[0] for t in cfg.data.dagger_active()
        }
        self.returns: list[dict[str, Any]] = []

    def __call__(self, step: int, **metrics: float) -> None:
        if self.progress is not None:
            self.progress(step, **metrics)
        if step + 1 in self.stops:
            self.run_round(self.stops.index(step + 1))

    def run_round(self, k: int) -> None:
        seqs = self.pool.view(-1, self.cfg.model.seq_len + 1, self.pool.shape[-1])
        order = d.groups(self.cfg)
        self.model.eval()
        try:
            for task in self.cfg.data.dagger_active():
                new, returns = dagger_episodes(self.model, tk.TASKS[task], self.cfg, k)
                self.episodes[task] += new
                rows = d.task_index(len(seqs), self.cfg, task)
                rows = rows[: round(self.cfg.data.dagger_share * len(rows))]
                rng = np.random.default_rng([self.cfg.seed, k, order.index(task)])
                rewrite_rows(seqs, rows, self.episodes[task], self.prompts[task], self.cfg, rng)
                score = np.mean([tk.normalised(task, r) for r in returns])
                self.returns.append({"round": k, "task": task, "rollout_score": float(score)})
        finally:
            self.model.train()
