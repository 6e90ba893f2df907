"""The example third-party plugin bounds every count and scale, as the built-in topics do:
``--set steps=99999999999999999999`` is refused at validation, not run forever."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.topic import TopicConfig

# This checkout's file: the shared venv's editable install may point at another checkout.
RIDGE = Path(__file__).parent / "example_plugin" / "src" / "topiclab_example" / "ridge.py"


def _ridge() -> type:
    spec = importlib.util.spec_from_file_location("ridge_under_test", RIDGE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RidgeTopic


OWN = sorted(set(_ridge().Config.model_fields) - set(TopicConfig.model_fields))


@pytest.mark.parametrize("field", OWN)
def test_every_ridge_setting_has_an_upper_bound(field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        resolve_config(_ridge(), "quick", overrides=[f"{field}=99999999999999999999"])


def test_profiles_stay_within_the_bounds() -> None:
    for profile in ("quick", "standard", "full"):
        resolve_config(_ridge(), profile)
