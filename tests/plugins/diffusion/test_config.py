"""diffusion's config: values that make no sense are refused in one line before anything runs;
trainer keys are checked against the registry with their task."""

from __future__ import annotations

import pytest

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry


def topic() -> type:
    return type(get_registry().topic("diffusion"))


@pytest.mark.parametrize(
    "override, message",
    [
        ("toy.lr=Infinity", "invalid value for 'toy.lr': must be a finite number; got inf"),
        ("toy.T=1", "invalid value for 'toy.T'"),
        ("toy.ddim_steps=[5000]", "invalid value for 'toy': ddim_steps [5000] must not exceed T"),
        ('toy.datasets=["spiral"]', "invalid value for 'toy.datasets.0'"),
        ("toy.datasets=[]", "invalid value for 'toy.datasets'"),
        ("toy.n_train=0", "invalid value for 'toy.n_train'"),
        ("toy.beta_end=1", "invalid value for 'toy.beta_end'"),
        ("digits.n_samples=1", "invalid value for 'digits.n_samples'"),
        ("digits.enabled=1", "invalid value for 'digits.enabled'"),
        ("torch_threads=-1", "invalid value for 'torch_threads'"),
        ("trainer=nosuch", "invalid value for 'trainer': unknown trainer for task 'generative'"),
        ("trainer=llama", "invalid value for 'trainer'"),  # a language-model trainer
        ("digits.trainer=nosuch", "invalid value for 'digits.trainer'"),
    ],
)
def test_bad_values_are_refused_before_anything_runs(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(topic(), "quick", overrides=[override])
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("profile", ["quick", "standard", "full"])
def test_every_profile_is_valid(profile: str) -> None:
    resolve_config(topic(), profile)


def test_ddpm_options_are_validated_by_its_config() -> None:
    with pytest.raises(ConfigError, match="trainer 'ddpm': invalid value for 'T'"):
        get_registry().trainer("ddpm", task="generative").create({"T": 1})


def test_ddpm_refuses_a_non_finite_option() -> None:
    with pytest.raises(ConfigError, match="trainer 'ddpm': invalid value for 'lr'"):
        get_registry().trainer("ddpm", task="generative").create({"lr": float("nan")})


@pytest.mark.parametrize(
    "override, message",
    [
        # The evaluate stage reads T and β from `toy` (DDIM steps, the exact-score sampler, the
        # trajectory's times): a DDPM trained on other ones failed after training
        # ("AssertionError: DDIM needs 1 <= steps <= T, got steps=10, T=5").
        ('trainer_options={"T": 5}', "invalid value for 'trainer_options.T': "),
        ('trainer_options={"beta_end": 0.3}', "invalid value for 'trainer_options.beta_end': "),
        # The 2-D data are rows: the U-Net failed in the train stage.
        ('trainer_options={"denoiser": "unet"}', "invalid value for 'trainer_options.denoiser'"),
        # The digits part hands the trainer U-Net options (denoiser, width) that no other
        # trainer takes: "trainer 'gan': invalid value for 'denoiser'" after the 2-D fits.
        ("digits.trainer=gan", "invalid value for 'digits.trainer': "),
        ("digits.trainer=vae", "invalid value for 'digits.trainer': "),
    ],
)
def test_options_the_stages_cannot_take_together_are_refused(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(topic(), "quick", overrides=[override])
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text, text


@pytest.mark.parametrize(
    "overrides",
    [
        ['trainer_options={"ema": 0.9, "steps": 5}'],  # what the topic does not read stays free
        ["trainer=gan", 'trainer_options={"steps": 5}'],
        ["digits.trainer=gan", "digits.enabled=false"],  # not trained: not refused
        ["digits.enabled=true", "digits.trainer=ddpm"],
    ],
)
def test_options_next_to_those_rules_are_accepted(overrides: list[str]) -> None:
    resolve_config(topic(), "quick", overrides=overrides)
