"""What plugins register: trainer and estimator specs (topics are ``Topic`` subclasses).

A topic builds what it selected by key from plain options, validated by the spec's config::

    spec = ctx.registry.trainer(cfg.trainer, task="language-model")
    trainer = spec.create({"steps": 500, "vocab_size": 256})     # ConfigError on a bad option
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# pydantic only where options are validated: plugin modules build specs, and loading them
# (``topiclab --help``) stays free of it.
if TYPE_CHECKING:
    from pydantic import BaseModel


def _options(
    kind: str, key: str, config: type[BaseModel] | None, options: Mapping[str, Any] | BaseModel
) -> Any:
    """``options`` as ``config`` (validated), or as a plain dict where the spec has no config."""
    from pydantic import BaseModel, ValidationError

    from topiclab.core.config import describe_validation_error
    from topiclab.core.errors import ConfigError

    if config is None:
        return options.model_dump() if isinstance(options, BaseModel) else dict(options)
    if isinstance(options, config):
        return options
    values = options.model_dump() if isinstance(options, BaseModel) else dict(options)
    try:
        return config.model_validate(values)
    except ValidationError as err:
        hint = ""
        if err.errors()[0]["type"] == "extra_forbidden":
            # Often an option the topic adds itself (a seed), not one the user typed.
            takes = ", ".join(config.model_fields) or "nothing"
            hint = (
                f" ({config.__name__} takes: {takes}; a topic passes its task's options too,"
                " see docs/plugins.md, 'A trainer for an existing topic')"
            )
        raise ConfigError(f"{kind} '{key}': {describe_validation_error(err)}{hint}") from None


@dataclass(frozen=True)
class TrainerSpec:
    """A trainer a topic can select by key.

    ``task`` names the interface the built object follows (for example ``"generative-2d"``:
    ``fit(x, progress) -> None`` and ``sample(n, seed) -> ndarray``); a topic only accepts
    trainers whose task it knows. ``build(config)`` returns a fresh trainer object from a
    validated ``config`` (or from a dict where the spec has no config model).
    """

    key: str
    task: str
    build: Callable[[Any], Any]
    config: type[BaseModel] | None = None
    summary: str = ""

    def create(self, options: Mapping[str, Any] | BaseModel | None = None) -> Any:
        """A fresh trainer from ``options``, validated by ``config`` (one-line ConfigError)."""
        return self.build(_options("trainer", self.key, self.config, options or {}))


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

    def create(self, options: Mapping[str, Any] | BaseModel | None = None) -> Any:
        """A fresh estimator from ``options``, validated by ``config`` (one-line ConfigError)."""
        return self.build(_options("estimator", self.key, self.config, options or {}))
