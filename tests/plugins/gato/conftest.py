"""Load the gato plugin unpackaged until topiclab is reinstalled with its entry point; one
torch thread (small tensors on a shared 2-core machine run faster with one)."""

from collections.abc import Iterator
from importlib import metadata

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="module")
def gato_plugin() -> Iterator[None]:
    """Module scope, so that module-scoped fixtures (the quick run) see the plugin too."""
    from topiclab.core.registry import reset_registry

    installed = any(ep.name == "gato" for ep in metadata.entry_points(group="topiclab"))
    with pytest.MonkeyPatch.context() as mp:
        if not installed:
            mp.setenv("TOPICLAB_PLUGINS", "topiclab.plugins.gato")
        reset_registry()
        yield
    reset_registry()
