"""Load the rl-llm plugin unpackaged until topiclab is reinstalled with its entry point; one
torch thread (small tensors on a shared 2-core machine run faster with one). ``quick`` runs the
topic's stages with a tiny random byte-level Llama as its upstream SFT model (the llama topic's
quick run would train one; the stages only need a ``torch.save``d byte-level model and text)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="module")
def rl_llm_plugin() -> Iterator[None]:
    from topiclab.core.registry import reset_registry

    installed = any(ep.name == "rl-llm" for ep in metadata.entry_points(group="topiclab"))
    with pytest.MonkeyPatch.context() as mp:
        if not installed:
            mp.setenv("TOPICLAB_PLUGINS", "topiclab.plugins.rl_llm")
        reset_registry()
        yield
    reset_registry()


from support.rl_llm import run_quick  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_quick(tmp_path_factory.mktemp("rl-llm-quick"))
