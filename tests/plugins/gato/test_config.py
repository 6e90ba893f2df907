"""gato values that passed validation and then failed mid-run (a tester's finds) are refused in
one line naming the key, and the edge just inside still runs.

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/gato/test_config.py -q
"""

from __future__ import annotations

import numpy as np
import pytest

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry
from topiclab.nn import gato_tokenizer as gt
from topiclab.plugins.gato import tasks as tk
from topiclab.plugins.gato.config import STEP_TOKENS
from topiclab.plugins.gato.evaluate import demo_prompt
from topiclab.plugins.gato.rollout import rollout_task

REFUSED = [
    # quick: seq_len 48, CartPole's 6 tokens a step; the train stage's DAgger roll-outs failed
    # with "context of 1004 tokens > 48" after the data and most of the training
    ("data.prompt_steps=8", "invalid value for 'data.prompt_steps': 8 time steps of CartPole-v1"),
    ("data.prompt_steps=1000", "invalid value for 'data.prompt_steps'"),
    # a text shorter than a window: "high <= 0" in the generate stage
    ("model.seq_len=32768", "invalid value for 'model.seq_len': 32768 tokens need data.text_chars"),
    ("model.seq_len=2000", "invalid value for 'model.seq_len'"),  # quick: 20,000 characters
    # every digit held out: none left to train on ("high <= 0" too)
    ("eval.digits_test=1797", "invalid value for 'eval.digits_test'"),
    # quick's mix has 10 groups (6 tasks, Pendulum 3 times, digits, text): with fewer
    # sequences a fit had no rows, "random_ expects 'from' to be less than 'to'" in train
    ("data.sequences=9", "invalid value for 'data.sequences': 9 sequences leave some of the 10"),
    ("data.val_sequences=6", "invalid value for 'data.val_sequences': 6 sequences leave some"),
    # 10^6 sequences of 2,000 tokens: 32 GB as int32 records, and the trainer's int64 copy
    (
        "data.sequences=1000000\nmodel.seq_len=1999",
        "invalid value for 'data.sequences': 1,000,000 sequences of 2,000 tokens",
    ),
]
ACCEPTED = [
    "data.prompt_steps=7",
    'data.tasks=["FrozenLake-v1"]\ndata.prompt_steps=15',
    "model.seq_len=1999",
    "eval.digits_test=1787",
    "data.sequences=10\ndata.val_sequences=10",
    'data.sequences=6\ndata.val_sequences=6\ndata.tasks=["CartPole-v1"]',  # 3 groups
]


def resolve(overrides: list[str]) -> object:
    return resolve_config(get_registry().topic("gato"), "quick", overrides=overrides)


@pytest.mark.parametrize("override, message", REFUSED)
def test_a_value_a_stage_cannot_take_is_refused(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(override.split("\n"))
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text, text


@pytest.mark.parametrize("overrides", ACCEPTED)
def test_the_edges_just_inside_still_validate(overrides: str) -> None:
    resolve(overrides.split("\n"))


def test_the_full_profile_validates() -> None:
    resolve_config(get_registry().topic("gato"), "full")


def test_step_tokens_are_the_tasks_own() -> None:
    for name, task in tk.TASKS.items():
        env = task.make()
        obs, _ = env.reset(seed=0)
        step = gt.timestep(task.obs_ids(obs), task.action_ids(env.action_space.sample()))
        assert STEP_TOKENS[name] == len(step), name


def test_the_longest_prompt_allowed_rolls_out() -> None:
    # quick's seq_len 48 and the longest CartPole prompt it allows: the roll-out's first context
    # (the prompt, an observation, its action) fits, and an episode runs to its end.
    spec = get_registry().trainer("gato", task="gato")
    options = {"dim": 16, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "multiple_of": 8}
    model = spec.create(options | {"seq_len": 48, "steps": 1}).model.eval()
    task = tk.TASKS["CartPole-v1"]
    prompt = demo_prompt(task, 7, 0.8)
    returns = rollout_task(model, task, [100_000], prompt, 48)
    assert len(returns) == 1 and np.isfinite(returns[0])
