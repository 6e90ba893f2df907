"""Load the compression plugin by module name (topiclab is not reinstalled with its entry
point while it is developed); the registry is rebuilt around each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def compression_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from topiclab.core.registry import reset_registry

    monkeypatch.setenv("TOPICLAB_PLUGINS", "topiclab.plugins.compression")
    reset_registry()
    yield
    monkeypatch.undo()
    reset_registry()
