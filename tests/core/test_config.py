"""Config resolution: profile, TOML, overrides; every bad key or value named in one line."""

from typing import Any

import pytest
from pydantic import BaseModel, Field

from topiclab.core.config import parse_override, resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.topic import StageResult, Topic, TopicConfig


class Optim(BaseModel):
    lr: float = Field(1e-3, gt=0)
    kind: str = "adam"


class Cfg(TopicConfig):
    steps: int = Field(100, ge=1)
    optim: Optim = Optim()
    options: dict[str, Any] = Field(default_factory=dict)


class Demo(Topic):
    key = "demo"
    title = "demo"
    Config = Cfg
    profiles = {"quick": {"steps": 5, "optim": {"lr": 0.1}}}

    def generate(self, ctx):
        return StageResult()

    def train(self, ctx, data):
        return StageResult()

    def evaluate(self, ctx, data, trained):
        return StageResult()


def test_profiles_layer_over_defaults():
    assert resolve_config(Demo, "standard").steps == 100
    quick = resolve_config(Demo, "quick")
    assert quick.steps == 5 and quick.optim.lr == 0.1 and quick.optim.kind == "adam"


def test_toml_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("steps = 7\n[optim]\nkind = 'sgd'\n")
    cfg = resolve_config(Demo, "quick", path, ["optim.lr=0.5", "seed=3"])
    assert (cfg.steps, cfg.optim.kind, cfg.optim.lr, cfg.seed) == (7, "sgd", 0.5, 3)


def test_toml_table_per_topic(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[demo]\nsteps = 9\n[other]\nx = 1\n")
    assert resolve_config(Demo, "standard", path, multi_topic_toml=True).steps == 9


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "no.such=1",
            "unknown config key 'no' in the config; valid keys: optim, options, seed, steps",
        ),
        ("optim.beta=1", "unknown config key 'optim.beta' in optim; valid keys: kind, lr"),
        ("steps=0", "invalid value for 'steps'"),
        ("steps=abc", "invalid value for 'steps'"),
        ("steps.x=1", "config key 'steps' has no sub-keys"),
        ("justtext", "is not of the form key=value"),
    ],
)
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as info:
        resolve_config(Demo, "standard", overrides=[override])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_profile_and_missing_file(tmp_path):
    with pytest.raises(
        ConfigError, match="unknown profile 'fast'; choose from: quick, standard, full"
    ):
        resolve_config(Demo, "fast")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(Demo, "quick", tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_config(Demo, "quick", bad)


def test_free_form_dict_fields_take_sub_keys(tmp_path):
    cfg = resolve_config(Demo, "standard", overrides=["options.n_components=3"])
    assert cfg.options == {"n_components": 3}
    path = tmp_path / "c.toml"
    path.write_text("[options]\nk = 'v'\n")
    assert resolve_config(Demo, "standard", path).options == {"k": "v"}


def test_override_values_parse_as_json():
    assert parse_override("a.b=1.5") == (["a", "b"], 1.5)
    assert parse_override("flag=true") == (["flag"], True)
    assert parse_override("name=ddpm") == (["name"], "ddpm")
    assert parse_override("xs=[1,2]") == (["xs"], [1, 2])
