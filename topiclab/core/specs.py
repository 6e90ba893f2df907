"""What plugins register: trainer and estimator specs (topics are ``Topic`` subclasses)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class TrainerSpec:
    """A trainer a topic can select by key.

    ``task`` names the interface the built object follows (for example ``"generative-2d"``:
    ``fit(x, progress) -> None`` and ``sample(n, seed) -> ndarray``); a topic only accepts
    trainers whose task it knows. ``build(config)`` returns a fresh trainer object.
    """

    key: str
    task: str
    build: Callable[[Any], Any]
    config: type[BaseModel] | None = None
    summary: str = ""


@dataclass(frozen=True)
class EstimatorSpec:
    """A causal estimator (DoWhy-backed or not) a topic or a user can select by key.

    ``build(config)`` returns an object with ``fit(data, graph, **roles)``; ``kind`` groups
    estimators (``"iv"``, ``"backdoor"``, ``"icp"``, ...).
    """

    key: str
    kind: str
    build: Callable[[Any], Any]
    config: type[BaseModel] | None = None
    summary: str = ""
