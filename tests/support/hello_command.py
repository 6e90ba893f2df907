"""A plugin that adds a CLI command: ``topiclab hello [NAME]`` (topiclab_register_commands)."""

from __future__ import annotations

from typing import Any

from topiclab.core.hookspecs import hookimpl


@hookimpl
def topiclab_register_commands(cli: Any) -> None:
    @cli.command()
    def hello(name: str = "world") -> None:
        """Greet NAME, to show that plugins add commands."""
        print(f"hello, {name}, from a plugin")
