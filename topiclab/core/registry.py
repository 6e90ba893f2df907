"""Registries of topics, trainers and estimators, filled from the plugin hooks.

    from topiclab.core.registry import get_registry
    reg = get_registry()
    reg.topic("diffusion"), reg.trainer("ddpm"), reg.estimator("iv.2sls")

Each process builds its own (plugin objects never cross a process boundary).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
            raise UnknownKeyError(f"estimator{f' of kind {kind!r}' if kind else ''}", key, valid)
        return valid[key]

    def plugin_of(self, kind: str, key: str) -> PluginInfo | None:
        name = self.owner.get((kind, key))
        return next((p for p in self.plugins.infos if p.name == name), None)

    def fingerprint(self, topic_key: str) -> str:
        """Identity of a topic's code for cache keys: plugin versions + a hash of its sources.

        Hashes the package that defines the topic, every plugin that registers a trainer or
        estimator, and topiclab's shared code (core, nn, causal, ...: everything but the
        built-in plugins), so editing any code a stage may run invalidates cached stages.
        Over-invalidating costs a recomputation; under-invalidating would serve stale numbers.
        """
        import topiclab

        cls = self.topics[topic_key]
        modules = {cls.__module__} | {s.build.__module__ for s in self.trainers.values()}
        modules |= {s.build.__module__ for s in self.estimators.values()}
        root = Path(topiclab.__file__).resolve().parent
        folders = {_package_dir(m) for m in modules if m in sys.modules}
        folders |= {p for p in root.iterdir() if p.is_dir() and p.name != "plugins"}
        digest = hashlib.sha256((root / "__init__.py").read_bytes())
        for folder in sorted(folders):
            for path in sorted(folder.rglob("*.py")):
                digest.update(path.read_bytes())
        for info in self.plugins.infos:
            digest.update(f"{info.name}={info.version}".encode())
        return digest.hexdigest()[:16]


def _package_dir(module: str) -> Path:
    """The folder of the plugin package that holds ``module`` (its top-level plugin folder)."""
    path = Path(inspect.getfile(sys.modules[module])).resolve().parent
    parts = module.split(".")
    if parts[:2] == ["topiclab", "plugins"] and len(parts) > 3:
        return path if path.name == parts[2] else path.parents[len(parts) - 4]
    return path


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
            items = impl.function() or []
        except Exception as exc:
            info = next((p for p in reg.plugins.infos if p.name == name), None)
            message = f"{type(exc).__name__} in {hook.name}: {exc}".splitlines()[0]
            if info is not None:
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
