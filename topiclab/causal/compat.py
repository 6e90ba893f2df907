"""Temporary backwards compatibility for callers written before designs were checked.

The ``causal-iv`` topic deliberately fits an instrument its graph calls invalid and an OLS its
graph calls confounded (to show the bias). Since ``fit`` now refuses both unless
``allow_invalid=True``, calls made from that plugin's modules keep the old permissive
behaviour (recorded as ``allow_invalid=True`` in the result) until the plugin passes the flag
itself; then this module goes.
"""

from __future__ import annotations

import sys

LEGACY_MODULES = ("topiclab.plugins.causal_iv",)


def legacy_permissive(depth: int = 6) -> bool:
    """Whether a caller a few frames up is a module that predates the design checks."""
    frame = sys._getframe(1)
    for _ in range(depth):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return False
        if str(frame.f_globals.get("__name__", "")).startswith(LEGACY_MODULES):
            return True
    return False
