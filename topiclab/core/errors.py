"""Errors a user can read in one line: what was wrong, and what would have been right."""

from __future__ import annotations

from collections.abc import Iterable


class TopiclabError(Exception):
    """Base of every error the CLI prints as one line and exits non-zero for."""


class UnknownKeyError(TopiclabError, KeyError):
    """A topic, trainer, estimator or plugin key that is not registered."""

    def __init__(self, kind: str, key: str, choices: Iterable[str]) -> None:
        self.kind, self.key, self.choices = kind, key, sorted(choices)
        listed = ", ".join(self.choices) or "(none registered)"
        super().__init__(f"unknown {kind} '{key}'; choose from: {listed}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateKeyError(TopiclabError):
    """Two plugins registered the same key."""

    def __init__(self, kind: str, key: str, first: str, second: str) -> None:
        if first == second:  # one plugin's mistake: no other plugin to block
            super().__init__(f"duplicate {kind} '{key}': registered twice by '{first}'")
            return
        super().__init__(
            f"duplicate {kind} '{key}': registered by both '{first}' and '{second}'; "
            f"block one with TOPICLAB_BLOCK_PLUGINS={second}"
        )


class ConfigError(TopiclabError):
    """A configuration key or value that does not validate."""


class PluginLoadError(TopiclabError):
    """A plugin that could not be imported or registered (raised only in strict mode)."""


class ResultsError(TopiclabError):
    """A results file (``metrics.json``) that cannot be read or has the wrong shape."""


class DiskFullError(TopiclabError):
    """A results file could not be written: its folder's disk is full (``ENOSPC``)."""
