"""Claims read from metrics: the shape every topic's ``claims.py`` repeats, written once.

    from topiclab.core.claims import ClaimBuilder, at_least, near

    c = ClaimBuilder(m, expected_in=["standard", "full"])     # m: the evaluate stage's metrics
    claims = [
        c.on("ref_tsls", near(beta, 0.05), id="tsls_recovers",
             statement="2SLS recovers the causal effect", anchor=f"{beta} ± 0.05",
             source="Angrist, Imbens & Rubin 1996", expected_in=PROFILES),
        c.on("coverage", at_least(0.93), id="coverage", statement=..., anchor="≥ 0.93",
             source=..., digits=3),
    ]

``on(key, test, ...)`` names the metric once: the claim's value is ``round(m[key], digits)``
(``digits=None``: the value as measured; ``value=`` shows something else, such as two numbers),
its ``uses`` is ``[key]`` unless given (it must then include ``key``), and its verdict is
``test(m[key])``. A test is any ``float -> bool``; ``near``, ``below``, ``at_most``, ``above``,
``at_least``, ``between`` and ``equals`` name the usual ones. A claim whose value is not one
metric (a count of published sizes, a ratio of two tables) is built as a ``Claim`` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from topiclab.core.topic import PROFILES, Claim

Test = Callable[[float], bool]


def near(target: float, tolerance: float) -> Test:
    """``|v − target| < tolerance``."""
    return lambda v: abs(v - target) < tolerance


def below(limit: float) -> Test:
    return lambda v: v < limit


def at_most(limit: float) -> Test:
    return lambda v: v <= limit


def above(limit: float) -> Test:
    return lambda v: v > limit


def at_least(limit: float) -> Test:
    return lambda v: v >= limit


def between(low: float, high: float) -> Test:
    """``low ≤ v ≤ high`` (both ends included)."""
    return lambda v: low <= v <= high


def equals(target: float) -> Test:
    return lambda v: v == target


@dataclass(frozen=True)
class ClaimBuilder:
    """Claims on the metrics ``m``; ``expected_in`` is the default of the claims it builds."""

    m: Mapping[str, float]
    expected_in: Sequence[str] = PROFILES

    def on(
        self,
        key: str,
        test: Test,
        *,
        id: str,
        statement: str,
        anchor: str,
        source: str,
        digits: int | None = 4,
        value: float | str | None = None,
        uses: Sequence[str] | None = None,
        expected_in: Sequence[str] | None = None,
        note: str = "",
    ) -> Claim:
        """The claim that ``test(m[key])`` holds, showing ``m[key]`` (rounded) as its value."""
        measured = self.m[key]
        used = [key] if uses is None else list(uses)
        if key not in used:
            raise ValueError(f"claim '{id}': uses {used} must include its metric '{key}'")
        if value is None:
            value = measured if digits is None else round(measured, digits)
        return Claim(
            id=id,
            statement=statement,
            value=value,
            anchor=anchor,
            source=source,
            uses=used,
            expected_in=list(self.expected_in if expected_in is None else expected_in),
            passed=bool(test(measured)),
            note=note,
        )
