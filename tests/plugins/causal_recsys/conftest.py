"""Load the plugin from this checkout until the lead reinstalls the package (its entry point is
in pyproject.toml); once installed, loading the module twice is refused by pluggy, so the
variable is only set where the entry point is missing. One torch thread, as for diffusion."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("TOPICLAB_NO_PROGRESS", "1")
PLUGIN = "topiclab.plugins.causal_recsys"
INSTALLED = any(ep.value == PLUGIN for ep in entry_points(group="topiclab"))


def plugin_modules(*extra: str) -> str:
    """TOPICLAB_PLUGINS for this folder's tests: the topic (when not installed) and ``extra``."""
    return ",".join([*([] if INSTALLED else [PLUGIN]), *extra])


@pytest.fixture
def with_plugins() -> Callable[..., str]:
    """``with_plugins("support.recsys_plugins")``: the TOPICLAB_PLUGINS value to set."""
    return plugin_modules


@pytest.fixture(autouse=True, scope="module")
def recsys_plugin() -> Iterator[None]:
    """Module-scoped, so that module-scoped fixtures (the quick run) see the plugin too."""
    from topiclab.core.registry import reset_registry

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOPICLAB_PLUGINS", plugin_modules())
        reset_registry()
        yield
    reset_registry()
