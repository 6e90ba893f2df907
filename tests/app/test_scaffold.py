"""``new-plugin`` refuses, in one TopiclabError line and before writing anything, a name the
file system cannot hold or one that clashes with an importable package or a topic key."""

from __future__ import annotations

from pathlib import Path

import pytest

from topiclab.app.scaffold import scaffold_plugin
from topiclab.core.errors import TopiclabError
from topiclab.core.registry import get_registry


@pytest.mark.parametrize(
    "name, says",
    [
        ("a" * 300, "too long"),
        ("topiclab", "clashes"),  # would shadow topiclab's own package
        ("pytest", "clashes"),  # any import name already importable
        ("llama", "topic"),  # a built-in topic key
    ],
)
def test_bad_plugin_names_are_refused(tmp_path: Path, name: str, says: str) -> None:
    with pytest.raises(TopiclabError, match=says) as e:
        scaffold_plugin(name, tmp_path)
    assert "\n" not in str(e.value)
    assert not any(tmp_path.iterdir())


def test_every_registered_topic_key_is_refused(tmp_path: Path) -> None:
    keys = list(get_registry().topics)
    assert keys
    for key in keys:
        with pytest.raises(TopiclabError):
            scaffold_plugin(key, tmp_path)


def test_new_plugin_prints_each_command_on_one_line_at_80_columns(monkeypatch, tmp_path: Path):
    import io

    from rich.console import Console

    from topiclab.app import cli

    console = Console(file=io.StringIO(), width=80)
    monkeypatch.setattr(cli, "out", console)
    folder = tmp_path / ("plugins-in-a-folder-with-a-long-name-" * 2)
    cli.new_plugin("wrapcheck", folder)
    lines = [line.strip() for line in console.file.getvalue().splitlines()]
    # pytest comes with the package's test extra: a venv made by `bootstrap.py run` has none,
    # and a bare `pytest` found another Python's and failed on "No module named 'topiclab'".
    assert f"pip install -e '{folder / 'wrapcheck'}[test]'" in lines
    assert f"python -m pytest {folder / 'wrapcheck' / 'tests'}" in lines
    pyproject = (folder / "wrapcheck" / "pyproject.toml").read_text()
    assert '[project.optional-dependencies]\ntest = ["pytest"]' in pyproject
