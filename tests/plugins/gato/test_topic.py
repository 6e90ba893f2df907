"""The gato topic end to end (quick profile through ``run_direct``), its experts and roll-outs.

.venv/bin/pytest tests/plugins/gato -q
TOPICLAB_SLOW=1 .venv/bin/pytest tests/plugins/gato -q -m slow    # the standard profile
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry
from topiclab.core.stages import run_direct
from topiclab.core.topic import StageResult, verdict
from topiclab.nn import gato_tokenizer as gt
from topiclab.plugins.gato import data as d
from topiclab.plugins.gato import evaluate as ev
from topiclab.plugins.gato import tasks as tk
from topiclab.plugins.gato import train as train_mod
from topiclab.plugins.gato.config import PROFILES, GatoConfig
from topiclab.plugins.gato.rollout import CachedDecoder, median_bin
from topiclab.plugins.gato.train import is_text

slow = pytest.mark.skipif(os.environ.get("TOPICLAB_SLOW") != "1", reason="set TOPICLAB_SLOW=1")


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StageResult]:
    return run_direct("gato", "quick", root=tmp_path_factory.mktemp("gato-quick"))


def test_models_fitted_in_turn_equal_those_fitted_side_by_side(
    quick: dict[str, StageResult], tmp_path: Path
) -> None:
    """``train.parallel`` is an execution option (in no cache key): the quick run fits two
    models at a time in threads, DAgger's roll-outs included; one at a time must give the
    same weights, losses and scores."""
    assert GatoConfig.model_validate(PROFILES["quick"]).train.parallel == 2
    alone = run_direct("gato", "quick", ["train.parallel=1"], root=tmp_path)
    models = quick["train"].models
    assert set(alone["train"].models) == set(models)
    for name, path in models.items():
        mine = torch.load(alone["train"].models[name], weights_only=False).state_dict()
        theirs = torch.load(path, weights_only=False).state_dict()
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs), name

    def untimed(metrics: dict[str, float]) -> dict[str, float]:
        return {k: v for k, v in metrics.items() if not k.startswith("train_seconds_")}

    assert untimed(alone["train"].metrics) == untimed(quick["train"].metrics)
    assert alone["evaluate"].metrics == quick["evaluate"].metrics


def tiny_model() -> torch.nn.Module:
    spec = get_registry().trainer("gato", task="gato")
    trainer = spec.create(
        {
            "dim": 16,
            "n_layers": 1,
            "n_heads": 2,
            "n_kv_heads": 1,
            "multiple_of": 8,
            "seq_len": 32,
            "steps": 1,
        }
    )
    return trainer.model.eval()


def test_quick_run_outputs(quick: dict[str, StageResult]) -> None:
    gen, train, evaluation = quick["generate"], quick["train"], quick["evaluate"]
    seqs = np.load(gen.files["train_seqs"])
    assert seqs.shape[1:] == (PROFILES["quick"]["model"]["seq_len"] + 1, gt.FIELDS)
    assert seqs[..., 0].max() < gt.VOCAB_SIZE and seqs[..., 3].sum() > 0
    tasks = gen.data["tasks"]
    assert set(train.models) == {"gato", "text_specialist", *(f"spec_{t}" for t in tasks)}
    cfg = GatoConfig.model_validate(PROFILES["quick"])
    assert is_text(d.task_rows(seqs, cfg, "text")).all()
    for t in tasks:  # a specialist's rows are its task's only: ids of that task's kind
        rows = d.task_rows(seqs, cfg, t)
        share = d.groups(cfg).count(t) / len(d.groups(cfg))
        assert len(rows) == round(len(seqs) * share) and not is_text(rows).any()
        kinds = rows[..., 0][rows[..., 3] == 1] >= gt.CONT_START  # action tokens
        assert kinds.all() == (tk.TASKS[t].n_actions == 0) and kinds.any() == kinds.all(), t
    m = evaluation.metrics
    assert 0 <= m["digits_accuracy"] <= 1 and np.isfinite(m["text_bpc_gato"])
    for name in gen.data["tasks"]:
        assert np.isfinite(m[f"score_prompt_{name}"]), name
        assert np.isfinite(m[f"score_specialist_{name}"]) and np.isfinite(
            m[f"vs_specialist_{name}"]
        )
    report = Path(quick["report"].files["report.md"]).read_text()
    assert "Control roll-outs" in report and "CartPole-v1" in report
    assert {f"episode_{t}" for t in tasks} <= set(evaluation.figures)  # a strip per task
    for path in [*evaluation.figures.values(), *evaluation.tables.values()]:
        assert Path(path).stat().st_size > 0


def test_claims_cite_papers_and_quick_fails_none_it_is_not_expected_to_pass(quick) -> None:
    claims = {c.id: c for c in quick["evaluate"].claims}
    assert {
        "mu_law_half_bin",
        "frozen_scores",
        "digits_accuracy",
        "text_vs_specialist",
        "expert_50_CartPole-v1",
        "prompt_raises_score",
        "generalist_vs_specialists",
    } <= set(claims)
    for c in claims.values():
        assert c.source and not re.search(r"issue \d|reference (page )?\d", c.source), c
        assert verdict(c, "quick") != "FAIL", c
    assert claims["mu_law_half_bin"].passed and claims["frozen_scores"].passed


def test_expert_and_random_scores_reproduce_frozen_constants() -> None:
    for name, task in tk.TASKS.items():
        got = tk.measure_scores(task, tk.SCORE_SEEDS)
        assert got["random"] == pytest.approx(tk.RANDOM[name], abs=0.01), name
        assert got["expert"] == pytest.approx(tk.EXPERT[name], abs=0.01), name
        assert tk.normalised(name, tk.EXPERT[name]) == pytest.approx(100.0)


def test_demonstrations_are_filtered_and_tokenised() -> None:
    task = tk.TASKS["FrozenLake-v1"]
    eps, returns = d.expert_episodes(task, 5, 0.8, 0)
    assert len(eps) == 5 and all(r == 1.0 for r in returns)  # only successful episodes
    assert all(step[:, 0].tolist()[1] == gt.SEP for ep in eps for step in ep)


def test_training_prompts_are_demonstration_ends_as_the_evaluation_prompt() -> None:
    """With the defaults every control sequence starts with the last ``prompt_steps`` steps of
    another episode of its task, the shape of the evaluation's prompt; with ``prompt_end_share``
    0.5 (Gato's) some prompts come from the middle of an episode."""
    eps, _ = d.expert_episodes(tk.TASKS["FrozenLake-v1"], 8, 0.8, 0)
    tails = {np.concatenate(ep[-4:]).astype(np.int32).tobytes() for ep in eps}

    def prompts(**data: float) -> list[bool]:
        cfg = GatoConfig.model_validate({"data": {"tasks": ["FrozenLake-v1"], **data}})
        rng = np.random.default_rng(0)
        seqs = d.build_sequences(
            cfg, {"FrozenLake-v1": eps}, np.zeros(4, int), np.zeros(500, int), 60, rng
        )
        return [r[:12].tobytes() in tails for r in d.task_rows(seqs, cfg, "FrozenLake-v1")]

    assert all(prompts())
    assert not all(prompts(prompt_end_share=0.5)) and any(prompts(prompt_end_share=0.5))
    assert not all(prompts(prompt_share=0.0))


def test_an_environment_that_raises_fails_that_task_only(monkeypatch) -> None:
    broken = tk.ControlTask("Broken-v0", n_actions=2)
    monkeypatch.setitem(tk.TASKS, "Broken-v0", broken)
    monkeypatch.setattr(tk.ControlTask, "make", _make_or_raise)
    cfg = GatoConfig.model_validate(
        {"model": PROFILES["quick"]["model"] | {"seq_len": 32}, "eval": PROFILES["quick"]["eval"]}
    )
    rows, errors, frames = ev.control_scores(tiny_model(), cfg, ["CartPole-v1", "Broken-v0"])
    assert [r["task"] for r in rows] == ["CartPole-v1"] and list(frames) == ["CartPole-v1"]
    assert list(errors) == ["Broken-v0"] and "RuntimeError: step failed" in errors["Broken-v0"]
    assert "Broken-v0" in ev.control_md(rows, errors)


def _make_or_raise(self: tk.ControlTask):  # type: ignore[no-untyped-def]
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    if self.name == "Broken-v0":

        def step(action):  # type: ignore[no-untyped-def]
            raise RuntimeError("step failed")

        env.step = step  # type: ignore[method-assign]
    return env


def test_config_refuses_unknown_trainer_and_bad_shape() -> None:
    from topiclab.core.config import resolve_config

    topic = get_registry().topic("gato")
    with pytest.raises(ConfigError, match="unknown trainer"):
        resolve_config(topic, "quick", overrides=["trainer=nosuch"])
    with pytest.raises(ValueError):
        GatoConfig.model_validate({"model": {"dim": 30, "n_heads": 4}})
    with pytest.raises(ValueError):
        GatoConfig.model_validate({"data": {"prompt_share": 1.5}})


@slow
def test_standard_profile_claims(tmp_path: Path) -> None:
    claims = {c.id: c for c in run_direct("gato", "standard", root=tmp_path)["evaluate"].claims}
    assert claims["digits_accuracy"].passed and claims["expert_50_CartPole-v1"].passed


def test_continuous_actions_decode_to_the_median_bin() -> None:
    logits = torch.full((1, gt.N_BINS), -1e9)
    logits[0, [10, 600, 1023]] = torch.log(torch.tensor([0.3, 0.4, 0.3]))
    assert median_bin(logits).tolist() == [gt.CONT_START + 600]


def test_pendulum_step_bins_bounded_values_uniformly_and_omega_by_mu_law() -> None:
    """cos θ, sin θ (bounded to [-1, 1] by the space) and the torque scaled by 2 skip μ-law;
    ω (bounded to ±8) is μ-law encoded. Layout: 3 observation tokens | SEP | 1 action."""
    task = tk.TASKS["Pendulum-v1"]
    step = d.episode_records(task, [np.array([1.0, 0.0, -8.0])], [np.array([1.0])])[0]
    bins = step[:, 0] - gt.CONT_START
    omega = gt.to_bins(gt.mu_law(np.array([-8.0])))[0]
    assert bins.tolist() == [1023, 512, omega, gt.SEP - gt.CONT_START, 768]
    assert step[:, 3].tolist() == [0, 0, 0, 0, 1]
    for torque in (-2.0, -0.3, 0.0, 1.7):
        back = task.action_of(task.action_ids(np.array([torque])))
        assert abs(back[0] - torque) <= 2.0 / gt.N_BINS + 1e-6  # half a bin of [-2, 2]


def test_mountaincar_continuous_step_bins_velocity_uniformly_and_position_by_mu_law() -> None:
    """The velocity (bounded to ±0.07 by the space) and the force (bound 1) skip μ-law; the
    position (−1.2 to 0.6) is μ-law encoded. Layout: 2 observation tokens | SEP | 1 action."""
    task = tk.TASKS["MountainCarContinuous-v0"]
    step = d.episode_records(task, [np.array([-0.5, 0.07])], [np.array([-1.0])])[0]
    bins = step[:, 0] - gt.CONT_START
    pos = gt.to_bins(gt.mu_law(np.array([-0.5])))[0]
    vel = gt.to_bins(np.array([0.07]))[0]
    assert bins.tolist() == [pos, vel, gt.SEP - gt.CONT_START, 0]
    assert step[:, 1].tolist() == [gt.LOCAL_OBS, gt.LOCAL_OBS + 1, gt.LOCAL_TEXT, gt.LOCAL_ACTION]
    assert step[:, 3].tolist() == [0, 0, 0, 1]
    for force in (-1.0, -0.4, 0.0, 1.0):
        back = task.action_of(task.action_ids(np.array([force], dtype=np.float32)))
        assert abs(back[0] - force) <= 1.0 / gt.N_BINS + 1e-6  # half a bin of [-1, 1]


def test_mountaincar_continuous_expert_reaches_the_flag_and_passes_the_filter() -> None:
    """The energy pump reaches the flag (the episode terminates) in 105–111 of the 999 steps
    on seeds 0..49, so every demonstration passes the paper's filter; random never does."""
    task = tk.TASKS["MountainCarContinuous-v0"]
    for seed in range(0, 50, 7):
        ret, obs, acts = tk.run_episode(task, task.expert, seed)
        assert len(obs) <= 111 < task.max_steps and ret > 88, seed
        assert {float(a[0]) for a in acts} == {-1.0, 1.0}  # full force both ways
        assert tk.normalised(task.name, ret) >= 80
    assert len(tk.run_episode(task, None, 0)[1]) == task.max_steps == 999


def test_cached_roll_out_context_gives_the_logits_of_a_full_forward() -> None:
    """The roll-outs' KV cache fed in pieces (a fresh context, then appended tokens) predicts
    what one forward over the whole context does, and refuses to outgrow ``seq_len``."""
    model = tiny_model()
    eps = d.expert_episodes(tk.TASKS["CartPole-v1"], 3, 0.8, 0)[0]
    rng = np.random.default_rng(0)
    x = np.stack([d.control_sequence(eps, 33, True, 4, rng) for _ in range(3)])[:, :32]
    dec = CachedDecoder(model, 3, 32)
    first, rest = dec.feed(x[:, :20], fresh=True), dec.feed(x[:, 20:])
    dec.keep([2, 0])  # two episodes go on, in this order
    again = dec.feed(x[[2, 0], 20:], fresh=True)
    with pytest.raises(ValueError, match="context of 44 tokens"):
        dec.feed(x[[2, 0]])
    dec.close()
    with torch.no_grad():
        full = model(torch.from_numpy(x[..., :3].astype(np.int64)))
    torch.testing.assert_close(first, full[:, 19], rtol=0, atol=1e-5)
    torch.testing.assert_close(rest, full[:, 31], rtol=0, atol=1e-5)
    with torch.no_grad():
        tail = model(torch.from_numpy(x[[2, 0], 20:, :3].astype(np.int64)))
    torch.testing.assert_close(again, tail[:, -1], rtol=0, atol=1e-5)


def test_transposed_lake_is_ambiguous_at_the_start_and_needs_its_own_policy() -> None:
    """Both lakes start in state 0, where their experts act differently, and each expert
    fails on the other lake: only a prompt says at the first step which lake it is."""
    std, tr = tk.TASKS["FrozenLake-v1"], tk.TASKS["FrozenLakeT-v1"]
    assert std.make().reset(seed=1)[0] == tr.make().reset(seed=1)[0] == 0
    assert std.expert(0, None) != tr.expert(0, None)
    for own, other in ((std, tr), (tr, std)):
        wrong = np.mean([tk.run_episode(other, own.expert, s)[0] for s in range(100)])
        right = np.mean([tk.run_episode(other, other.expert, s)[0] for s in range(100)])
        assert wrong <= 0.05 < 0.6 <= right


def test_text_specialist_sees_at_least_the_generalists_text() -> None:
    cfg = GatoConfig()
    groups = len(d.groups(cfg))
    assert train_mod.text_batch(cfg) * groups >= cfg.train.batch_size
    assert (train_mod.text_batch(cfg) - 1) * groups < cfg.train.batch_size
    big = GatoConfig.model_validate({"train": {"text_specialist_batch": 16}})
    assert train_mod.text_batch(big) == 16


def test_task_weights_give_a_task_more_sequences_and_its_specialist_more_steps() -> None:
    """``data.task_weights`` repeats a task in the mix; its rows, and its specialist's steps
    (the generalist's compute on it), follow; a task not trained is not in the mix; an unknown
    name is refused."""
    tasks = ["CartPole-v1", "Pendulum-v1"]
    cfg = GatoConfig.model_validate({"data": {"tasks": tasks, "task_weights": {tasks[1]: 3}}})
    order = d.groups(cfg)
    assert order == ["CartPole-v1", *[tasks[1]] * 3, "digits", "text"]
    rows = d.task_rows(np.arange(60), cfg, tasks[1])
    assert len(rows) == 30 and all(order[k % 6] == tasks[1] for k in rows)
    assert d.task_rows(np.arange(60), cfg, "CartPole-v1").tolist() == list(range(0, 60, 6))
    pend, cart = (train_mod.specialist_steps(cfg, t) for t in (tasks[1], tasks[0]))
    assert (pend, cart) == (round(cfg.train.steps / 2), round(cfg.train.steps / 6))
    alone = GatoConfig.model_validate({"data": {"tasks": tasks[:1]}})
    assert d.groups(alone) == ["CartPole-v1", "digits", "text"]
    with pytest.raises(ValueError, match="task_weights"):
        GatoConfig.model_validate({"data": {"task_weights": {"Acrobot-v1": 2}}})
