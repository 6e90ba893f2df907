"""Roll-outs of the trained model in the real environments, many episodes in one batch.

    from topiclab.plugins.gato.rollout import rollout_task
    returns = rollout_task(model, TASKS["CartPole-v1"], seeds=range(100_000, 100_012),
                           prompt=demo_records, seq_len=96)

Each step the context is [prompt] + the latest whole time steps that fit + the current
observation and separator; the action tokens are then decoded within the action's id range:
greedily for discrete actions, as the median of the predicted bin distribution for
continuous ones. All episodes of a batch have the same context length (same task, same step), so no
padding is needed; a finished episode leaves the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from topiclab.nn import gato_tokenizer as gt
from topiclab.nn.gato import GatoModel
from topiclab.plugins.gato.tasks import ControlTask


def action_dims(task: ControlTask, env: Any) -> int:
    return 1 if task.n_actions else int(np.prod(env.action_space.shape))


def context(
    prompt: np.ndarray, history: list[np.ndarray], current: np.ndarray, seq_len: int
) -> np.ndarray:
    """Prompt, then as many of the latest time steps as fit, then the current observation."""
    room = seq_len - len(prompt) - len(current)
    kept: list[np.ndarray] = []
    for step in reversed(history):
        if len(step) > room:
            break
        kept.insert(0, step)
        room -= len(step)
    return np.concatenate([prompt, *kept, current])


def median_bin(logits: torch.Tensor) -> torch.Tensor:
    """The id of the median bin of the predicted distribution over the 1,024 bins. The argmax
    flickers between neighbouring modes, and the mean is dragged by the tails (the outer bins
    decode to ±256)."""
    cdf = logits.softmax(-1).cumsum(-1)
    return (cdf < 0.5).sum(-1).clamp(max=gt.N_BINS - 1) + gt.CONT_START


@torch.no_grad()
def decode_actions(
    model: GatoModel, ctxs: np.ndarray, task: ControlTask, n_dims: int
) -> list[np.ndarray]:
    """Greedy action tokens for a batch of equal-length contexts [b, n, FIELDS]."""
    lo, hi = task.action_range()
    x = torch.from_numpy(ctxs[..., :3].astype(np.int64))
    out = []
    for _ in range(n_dims):
        logits = model(x)[:, -1, lo:hi]
        ids = logits.argmax(-1) + lo if task.n_actions else median_bin(logits)
        out.append(ids.numpy())
        tok = torch.stack(
            [ids, torch.full_like(ids, gt.LOCAL_ACTION), torch.full_like(ids, -1)], -1
        )
        x = torch.cat([x, tok[:, None]], 1)
    return list(np.stack(out, 1))


def rollout_task(
    model: GatoModel,
    task: ControlTask,
    seeds: list[int],
    prompt: np.ndarray,
    seq_len: int,
    record: list[Any] | None = None,
) -> list[float]:
    """The return of one episode per seed (seeds never used for training); ``record`` gets
    the observations of the first episode (for the report's frames)."""
    envs = [task.make() for _ in seeds]
    obs = [env.reset(seed=s)[0] for env, s in zip(envs, seeds, strict=True)]
    n_dims = action_dims(task, envs[0])
    returns = [0.0] * len(seeds)
    history: list[list[np.ndarray]] = [[] for _ in seeds]
    live = list(range(len(seeds)))
    for _ in range(task.max_steps):
        if not live:
            break
        current = {i: gt.timestep(task.obs_ids(obs[i]), np.zeros(0, dtype=np.int64)) for i in live}
        ctxs = np.stack([context(prompt, history[i], current[i], seq_len - n_dims) for i in live])
        acts = decode_actions(model, ctxs, task, n_dims)
        if record is not None and live[0] == 0:
            record.append(obs[0])
        still = []
        for i, ids in zip(live, acts, strict=True):
            history[i].append(gt.timestep(task.obs_ids(obs[i]), ids))
            obs[i], r, term, trunc, _ = envs[i].step(task.action_of(ids))
            returns[i] += float(r)
            if not (term or trunc):
                still.append(i)
        live = still
    for env in envs:
        env.close()
    return returns
