"""Roll-outs of the trained model in the real environments, many episodes in one batch.

    from topiclab.plugins.gato.rollout import rollout_task
    returns = rollout_task(model, TASKS["CartPole-v1"], seeds=range(100_000, 100_012),
                           prompt=demo_records, seq_len=96)

The context starts as [prompt] + the current observation and separator; the action tokens are
then decoded within the action's id range: greedily for discrete actions, as the median of the
predicted bin distribution for continuous ones. The model keeps its keys and values (Llama's KV
cache), so each step feeds only its new tokens (the last action token, the next observation,
the separator). When the context would outgrow ``seq_len``, it is rebuilt from the prompt and
the latest whole time steps that fit in half of it: the model always sees between about half
and all of its training context, starting at a time step's boundary as its training windows do.
All episodes of a batch have the same context length (same task, same step), so no padding is
needed; a finished episode leaves the batch and its rows of the cache.
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


class CachedDecoder:
    """A batch of contexts held as the model's KV cache; ``feed`` appends tokens to all."""

    def __init__(self, model: GatoModel, batch: int, seq_len: int) -> None:
        self.model, self.seq_len, self.pos = model, seq_len, 0
        model.llama.setup_cache(batch, seq_len)

    def feed(self, recs: np.ndarray, fresh: bool = False) -> torch.Tensor:
        """Token records [b, k, FIELDS] (``fresh``: they replace the context) -> the logits
        [b, vocab] after the last of them."""
        if fresh:
            self.pos = 0
        x = torch.from_numpy(recs[..., :3].astype(np.int64))
        if self.pos + x.shape[1] > self.seq_len:
            raise ValueError(f"context of {self.pos + x.shape[1]} tokens > {self.seq_len}")
        h = self.model.embed(x)
        logits = self.model.llama(inputs_embeds=h, start_pos=self.pos, last_only=True)
        self.pos += x.shape[1]
        return logits[:, -1]

    def keep(self, rows: list[int]) -> None:
        """Only these rows (episodes) of the batch go on."""
        for attn in self.model.llama.attentions():
            cache = attn.cache
            assert cache is not None
            cache.k, cache.v = cache.k[rows], cache.v[rows]

    def close(self) -> None:
        self.model.clear_cache()


def pick(logits: torch.Tensor, task: ControlTask) -> np.ndarray:
    lo, hi = task.action_range()
    part = logits[:, lo:hi]
    return (part.argmax(-1) + lo if task.n_actions else median_bin(part)).numpy()


def action_record(ids: np.ndarray) -> np.ndarray:
    """Action ids [b] -> one token record each [b, 1, FIELDS] (local position of actions)."""
    rec = np.zeros((len(ids), 1, gt.FIELDS), dtype=np.int64)
    rec[:, 0, 0], rec[:, 0, 1], rec[:, 0, 2] = ids, gt.LOCAL_ACTION, -1
    return rec


@torch.no_grad()
def decode_actions(
    dec: CachedDecoder, first: np.ndarray, fresh: bool, task: ControlTask, n_dims: int
) -> np.ndarray:
    """Feed ``first`` [b, k, FIELDS], then decode ``n_dims`` action ids each [b, n_dims]; the
    last action token is left for the next step's feed."""
    logits = dec.feed(first, fresh)
    out = [pick(logits, task)]
    for _ in range(n_dims - 1):
        out.append(pick(dec.feed(action_record(out[-1])), task))
    return np.stack(out, 1)


def rollout_task(
    model: GatoModel,
    task: ControlTask,
    seeds: list[int],
    prompt: np.ndarray,
    seq_len: int,
    record: list[Any] | None = None,
    visits: list[list[Any]] | None = None,
) -> list[float]:
    """The return of one episode per seed (for scores: seeds never used for training);
    ``record`` gets the observations of the first episode (for the report's frames),
    ``visits`` one list per seed of every observation the model acted on (DAgger)."""
    envs = [task.make() for _ in seeds]
    obs = [env.reset(seed=s)[0] for env, s in zip(envs, seeds, strict=True)]
    n_dims = action_dims(task, envs[0])
    returns = [0.0] * len(seeds)
    history: list[list[np.ndarray]] = [[] for _ in seeds]
    live = list(range(len(seeds)))
    if visits is not None:
        visits[:] = [[] for _ in seeds]
    dec = CachedDecoder(model, len(seeds), seq_len)
    last = np.zeros((len(seeds), 0, gt.FIELDS), dtype=np.int64)  # the unfed action token
    try:
        for t in range(task.max_steps):
            if not live:
                break
            none = np.zeros(0, dtype=np.int64)
            current = [gt.timestep(task.obs_ids(obs[i]), none) for i in live]
            fresh = t == 0 or dec.pos + last.shape[1] + len(current[0]) + n_dims - 1 > seq_len
            if fresh:  # rebuild: the prompt and the latest steps that fit in half the context
                half = max(seq_len // 2, len(prompt) + len(current[0]) + n_dims)
                feed = np.stack(
                    [
                        context(prompt, history[i], c, half)
                        for i, c in zip(live, current, strict=True)
                    ]
                )
            else:
                feed = np.concatenate([last, np.stack(current)], 1)
            acts = decode_actions(dec, feed, fresh, task, n_dims)
            last = action_record(acts[:, -1])
            if record is not None and live[0] == 0:
                record.append(obs[0])
            rows = []
            for row, (i, ids) in enumerate(zip(live, acts, strict=True)):
                if visits is not None:
                    visits[i].append(obs[i])
                history[i].append(gt.timestep(task.obs_ids(obs[i]), ids))
                obs[i], r, term, trunc, _ = envs[i].step(task.action_of(ids))
                returns[i] += float(r)
                if not (term or trunc):
                    rows.append(row)
            if len(rows) < len(live):
                dec.keep(rows)
                live, last = [live[r] for r in rows], last[rows]
    finally:
        dec.close()
        for env in envs:
            env.close()
    return returns
