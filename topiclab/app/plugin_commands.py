"""Commands that plugins add to ``topiclab`` through ``topiclab_register_commands(cli)``.

    app = typer.Typer(cls=PluginCommandsGroup, ...)     # in cli.py

``topiclab --help`` lists them by loading the plugins, which is cheap because a plugin module
imports heavy libraries (torch, MLflow, scikit-learn) inside its hooks and build functions,
never at import time (docs/plugins.md; ``tests/app/test_plugin_commands.py`` checks each
built-in plugin). The plugins are loaded once per process, and only when a name is not a
built-in command or the help lists every command.
"""

from __future__ import annotations

import functools
from typing import Any

import typer
from typer.core import TyperGroup


@functools.cache
def load_commands() -> dict[str, Any]:
    """Load the plugins and collect their commands (name -> click command)."""
    from topiclab.core.environment import configure_environment
    from topiclab.core.plugins import load_plugins

    configure_environment()
    sub = typer.Typer()
    # The plugins alone, not the registry: that would import every topic's modules.
    load_plugins().manager.hook.topiclab_register_commands(cli=sub)
    commands = dict(typer.main.get_group(sub).commands) if sub.registered_commands else {}
    for cmd in commands.values():
        cmd.short_help = _summary(cmd)  # click shows short_help whole, never cut with "..."
    return commands


def _summary(cmd: Any) -> str:
    """The command's short help, or the first sentence of its help: whole, for the listing."""
    text = (cmd.short_help or cmd.help or "").strip()
    first = text.split("\n\n")[0].replace("\n", " ")
    return first.split(". ")[0].rstrip(".") + "." if first else ""


def _listed() -> dict[str, Any]:
    try:
        return load_commands()
    except Exception:  # a broken plugin (strict mode) must not break --help; run says why
        return {}


class PluginCommandsGroup(TyperGroup):
    """The built-in commands, plus every plugin's (built-ins win a name clash)."""

    # typer vendors its own click: contexts and commands are typed Any here.
    def list_commands(self, ctx: Any) -> list[str]:
        builtin = super().list_commands(ctx)
        return builtin + sorted(n for n in _listed() if n not in self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        return found if found is not None else _listed().get(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name = args[0] if args else None
        # To run a plugin command, load the plugins without the --help safety net: a broken
        # plugin in strict mode is then a one-line error.
        if name and name not in self.commands and not name.startswith("-"):
            real = load_commands().get(name)
            if real is not None:
                return name, real, args[1:]
        return super().resolve_command(ctx, args)
