"""DAgger for gato: roll-outs on training seeds only, visited states relabelled by the expert,
the generalist's pool rewritten in place for its DAgger tasks only, deterministically."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from topiclab.core.registry import get_registry
from topiclab.nn import gato_tokenizer as gt
from topiclab.nn.gato import GatoModel
from topiclab.plugins.gato import dagger as dg
from topiclab.plugins.gato import data as d
from topiclab.plugins.gato import tasks as tk
from topiclab.plugins.gato.config import EvalConfig, GatoConfig

PENDULUM = tk.TASKS["Pendulum-v1"]


def small_cfg(**data: Any) -> GatoConfig:
    return GatoConfig.model_validate(
        {
            "data": {"dagger_rounds": 2, "dagger_episodes": 3, "sequences": 24, **data},
            "model": {"dim": 16, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "seq_len": 32},
            "train": {"steps": 10},
        },
        strict=False,
    )


def tiny_model(cfg: GatoConfig) -> GatoModel:
    options = {**cfg.model.model_dump(), "multiple_of": 8, "steps": 1}
    model = get_registry().trainer("gato", task="gato").create(options).model.eval()
    assert isinstance(model, GatoModel)
    return model


def test_relabelled_actions_are_the_experts_at_the_visited_states(monkeypatch) -> None:
    cfg = small_cfg()
    seen: list[tuple[list[int], list[list[Any]]]] = []
    original = dg.rollout_task

    def spy(model: GatoModel, task: Any, seeds: list[int], prompt: Any, seq_len: int, visits: Any):
        returns = original(model, task, seeds, prompt, seq_len, visits=visits)
        seen.append((list(seeds), visits))
        return returns

    monkeypatch.setattr(dg, "rollout_task", spy)
    episodes, returns = dg.dagger_episodes(tiny_model(cfg), PENDULUM, cfg, round_=1)
    seeds = [s for part, _ in seen for s in part]
    assert seeds == dg.dagger_seeds(1, 3) and len(returns) == len(episodes) == 3
    assert max(seeds) < 10_000 and min(seeds) >= 5_000  # training seeds, past the demos'
    visits = [v for _, vs in seen for v in vs]
    rng = np.random.default_rng(0)
    for seed, ep, obs in zip(seeds, episodes, visits, strict=True):
        assert len(ep) == len(obs) == PENDULUM.max_steps
        np.testing.assert_allclose(obs[0], PENDULUM.make().reset(seed=seed)[0])
        for rec, o in zip(ep, obs, strict=True):
            expert = PENDULUM.action_ids(tk.pendulum_expert(o, rng))
            np.testing.assert_array_equal(rec[-len(expert) :, 0], expert)  # the action
            np.testing.assert_array_equal(rec[: len(PENDULUM.obs_ids(o)), 0], PENDULUM.obs_ids(o))


def test_seeds_never_reach_evaluation_seeds_and_bad_config_is_refused() -> None:
    every = [s for k in range(10) for s in dg.dagger_seeds(k, 200)]
    assert len(set(every)) == len(every) and max(every) < 10_000 <= EvalConfig().first_seed
    with pytest.raises(ValueError, match="past training seed 10,000"):
        dg.dagger_seeds(20, 200)
    assert small_cfg(tasks=["CartPole-v1"]).data.dagger_active() == []  # not trained: ignored
    assert small_cfg(dagger_rounds=0).data.dagger_active() == []
    assert small_cfg().data.dagger_active() == ["Pendulum-v1"]
    assert dg.round_steps(1000, 3) == [500, 666, 833]


def test_hook_rewrites_only_its_tasks_rows_and_is_deterministic() -> None:
    n = 4 * len(d.groups(small_cfg()))  # four rows of each task: half of them is two
    cfg = small_cfg(sequences=n, dagger_share=0.5)
    eps = {t: d.expert_episodes(tk.TASKS[t], 2, 0.8, 0)[0] for t in cfg.data.tasks}
    text = gt.text_tokens("to be or not to be " * 20)
    seqs = d.build_sequences(cfg, eps, np.arange(10) % 10, text, n, np.random.default_rng(0))
    pools = []
    for _ in range(2):
        pool = torch.from_numpy(seqs.astype(np.int64))
        hook = dg.DaggerHook(tiny_model(cfg), pool, cfg, None)
        hook(dg.round_steps(10, 2)[0] - 1)  # the step after which round 0 runs
        assert [r["round"] for r in hook.returns] == [0]
        pools.append(pool.numpy())
    torch.testing.assert_close(torch.from_numpy(pools[0]), torch.from_numpy(pools[1]))
    rows = d.task_rows(np.arange(n), cfg, "Pendulum-v1")
    changed = np.flatnonzero((pools[0] != seqs).any(axis=(1, 2)))
    assert set(changed) == set(rows[: len(rows) // 2])  # dagger_share 0.5 of Pendulum's rows


def test_rewritten_rows_are_prompted_with_an_expert_demonstrations_end() -> None:
    """Every relabelled sequence starts with the last ``prompt_steps`` steps of one of the
    expert's demonstrations (the evaluation's kind of prompt), not of a roll-out: the
    roll-outs here are of an untrained model, which never ends at rest at the top."""
    cfg = small_cfg(sequences=2 * len(d.groups(small_cfg())), dagger_share=1.0)
    hook = dg.DaggerHook(tiny_model(cfg), torch.zeros(0), cfg, None)
    expert = hook.prompts["Pendulum-v1"]
    assert len(expert) == min(dg.PROMPT_EPISODES, cfg.data.episodes)
    ends = {np.concatenate(ep[-cfg.data.prompt_steps :]).tobytes() for ep in expert}
    rollouts, _ = dg.dagger_episodes(hook.model, PENDULUM, cfg, 0)
    pool = torch.zeros((6, cfg.model.seq_len + 1, gt.FIELDS), dtype=torch.int64)
    dg.rewrite_rows(pool, np.arange(6), rollouts, expert, cfg, np.random.default_rng(0))
    head = cfg.data.prompt_steps * len(rollouts[0][0])  # prompt_share 1: every row
    for row in pool.numpy():
        assert row[:head].tobytes() in ends
        step = row[head : head + len(rollouts[0][0])]  # the body's first step: a roll-out's
        assert any(np.array_equal(step, rec) for ep in rollouts for rec in ep)
