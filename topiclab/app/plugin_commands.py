"""Commands that plugins add to ``topiclab`` through ``topiclab_register_commands(cli)``.

    app = typer.Typer(cls=PluginCommandsGroup, ...)     # in cli.py

``topiclab --help`` must stay fast, and a plugin module may import torch. So the help lists
plugin commands from a small cache (``plugin-commands.json`` in ``$TOPICLAB_HOME``, else
``~/.cache/topiclab``), keyed by the installed entry points and the plugin switches; plugins
are imported only to run a plugin command, or once when that cache is missing or stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from topiclab.core.errors import TopiclabError

SWITCHES = (
    "TOPICLAB_PLUGINS",
    "TOPICLAB_BLOCK_PLUGINS",
    "TOPICLAB_LOAD_PLUGINS",
    "TOPICLAB_DISABLE_PLUGIN_AUTOLOAD",
)


def cache_file() -> Path:
    home = os.environ.get("TOPICLAB_HOME")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "topiclab"
    return (Path(home) if home else base) / "plugin-commands.json"


def plugin_set_key() -> str:
    """Changes when a plugin is installed, upgraded or switched on or off."""
    eps = sorted(
        f"{ep.name}={ep.value}@{ep.dist.version if ep.dist else '?'}"
        for ep in metadata.entry_points(group="topiclab")
    )
    switches = [f"{k}={os.environ.get(k, '')}" for k in SWITCHES]
    return hashlib.sha256("\n".join([sys.prefix, *eps, *switches]).encode()).hexdigest()[:24]


def load_commands() -> dict[str, Any]:
    """Import the plugins, collect their commands, and refresh the help cache."""
    from topiclab.core.environment import configure_environment
    from topiclab.core.registry import get_registry

    configure_environment()
    sub = typer.Typer()
    get_registry().hook.topiclab_register_commands(cli=sub)
    commands = dict(typer.main.get_group(sub).commands) if sub.registered_commands else {}
    listing = {name: _summary(cmd) for name, cmd in commands.items()}
    _write_cache({"key": plugin_set_key(), "commands": listing})
    return commands


def _summary(cmd: Any) -> str:
    """The command's short help, or the first sentence of its help: whole, for the listing."""
    text = (cmd.short_help or cmd.help or "").strip()
    first = text.split("\n\n")[0].replace("\n", " ")
    return first.split(". ")[0].rstrip(".") + "." if first else ""


def _write_cache(payload: dict[str, Any]) -> None:
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload))
        tmp.replace(path)
    except OSError:
        pass  # a read-only home: the help just loads plugins each time


def cached_listing() -> dict[str, str]:
    """Plugin command name -> one-line help, from the cache or (stale) from the plugins."""
    try:
        data = json.loads(cache_file().read_text())
        if data.get("key") == plugin_set_key():
            return dict(data["commands"])
    except (OSError, ValueError, KeyError):
        pass
    try:
        commands = load_commands()
    except Exception:  # a broken plugin (strict mode) must not break --help; run says why
        return {}
    return {name: _summary(cmd) for name, cmd in commands.items()}


class PluginCommandsGroup(TyperGroup):
    """The built-in commands, plus every plugin's (built-ins win a name clash)."""

    # typer vendors its own click: contexts and commands are typed Any here.
    def list_commands(self, ctx: Any) -> list[str]:
        builtin = super().list_commands(ctx)
        return builtin + sorted(n for n in cached_listing() if n not in self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        listing = cached_listing()  # for the help: a stand-in, no plugin import
        if cmd_name not in listing:
            return None
        text = listing[cmd_name]  # short_help: click shows it whole, never cut with "..."
        return TyperCommand(cmd_name, help=text, short_help=text, callback=_gone(cmd_name))

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name = args[0] if args else None
        # To run a command, ask the plugins themselves: the help cache may be stale, and
        # running a plugin's command imports that plugin anyway.
        if name and name not in self.commands and not name.startswith("-"):
            real = load_commands().get(name)
            if real is not None:
                return name, real, args[1:]
        return super().resolve_command(ctx, args)


def _gone(name: str) -> Any:
    def callback() -> None:
        raise TopiclabError(f"plugin command '{name}' is no longer provided; see topiclab plugins")

    return callback
