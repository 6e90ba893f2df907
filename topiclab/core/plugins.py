"""Build the plugin manager from the ``topiclab`` entry points, each plugin on its own.

Built-ins are entry points of the ``topiclab`` distribution (``[project.entry-points.topiclab]``
in its ``pyproject.toml``), found by the same path as a third party's, as pytest's default
plugins are. One broken plugin must not break the others: each is imported, registered and
checked (``check_pending``: a ``topiclab_*`` function that matches no hook is an error, not a
silently ignored typo) in its own try, and a failure is recorded by name (``topiclab plugins``
shows it). Environment switches:

- ``TOPICLAB_STRICT_PLUGINS=1``: a plugin that fails to load is an error.
- ``TOPICLAB_BLOCK_PLUGINS=a,b``: never load these plugins (built-ins included).
- ``TOPICLAB_LOAD_PLUGINS=a,b``: load only these third-party plugins (built-ins always load).
- ``TOPICLAB_DISABLE_PLUGIN_AUTOLOAD=1``: load the built-ins only (tests use it).
- ``TOPICLAB_PLUGINS=pkg.module,other.module``: also load these modules as plugins, without
  packaging them (like ``pytest -p``); handy while writing a plugin.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from topiclab.core import hookspecs
from topiclab.core.errors import PluginLoadError

ENTRY_POINT_GROUP = "topiclab"


BUILTIN_DISTRIBUTION = "topiclab"


def entry_points() -> list[metadata.EntryPoint]:
    """Every ``topiclab`` entry point: the built-ins first, then third parties, by name."""
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(found, key=lambda e: (_distribution(e) != BUILTIN_DISTRIBUTION, e.name))


def _distribution(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist else "?"


@dataclass
class PluginInfo:
    """What ``topiclab plugins`` shows about one plugin."""

    name: str
    module: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    builtin: bool = False


@dataclass
class LoadedPlugins:
    manager: pluggy.PluginManager
    infos: list[PluginInfo]

    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.infos if p.error]


def _env_list(name: str) -> set[str]:
    return {s.strip() for s in os.environ.get(name, "").split(",") if s.strip()}


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _register(pm: pluggy.PluginManager, name: str, load: Any) -> tuple[list[str], str | None]:
    """Import and register one plugin; return its hook names, or the error as one line."""
    if pm.get_plugin(name) is not None or name in dict(pm.list_name_plugin()):
        return [], f"PluginLoadError: a plugin named '{name}' is already registered"
    obj: Any = None
    registered: Any = None
    try:
        obj = load()
        if pm.is_registered(obj):  # e.g. TOPICLAB_PLUGINS naming an installed plugin's module
            return [], f"PluginLoadError: already loaded as '{pm.get_name(obj)}'"
        registered = obj
        pm.register(obj, name=name)
        _check_hook_names(pm, obj)
    except Exception as exc:  # a plugin may raise anything on import
        if registered is not None and pm.is_registered(registered):  # roll back this one only
            pm.unregister(registered)
        return [], f"{type(exc).__name__}: {exc}".splitlines()[0]
    return sorted(h.name for h in pm.get_hookcallers(obj) or []), None


def _check_hook_names(pm: pluggy.PluginManager, plugin: object) -> None:
    """pluggy's ``check_pending`` for one plugin: a ``topiclab_*`` function that matches no hook
    spec (``topiclab_register_topic`` for ``..._topics``) would otherwise never be called."""
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.spec is None:
            raise PluginLoadError(
                f"unknown hook '{caller.name}' (not in topiclab.core.hookspecs; a typo?)"
            )


def load_plugins(strict: bool | None = None) -> LoadedPlugins:
    """Create a plugin manager with the built-ins and every allowed entry-point plugin."""
    strict = env_flag("TOPICLAB_STRICT_PLUGINS") if strict is None else strict
    blocked = _env_list("TOPICLAB_BLOCK_PLUGINS")
    allowed = _env_list("TOPICLAB_LOAD_PLUGINS")
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []

    autoload = not env_flag("TOPICLAB_DISABLE_PLUGIN_AUTOLOAD")
    for ep in entry_points():
        dist = _distribution(ep)
        builtin = dist == BUILTIN_DISTRIBUTION
        wanted = builtin or (autoload and (not allowed or ep.name in allowed))
        if ep.name in blocked or not wanted:
            continue
        version = ep.dist.version if ep.dist else "?"
        hooks, error = _register(pm, ep.name, ep.load)
        infos.append(PluginInfo(ep.name, ep.value, dist, version, hooks, error, builtin))

    loaded = {info.module for info in infos if not info.error}
    for module in sorted(_env_list("TOPICLAB_PLUGINS")):
        if module in blocked or module in loaded:  # already there as an installed plugin
            continue
        hooks, error = _register(pm, module, lambda m=module: importlib.import_module(m))
        infos.append(PluginInfo(module, module, "(TOPICLAB_PLUGINS)", "local", hooks, error))

    failed = [p for p in infos if p.error]
    if strict and failed:
        first = failed[0]
        raise PluginLoadError(f"plugin '{first.name}' failed to load: {first.error}")
    return LoadedPlugins(pm, infos)
