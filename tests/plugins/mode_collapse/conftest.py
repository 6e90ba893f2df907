"""Load the mode-collapse plugin for these tests, and one torch thread.

Until the package is reinstalled with its entry point, the plugin is loaded as a module
(``TOPICLAB_PLUGINS``); once the entry point exists, the variable is not set (it would register
the module twice).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata

import pytest
import torch

torch.set_num_threads(1)
MODULE = "topiclab.plugins.mode_collapse"


@pytest.fixture(scope="module", autouse=True)
def mode_collapse_plugin() -> Iterator[None]:
    from topiclab.core.registry import reset_registry

    installed = any(ep.value == MODULE for ep in metadata.entry_points(group="topiclab"))
    with pytest.MonkeyPatch.context() as mp:
        if not installed:
            mp.setenv("TOPICLAB_PLUGINS", MODULE)
        reset_registry()
        yield
    reset_registry()
