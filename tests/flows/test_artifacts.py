"""The Prefect artifacts of a run, as the Prefect UI shows them (no server: the artifact
functions are replaced by recorders)."""

from __future__ import annotations

from typing import Any

import pytest

from topiclab.core.hookspecs import empty_links
from topiclab.core.topic import Claim, StageResult


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from topiclab.flows import pipeline

    seen: dict[str, Any] = {}
    monkeypatch.setattr(pipeline, "create_markdown_artifact", lambda **kw: seen.update(md=kw))
    monkeypatch.setattr(pipeline, "create_table_artifact", lambda **kw: seen.update(table=kw))
    monkeypatch.setattr(pipeline, "create_link_artifact", lambda **kw: None)
    long = "a statement long enough to fill a screen's width on its own " * 3
    claims = [
        Claim(id="c1", statement=long, value=0.41, anchor="> 1", passed=True),
        Claim(
            id="c2", statement=long, value=0.1, anchor="< 2", passed=False, expected_in=["standard"]
        ),
    ]
    run: Any = {"profile": "quick", "links": empty_links()}
    pipeline._publish_artifacts("t", StageResult(claims=claims, metrics={"m": 1.0}), run)
    return seen


def test_report_artifact_shows_the_verdict_before_the_long_text(published):
    """Prefect's Markdown tables do not wrap: with the statement second, the verdict, the value
    and the anchor of causal-recsys's claims were off the right edge of the artifact page."""
    header = next(line for line in published["md"]["markdown"].splitlines() if "verdict" in line)
    assert header.startswith("| claim | verdict | this run | anchor | statement |"), header
    assert "| c2 | not expected | 0.1 | < 2 |" in published["md"]["markdown"]
    assert list(published["table"]["table"][0])[:4] == ["claim", "verdict", "this run", "anchor"]
