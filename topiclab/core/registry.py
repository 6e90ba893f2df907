"""Registries of topics, trainers and estimators, filled from the plugin hooks.

    from topiclab.core.registry import get_registry
    reg = get_registry()
    reg.topic("diffusion"), reg.trainer("ddpm"), reg.estimator("iv.2sls")

Each process builds its own (plugin objects never cross a process boundary).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from topiclab.core.errors import DuplicateKeyError, PluginLoadError, UnknownKeyError
from topiclab.core.plugins import LoadedPlugins, PluginInfo, env_flag, load_plugins
from topiclab.core.specs import EstimatorSpec, TrainerSpec
from topiclab.core.topic import Topic

T = TypeVar("T")


@dataclass
class Registry:
    plugins: LoadedPlugins
    topics: dict[str, type[Topic]] = field(default_factory=dict)
    trainers: dict[str, TrainerSpec] = field(default_factory=dict)
    estimators: dict[str, EstimatorSpec] = field(default_factory=dict)
    owner: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, key) -> plugin name

    @property
    def hook(self) -> Any:
        return self.plugins.manager.hook

    def topic(self, key: str) -> Topic:
        if key not in self.topics:
            raise UnknownKeyError("topic", key, self.topics)
        return self.topics[key]()

    def trainer(self, key: str, task: str | None = None) -> TrainerSpec:
        """The trainer ``key``; with ``task``, only trainers of that task are valid choices."""
        valid = {k: s for k, s in self.trainers.items() if task is None or s.task == task}
        if key not in valid:
            raise UnknownKeyError(f"trainer{f' for task {task!r}' if task else ''}", key, valid)
        return valid[key]

    def estimator(self, key: str, kind: str | None = None) -> EstimatorSpec:
        valid = {k: s for k, s in self.estimators.items() if kind is None or s.kind == kind}
        if key not in valid:
            raise UnknownKeyError(f"{kind} estimator" if kind else "estimator", key, valid)
        return valid[key]

    def plugin_of(self, kind: str, key: str) -> PluginInfo | None:
        name = self.owner.get((kind, key))
        return next((p for p in self.plugins.infos if p.name == name), None)

    def fingerprint(self, topic_key: str, config: dict[str, Any] | None = None) -> str:
        """Identity of the code a topic's stages can run, for cache keys.

        Hashes the sources ``core.fingerprint.code_files`` finds (the topic's plugin, the
        plugins of the trainers and estimators ``config`` names, what they import, core) and the
        versions of the plugins involved. Over-invalidating costs a recomputation;
        under-invalidating would serve stale numbers.
        """
        from topiclab.core.fingerprint import code_files

        used = set(_strings(config or {}))
        keys = [("topic", topic_key)]
        keys += [("trainer", k) for k in used & set(self.trainers)]
        keys += [("estimator", k) for k in used & set(self.estimators)]
        names = {name for key in keys if (name := self.owner.get(key))}
        # The registering plugin and the module that builds each object (they may differ).
        modules = {p.module.partition(":")[0] for p in self.plugins.infos if p.name in names}
        modules.add(self.topics[topic_key].__module__)
        modules |= {self.trainers[k].build.__module__ for kind, k in keys if kind == "trainer"}
        modules |= {self.estimators[k].build.__module__ for kind, k in keys if kind == "estimator"}
        digest = hashlib.sha256()
        for path in code_files(modules):
            digest.update(path.read_bytes())
        for info in self.plugins.infos:
            if info.name in names:
                digest.update(f"{info.name}={info.version}".encode())
        return digest.hexdigest()[:16]


def _strings(tree: Any) -> list[str]:
    """Every string in a nested config, mapping keys included: trainer and estimator keys are
    named as values (``trainer="gmm"``) or as keys of per-key options (``options={"gmm": ..}``)."""
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, dict):
        return [s for k, v in tree.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(tree, list | tuple):
        return [s for v in tree for s in _strings(v)]
    return []


def _collect(
    reg: Registry,
    hook: Any,
    kind: str,
    key_of: Callable[[Any], str],
    store: dict[str, Any],
    strict: bool,
) -> None:
    pm = reg.plugins.manager
    for impl in reversed(hook.get_hookimpls()):  # registration order
        name = pm.get_name(impl.plugin) or "?"
        try:
            items = _checked(impl.function() or [], kind)
        except Exception as exc:
            info = next((p for p in reg.plugins.infos if p.name == name), None)
            message = f"{type(exc).__name__} in {hook.name}: {exc}".splitlines()[0]
            if info is not None and not info.error:  # the first error is the one to fix
                info.error = message
            if strict:
                raise PluginLoadError(f"plugin '{name}' failed: {message}") from exc
            continue
        for item in items:
            key = key_of(item)
            if key in store:
                raise DuplicateKeyError(kind, key, reg.owner[(kind, key)], name)
            store[key] = item
            reg.owner[(kind, key)] = name


_EXPECTED: dict[str, tuple[type, str]] = {
    "topic": (Topic, "Topic subclasses"),
    "trainer": (TrainerSpec, "TrainerSpec objects"),
    "estimator": (EstimatorSpec, "EstimatorSpec objects"),
}


def _checked(items: Any, kind: str) -> list[Any]:
    """A hook's result if it is a list of what ``kind`` registers; else a TypeError, so that
    the plugin is reported like one whose hook raised (a string or ``[42]`` used to stop every
    command with an AttributeError)."""
    expected, what = _EXPECTED[kind]
    ok = isinstance(items, list | tuple) and all(
        isinstance(i, type) and issubclass(i, expected)
        if kind == "topic"
        else isinstance(i, expected)
        for i in items
    )
    if not ok:
        raise TypeError(f"expected a list of {what}, got {_short(items)}")
    return list(items)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def build_registry(strict: bool | None = None) -> Registry:
    loaded = load_plugins(strict)
    reg = Registry(loaded)
    strict_flag = env_flag("TOPICLAB_STRICT_PLUGINS") if strict is None else strict
    hook = loaded.manager.hook
    _collect(reg, hook.topiclab_register_topics, "topic", lambda t: t.key, reg.topics, strict_flag)
    _collect(
        reg, hook.topiclab_register_trainers, "trainer", lambda s: s.key, reg.trainers, strict_flag
    )
    _collect(
        reg,
        hook.topiclab_register_estimators,
        "estimator",
        lambda s: s.key,
        reg.estimators,
        strict_flag,
    )
    return reg


@functools.cache
def get_registry() -> Registry:
    """The registry of this process, built once."""
    return build_registry()


def reset_registry() -> None:
    """Forget the cached registry (after changing plugin environment variables)."""
    get_registry.cache_clear()
