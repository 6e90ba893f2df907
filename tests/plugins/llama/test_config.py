"""llama's config: values that make no sense are refused in one line before anything runs, and
the trainer spec validates its options (``TrainerSpec.create``)."""

from __future__ import annotations

import pytest

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry
from topiclab.nn.llama_trainer import LlamaTrainer
from topiclab.plugins.llama.config import LlamaConfig


def topic() -> type:
    return type(get_registry().topic("llama"))


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lr=Infinity", "invalid value for 'train.lr': must be a finite number; got inf"),
        ("train.lr=0", "invalid value for 'train.lr': Input should be greater than 0"),
        ("train.steps=true", "invalid value for 'train.steps': Input should be a valid integer"),
        ("train.steps=0", "invalid value for 'train.steps'"),
        ("model.dim=130", "invalid value for 'model': dim (130) must be n_heads (4) times"),
        ("model.dim=36", "even head size"),  # 4 heads of 9: RoPE needs pairs
        ("model.n_kv_heads=3", "invalid value for 'model': n_kv_heads (3) must divide n_heads"),
        ("eval.top_p=2", "invalid value for 'eval.top_p'"),
        ("eval.temperatures=[-1]", "invalid value for 'eval.temperatures.0'"),
        ("threads=-1", "invalid value for 'threads'"),
        ("train.processes=3", "batch_size (8) must divide evenly over processes (3)"),
        ("train.processes=0", "invalid value for 'train.processes'"),
        ("seed=-1", "invalid value for 'seed'"),
        ("trainer=nosuch", "invalid value for 'trainer': unknown trainer for task"),
        ("trainer=ddpm", "invalid value for 'trainer'"),  # a trainer of another task
    ],
)
def test_bad_values_are_refused_before_anything_runs(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(topic(), "quick", overrides=[override])
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("profile", ["quick", "standard", "full"])
def test_every_profile_is_valid(profile: str) -> None:
    assert isinstance(resolve_config(topic(), profile), LlamaConfig)


def test_trainer_spec_creates_from_options_and_names_a_bad_one() -> None:
    spec = get_registry().trainer("llama", task="language-model")
    assert isinstance(spec.create({"dim": 16, "n_heads": 2, "n_kv_heads": 1}), LlamaTrainer)
    with pytest.raises(ConfigError) as info:
        spec.create({"stepz": 3})
    assert str(info.value).startswith("trainer 'llama': invalid value for 'stepz'")


def test_trainer_refuses_a_non_finite_option() -> None:
    spec = get_registry().trainer("llama", task="language-model")
    with pytest.raises(ConfigError, match="trainer 'llama': invalid value for 'lr'"):
        spec.create({"lr": float("inf")})
