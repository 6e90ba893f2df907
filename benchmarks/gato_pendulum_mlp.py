"""Pendulum's imitation problem without the transformer: an MLP on one observation.

    PYTHONPATH=$PWD python benchmarks/gato_pendulum_mlp.py --steps 400
    PYTHONPATH=$PWD python benchmarks/gato_pendulum_mlp.py --steps 800
    PYTHONPATH=$PWD python benchmarks/gato_pendulum_mlp.py --steps 400 --dagger 3

The policy is a two-hidden-layer MLP from the observation's bin values (cos θ, sin θ, μ-law θ',
as the value features give them) to the 1,024 torque bins, trained with cross-entropy on the
states of 300 filtered expert demonstrations (batch 300, AdamW 3e-3) and decoded as the
median bin, as gato decodes. It asks whether the expert can be imitated from the observation
at a given number of samples, and what DAgger (``--dagger``: half the steps, then rounds of 20
roll-outs on training seeds 6,000.. whose states, relabelled by the expert, join the pool)
adds, in seconds instead of minutes. ``--catch W``: loss weight W on the catch at the top
(cos θ > 0.6, |expert torque| ≥ 0.7). 30 closed-loop roll-outs on seeds 100,000.. (% of
expert, mean ± standard error). One torch thread.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
from torch import nn

from topiclab.nn import gato_tokenizer as gt
from topiclab.plugins.gato import tasks as tk

TASK = tk.TASKS["Pendulum-v1"]
RNG = np.random.default_rng(0)  # the scripted expert draws nothing from it


def features(obs: Any) -> np.ndarray:
    return gt.bin_centres(TASK.obs_ids(obs) - gt.CONT_START)


def episode(policy: Any, seed: int) -> tuple[float, list[Any]]:
    env = TASK.make()
    obs, _ = env.reset(seed=seed)
    total, seen = 0.0, []
    for _ in range(TASK.max_steps):
        seen.append(obs)
        obs, r, _, _, _ = env.step(policy(obs))
        total += float(r)
    env.close()
    return total, seen


class Imitator:
    """The MLP, its optimiser and its growing pool of (features, expert bin, weight)."""

    def __init__(self, width: int, catch: float, seed: int) -> None:
        torch.manual_seed(seed)
        self.net = nn.Sequential(
            nn.Linear(3, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
            nn.Linear(width, gt.N_BINS),
        )  # fmt: skip
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=3e-3)
        self.catch = catch
        self.x: list[np.ndarray] = []
        self.y: list[int] = []
        self.w: list[float] = []

    def add(self, states: list[Any]) -> None:
        """The states with the expert's torque bin at each."""
        for obs in states:
            u = TASK.expert(obs, RNG)
            self.x.append(features(obs))
            self.y.append(int(TASK.action_ids(u)[0]) - gt.CONT_START)
            self.w.append(self.catch if obs[0] > 0.6 and abs(u[0]) >= 0.7 else 1.0)

    def fit(self, steps: int, batch: int = 300) -> float:
        x = torch.tensor(np.array(self.x), dtype=torch.float32)
        y, w = torch.tensor(self.y), torch.tensor(self.w)
        loss = torch.zeros(())
        for _ in range(steps):
            idx = torch.randint(0, len(x), (batch,))
            nll = nn.functional.cross_entropy(self.net(x[idx]), y[idx], reduction="none")
            loss = (nll * w[idx]).sum() / w[idx].sum()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        return float(loss.detach())

    @torch.no_grad()
    def __call__(self, obs: Any) -> np.ndarray:
        cdf = self.net(torch.tensor(features(obs), dtype=torch.float32)[None]).softmax(-1)
        b = min(int((cdf.cumsum(-1) < 0.5).sum()), gt.N_BINS - 1)
        return TASK.action_of(np.array([b + gt.CONT_START]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--catch", type=float, default=1.0, help="loss weight of catch states")
    ap.add_argument("--dagger", type=int, default=0, help="DAgger rounds of 20 roll-outs")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = Imitator(a.width, a.catch, a.seed)
    kept = 0
    for seed in range(1000):  # 300 demonstrations at ≥ 80 % of expert, as the data stage
        ret, states = episode(lambda o: TASK.expert(o, RNG), seed)
        if tk.normalised(TASK.name, ret) >= 80:
            model.add(states)
            kept += 1
        if kept == 300:
            break
    first = a.steps // 2 if a.dagger else a.steps
    loss = model.fit(first)
    for k in range(a.dagger):
        for seed in range(6000 + 20 * k, 6020 + 20 * k):
            model.add(episode(model, seed)[1])
        loss = model.fit((a.steps - first) // a.dagger)
    scores = [tk.normalised(TASK.name, episode(model, s)[0]) for s in range(100_000, 100_030)]
    se = np.std(scores, ddof=1) / np.sqrt(len(scores))
    print(f"{vars(a)}: final loss {loss:.2f}, closed loop {np.mean(scores):.1f} ± {se:.1f} % "
          "of expert (30 roll-outs)")  # fmt: skip


if __name__ == "__main__":
    main()
