"""Cells that every index of runs shows alike (the run index, the results home, the terminal
summary): claims counted apart from those a profile is not expected to confirm, and seconds.

Light on purpose: `topiclab --help` imports the terminal summary, and must not import pydantic
or the report's Markdown renderer (tests/app/test_plugin_commands.py).

    from topiclab.core.cells import claim_counts, claims_cell
    claims_cell(claim_counts(metrics["claims"], "quick"))   # '5/9, 4 not expected'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def seconds_cell(value: float) -> str:
    """Stage seconds as every table shows them (run index, results home, terminal summary)."""
    return f"{float(value):.1f}"


def claim_counts(claims: Sequence[Mapping[str, Any]], profile: str) -> dict[str, Any]:
    """The claims of a ``metrics.json`` counted for an index row: a claim its profile is not
    expected to confirm (quick: too small) is counted apart, never named as failed."""
    failed = [c for c in claims if not c["passed"]]
    expected = [c for c in failed if profile in c.get("expected_in", [profile])]
    return {
        "claims_passed": len(claims) - len(failed),
        "claims_total": len(claims),
        "claims_not_expected": len(failed) - len(expected),
        "failed_claims": [str(c["id"]) for c in expected],
    }


def claims_cell(entry: Mapping[str, Any]) -> str:
    """``5/9`` or ``5/9, 4 not expected``: the claims column of the index and the summary."""
    text = f"{entry.get('claims_passed', 0)}/{entry.get('claims_total', 0)}"
    waived = entry.get("claims_not_expected", 0)
    return text + (f", {waived} not expected" if waived else "")
