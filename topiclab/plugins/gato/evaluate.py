"""The evaluate stage of gato: roll-outs, digits accuracy, text bits per character.

    from topiclab.plugins.gato.evaluate import evaluate
    result = evaluate(ctx, cfg, data, trained)   # metrics, tables, figures, claims, sections

Control: one episode per seed on seeds ≥ 100,000 (training used < 10,000), with and without a
prompt demonstration (the end of an expert episode, as in the paper), scored as
100·(score − random)/(expert − random) with the frozen constants of ``tasks.py``; a 95 %
bootstrap interval over episodes. A task whose environment raises fails alone: its metrics are
NaN (failing its claims) and the report names it with the error.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn import gato_tokenizer as gt
from topiclab.nn.gato import GatoModel
from topiclab.nn.threads import torch_threads
from topiclab.plugins.gato import data as d
from topiclab.plugins.gato import tasks as tk
from topiclab.plugins.gato.claims import build_claims
from topiclab.plugins.gato.config import GatoConfig
from topiclab.plugins.gato.figures import topic_figures
from topiclab.plugins.gato.rollout import rollout_task

PROMPT_SEED = 9_999  # the demonstration's episode: a training-range seed, not an eval seed


def bootstrap_ci(x: np.ndarray, n: int, seed: int) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean."""
    if len(x) < 2:
        return float("nan"), float("nan")
    g = np.random.default_rng(seed)
    means = x[g.integers(0, len(x), size=(n, len(x)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def demo_prompt(task: tk.ControlTask, steps: int, share: float) -> np.ndarray:
    """The last ``steps`` time steps of the first expert episode from ``PROMPT_SEED`` on that
    passes the data's filter (``share`` of expert), as the training prompts come from filtered
    episodes: a failed one on a lake would end in a hole instead of the goal."""
    episodes, _ = d.expert_episodes(task, 1, share, PROMPT_SEED)
    return np.concatenate(episodes[0][-steps:])


def score_task(
    model: GatoModel,
    cfg: GatoConfig,
    name: str,
    frames: list[Any] | None = None,
    specialist: GatoModel | None = None,
) -> dict[str, Any]:
    """Normalised scores with and without a prompt, and of the task's specialist (prompted),
    on the same seeds: their intervals and the paired differences; ``frames`` gets the
    observations of the first prompted episode."""
    task = tk.TASKS[name]
    n = cfg.eval.frozenlake_episodes if name.startswith("FrozenLake") else cfg.eval.episodes
    seeds = [cfg.eval.first_seed + i for i in range(n)]
    row: dict[str, Any] = {"task": name, "episodes": n}
    demo = demo_prompt(task, cfg.data.prompt_steps, cfg.data.filter_share)
    runs = [("prompt", model, demo), ("no_prompt", model, demo[:0])]
    if specialist is not None:
        runs.append(("specialist", specialist, demo))
    per: dict[str, np.ndarray] = {}
    for label, agent, prompt in runs:
        record = frames if label == "prompt" else None
        returns = rollout_task(agent, task, seeds, prompt, cfg.model.seq_len, record)
        per[label] = np.array([tk.normalised(name, r) for r in returns])
        lo, hi = bootstrap_ci(per[label], cfg.eval.bootstrap, cfg.seed)
        row.update(
            {
                f"return_{label}": float(np.mean(returns)),
                f"score_{label}": float(per[label].mean()),
                f"ci_low_{label}": lo,
                f"ci_high_{label}": hi,
            }
        )
    for key, other in (("prompt_effect", "no_prompt"), ("vs_specialist", "specialist")):
        if other in per:
            diff = per["prompt"] - per[other]
            lo, hi = bootstrap_ci(diff, cfg.eval.bootstrap, cfg.seed)
            row.update({key: float(diff.mean()), f"{key}_low": lo, f"{key}_high": hi})
    return row


def control_scores(
    model: GatoModel,
    cfg: GatoConfig,
    names: list[str],
    specialists: dict[str, GatoModel] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, list[Any]]]:
    """One row per task, and one episode's observations per task; a task whose environment
    (or roll-out) raises is left out and named with its error."""
    rows, errors, frames = [], {}, {}
    for name in names:
        record: list[Any] = []
        try:
            spec = (specialists or {}).get(name)
            rows.append(score_task(model, cfg, name, record, spec))
            frames[name] = record
        except Exception as exc:  # an environment may raise anything; the others go on
            errors[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return rows, errors, frames


@torch.no_grad()
def digits_accuracy(model: GatoModel, labels: np.ndarray, first_patch: int) -> float:
    """Greedy label after [4 patches][SEP], restricted to the characters '0'..'9'."""
    n = d.GRID * d.GRID
    recs = np.stack([d.digit_records(first_patch + n * i, 0)[: n + 1] for i in range(len(labels))])
    logits = model(torch.from_numpy(recs[..., :3]))[:, -1]
    digits = gt.text_tokens("0123456789")
    pred = logits[:, digits].argmax(-1).numpy()
    return float((pred == labels).mean())


@torch.no_grad()
def text_bpc(model: GatoModel, text: str, seq_len: int, batch: int = 16) -> float:
    """Bits per character of ``text`` in non-overlapping windows (bytes = characters: ASCII)."""
    ids = torch.from_numpy(gt.text_tokens(text))
    n = (len(ids) - 1) // seq_len
    x = ids[: n * seq_len].view(n, seq_len)
    y = ids[1 : n * seq_len + 1].view(n, seq_len)
    nats = 0.0
    for i in range(0, n, batch):
        xb = x[i : i + batch]
        rec = torch.stack([xb, torch.zeros_like(xb), torch.full_like(xb, -1)], -1)
        logits = model(rec)
        nats += float(
            F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), y[i : i + batch].reshape(-1), reduction="sum"
            )
        )
    return nats / (n * seq_len) / math.log(2)


def tokenizer_checks() -> dict[str, float]:
    """μ-law + binning round trip and id ranges, measured on a dense grid."""
    x = np.concatenate([np.linspace(-300, 300, 200_001), np.linspace(-1, 1, 200_001)])
    ids = gt.continuous_tokens(x)
    y = np.clip(gt.mu_law(x), -1, 1)
    enc_err = np.abs(gt.bin_centres(ids - gt.CONT_START) - y).max()
    small = np.abs(x) <= 1
    raw_err = np.abs(gt.decode_continuous(ids[small]) - x[small]).max()
    in_range = (ids >= gt.CONT_START).all() and (ids < gt.CONT_START + gt.N_BINS).all()
    return {
        "mu_law_max_error_encoded": float(enc_err),
        "mu_law_max_error_raw_unit": float(raw_err),
        "continuous_ids_in_range": float(in_range),
    }


def load(path: str, patches: np.ndarray) -> GatoModel:
    model: GatoModel = torch.load(path, weights_only=False).eval()
    model.set_images(torch.from_numpy(patches))
    return model


def evaluate(
    ctx: StageContext, cfg: GatoConfig, data: StageResult, trained: StageResult
) -> StageResult:
    with torch_threads(cfg.threads):
        return _evaluate(ctx, cfg, data, trained)


def _evaluate(
    ctx: StageContext, cfg: GatoConfig, data: StageResult, trained: StageResult
) -> StageResult:
    patches = np.load(data.files["patches"])
    model = load(trained.files["gato"], patches)
    specialist = load(trained.files["text_specialist"], patches)
    tasks = data.data["tasks"]
    specialists = {t: load(trained.files[f"spec_{t}"], patches) for t in tasks}
    rows, errors, frames = control_scores(model, cfg, tasks, specialists)
    val_text = Path(data.files["val_text"]).read_text("utf-8")
    first_test_patch = data.data["n_train_digits"] * d.GRID * d.GRID
    metrics: dict[str, float] = {
        "digits_accuracy": digits_accuracy(
            model, np.load(data.files["test_labels"]), first_test_patch
        ),
        "text_bpc_gato": text_bpc(model, val_text, cfg.model.seq_len),
        "text_bpc_specialist": text_bpc(specialist, val_text, cfg.model.seq_len),
        **tokenizer_checks(),
    }
    metrics["text_bpc_ratio"] = metrics["text_bpc_gato"] / metrics["text_bpc_specialist"]
    by_task = {r["task"]: r for r in rows}
    for name in data.data["tasks"]:
        r = by_task.get(name, {})
        for key in (
            "score_prompt",
            "score_no_prompt",
            "ci_low_prompt",
            "prompt_effect",
            "prompt_effect_low",
            "prompt_effect_high",
            "score_specialist",
            "vs_specialist",
            "vs_specialist_low",
            "vs_specialist_high",
        ):
            metrics[f"{key}_{name}"] = float(r.get(key, float("nan")))
        for which in ("random", "expert"):
            metrics[f"{which}_{name}"] = data.metrics[f"{which}_{name}"]
    histories = {k: _read(trained.files[f"history_{k}"]) for k in ("gato", "text_specialist")}
    return StageResult(
        metrics=metrics,
        tables={"control": ctx.write_table("control.csv", rows or [{"task": "-"}])},
        figures=topic_figures(ctx, rows, histories, frames),
        claims=build_claims(metrics, data.data["tasks"], errors),
        sections={"Control roll-outs": control_md(rows, errors)},
        data={"errors": errors},
    )


def _read(path: str) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def control_md(rows: list[dict[str, Any]], errors: dict[str, str]) -> str:
    above50 = sum(r["score_prompt"] >= 50 for r in rows)
    above80 = sum(r["score_prompt"] >= 80 for r in rows)
    text = (
        f"{above50} of {len(rows) + len(errors)} control tasks at ≥ 50 % of expert and "
        f"{above80} at ≥ 80 % (with a prompt). For shape only: Gato has 450 of 604 tasks at "
        "≥ 50 % (Reed et al. 2022, sec. 4.1); JAT a 65.8 % mean over 157 tasks "
        "(Gallouédec et al. 2024). Columns `*_specialist`: each task's specialist (same size, "
        "that task's sequences, the generalist's compute on it), on the same seeds; "
        "`vs_specialist`: generalist − specialist, paired, with its 95 % interval.\n\n"
        "<!-- table:control -->"
    )
    if errors:
        text += "\n\n**Tasks that failed during roll-outs:**\n\n" + "\n".join(
            f"- `{k}`: {v}" for k, v in errors.items()
        )
    return text
