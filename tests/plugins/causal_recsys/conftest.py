"""Load the plugin from this checkout until the lead reinstalls the package (its entry point is
in pyproject.toml); once installed, loading the module twice is refused by pluggy, so the
variable is only set where the entry point is missing. One torch thread, as for diffusion."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def recsys_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from topiclab.core.registry import reset_registry

    monkeypatch.setenv("TOPICLAB_PLUGINS", plugin_modules())
    reset_registry()
    yield
    monkeypatch.undo()
    reset_registry()
