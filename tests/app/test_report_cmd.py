"""``topiclab report PATH`` on the wrong kind of path says what it is and what to pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from topiclab.app import cli
from topiclab.core.errors import TopiclabError


def test_a_topic_folder_suggests_its_parent(tmp_path: Path) -> None:
    topic = tmp_path / "out" / "llama"
    topic.mkdir(parents=True)
    (topic / "metrics.json").write_text("{}")
    with pytest.raises(TopiclabError, match=r"topic folder.*topiclab report .*out'?$") as e:
        cli.report(topic)
    assert str(tmp_path / "out") in str(e.value)


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(TopiclabError, match="is a file, not a folder"):
        cli.report(afile)


def test_a_missing_folder_still_says_run_first(tmp_path: Path) -> None:
    with pytest.raises(TopiclabError, match="does not exist"):
        cli.report(tmp_path / "nothing")
