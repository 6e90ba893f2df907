"""``topiclab cache list`` and ``clean`` as a user runs them (subprocesses): what they show,
what they remove, bad input in one line, two cleans at once beside a running stage."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from app.clirun import (
    cli,
    fresh_env,
    one_line_error,
    run_with_read_only,
    topiclab,
    unshare_available,
)
from rich.filesize import decimal

from topiclab.core.cache import DAY_S, scan
from topiclab.core.locks import file_lock
from topiclab.core.manifest import DONE_MARKER
from topiclab.core.stages import run_direct


@pytest.fixture
def home(plugin_env: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A home whose cache holds ``counted``'s quick defaults and one evaluation option of it
    (six stage folders), and the environment that points the CLI at it."""
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.stage_reads")
    env = fresh_env(tmp_path, TOPICLAB_PLUGINS="support.stage_reads")
    work = Path(env["TOPICLAB_HOME"]) / "work"
    run_direct("counted", "quick", None, work, use_cache=True)
    run_direct("counted", "quick", ["eval.test_share=0.3"], work, use_cache=True)
    return work, env


def _cache(*args: str, env: dict[str, str], cwd: Path, stdin: str = "") -> Any:
    return subprocess.run(
        cli("cache", *args), env=env, cwd=cwd, input=stdin, capture_output=True, text=True
    )


def _row(stdout: str, key: str) -> str:
    return next(line for line in stdout.splitlines() if key in line)


def test_list_then_clean_old_folders_after_asking(home, tmp_path: Path) -> None:
    work, env = home
    entries = scan(work)
    shown = _cache("list", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "6 folders" in shown.stdout and str(work) in shown.stdout
    assert all("complete" in _row(shown.stdout, e.key) for e in entries)
    # The quick default's four folders say that profile would reuse them; the option's not.
    old = [e for e in entries if "quick" not in _row(shown.stdout, e.key)]
    assert sorted(e.stage for e in old) == ["evaluate", "report"]

    stamp = time.time() - 40 * DAY_S
    for e in old:  # unused for 40 days
        for path in (e.lock, e.path / DONE_MARKER, e.path):
            os.utime(path, (stamp, stamp))
    freed = decimal(sum(e.size for e in old))
    dry = _cache("clean", "--older-than", "30", "--dry-run", env=env, cwd=tmp_path)
    assert dry.returncode == 0 and f"would remove 2 folders, {freed}" in dry.stdout
    refused = _cache("clean", "--older-than", "30", env=env, cwd=tmp_path, stdin="n\n")
    assert refused.returncode == 1 and f"remove 2 cached stage folders ({freed})" in refused.stdout
    assert len(scan(work)) == 6  # neither removed anything
    done = _cache("clean", "--older-than", "30", "--yes", env=env, cwd=tmp_path)
    assert done.returncode == 0 and f"removed 2 folders, {freed} freed" in done.stdout
    assert {e.path for e in scan(work)} == {e.path for e in entries} - {e.path for e in old}
    nothing = _cache("clean", "--older-than", "30", "--yes", env=env, cwd=tmp_path)
    assert nothing.stdout.strip() == "nothing to remove"
    report = next(e for e in scan(work) if e.stage == "report")
    for path in (report.lock, report.path / DONE_MARKER, report.path):
        os.utime(path, (stamp, stamp))
    one = _cache("clean", "--older-than", "30", env=env, cwd=tmp_path, stdin="n\n")
    assert f"remove 1 cached stage folder ({decimal(report.size)}) from" in one.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clean", "--older-than", "-1"], "--older-than takes a number of days >= 0, not -1"),
        (["clean", "--older-than", "nan"], "--older-than takes a number of days >= 0, not nan"),
        (["clean"], "say what to remove: --all, --topic, --older-than DAYS or --partial"),
        (["clean", "--all", "--partial"], "--all selects everything: leave out --topic"),
        (["clean", "--topic", "nosuch", "--yes"], "unknown topic 'nosuch'; cached: (none); "),
        (["list", "--topic", "nosuch"], "unknown topic 'nosuch'; cached: (none); registered: "),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    env = fresh_env(tmp_path)
    Path(env["TOPICLAB_HOME"]).mkdir()
    assert message in one_line_error(topiclab("cache", *args, env=env, cwd=tmp_path))


def test_a_home_or_cache_that_is_missing_or_a_file_is_one_line(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    home = Path(env["TOPICLAB_HOME"])
    line = one_line_error(topiclab("cache", "list", env=env, cwd=tmp_path))
    assert line == (
        f"error: TOPICLAB_HOME '{home}' does not exist: no runs wrote there "
        "(set TOPICLAB_HOME to the folder your runs use)"
    )
    assert not home.exists()  # listing created nothing
    home.write_text("not a folder")
    line = one_line_error(topiclab("cache", "clean", "--all", "--yes", env=env, cwd=tmp_path))
    assert line == f"error: TOPICLAB_HOME '{home}' is a file, not a folder"
    home.unlink()
    home.mkdir()
    (home / "work").write_text("not a folder either")
    for args in (["list"], ["clean", "--all", "--yes"]):
        line = one_line_error(topiclab("cache", *args, env=env, cwd=tmp_path))
        assert line == f"error: the stage cache '{home / 'work'}' is a file, not a folder"


def test_an_empty_cache_or_one_of_stray_files_lists_and_cleans_nothing(tmp_path: Path) -> None:
    """No ``work`` yet, an empty one, and one holding only what no run writes (a stray
    file, an empty topic folder, a key folder of notes): each an empty cache, said in one
    line, exit 0; a clean removes no stray file (it names them) and the empty folder only."""
    env = fresh_env(tmp_path, TOPICLAB_PLUGINS="support.stage_reads")
    work = Path(env["TOPICLAB_HOME"]) / "work"
    work.parent.mkdir()
    for make in (lambda: None, work.mkdir, lambda: _strays(work)):
        make()
        shown = _cache("list", env=env, cwd=tmp_path)
        assert (shown.returncode, shown.stdout) == (0, f"the stage cache is empty ({work})\n")
    done = _cache("clean", "--all", "--yes", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "removed what the stages left: empty-topic",
        "kept counted/abc/notes.txt: no run writes it (remove it yourself)",
    ]
    assert (work / "counted" / "abc" / "notes.txt").is_file() and (work / "stray.txt").is_file()
    done = _cache("clean", "--all", "--yes", env=env, cwd=tmp_path)
    assert done.stdout.splitlines()[0] == "nothing to remove", done.stdout


def test_clean_all_leaves_no_folder_or_run_record_of_what_it_removed(home, tmp_path: Path) -> None:
    """What a run leaves beside its stages goes with them: a run record's temporary (a run
    killed while writing it), a key folder with nothing in it; a file no run writes stays,
    with its folders, and is named. The work root used to keep those key and topic folders."""
    work, env = home
    keys = sorted({e.key for e in scan(work)})
    (work / "counted" / keys[0] / "run.json.tmp").write_text("{")
    (work / "counted" / "0123456789abcdef").mkdir()
    (work / "other" / "fedcba9876543210").mkdir(parents=True)
    (work / "other" / "fedcba9876543210" / "run.json").write_text("{}")
    (work / "counted" / keys[1] / "notes.txt").write_text("mine")
    done = _cache("clean", "--all", "--yes", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("removed 6 folders"), lines
    swept = set(lines[1].removeprefix("removed what the stages left: ").split(", "))
    assert swept == {  # the temporary went with its stage folder (not listed again)
        "counted/0123456789abcdef",
        "other/fedcba9876543210/run.json",
        "other/fedcba9876543210",
        "other",
    }, lines
    assert lines[2:] == [f"kept counted/{keys[1]}/notes.txt: no run writes it (remove it yourself)"]
    left = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    assert left == ["counted", f"counted/{keys[1]}", f"counted/{keys[1]}/notes.txt"], left


def _strays(work: Path) -> None:
    (work / "counted" / "abc").mkdir(parents=True)
    (work / "counted" / "abc" / "notes.txt").write_text("not a stage")
    (work / "empty-topic").mkdir()
    (work / "stray.txt").write_text("not a topic")


def test_a_linked_home_is_listed_and_cleaned_through_its_link(home, tmp_path: Path) -> None:
    work, env = home
    link = tmp_path / "home-link"
    link.symlink_to(work.parent)
    env = {**env, "TOPICLAB_HOME": str(link)}
    done = _cache("clean", "--topic", "counted", "--yes", env=env, cwd=tmp_path)
    assert done.returncode == 0 and "removed 6 folders" in done.stdout, done.stderr
    assert link.is_symlink() and work.is_dir() and scan(work) == []


@pytest.mark.skipif(not unshare_available(), reason="needs unshare --user --mount (namespaces)")
def test_a_read_only_cache_lists_but_refuses_to_clean(home, tmp_path: Path) -> None:
    work, env = home
    listed = run_with_read_only(work.parent, ["cache", "list", "--no-current"], env, tmp_path)
    assert listed.returncode == 0 and "6 folders" in listed.stdout, listed.stderr
    args = ["cache", "clean", "--all", "--yes"]
    line = one_line_error(run_with_read_only(work.parent, args, env, tmp_path))
    assert f"the stage cache '{work}' is not writable: Read-only file system" in line
    assert len(scan(work)) == 6


def test_two_cleans_at_once_beside_a_running_stage(home, tmp_path: Path) -> None:
    """A stage being computed holds its lock: both cleans skip it and say so; every other
    folder is removed once, by one of them, and neither fails."""
    work, env = home
    train = next(e for e in scan(work) if e.stage == "train")
    with file_lock(train.lock):  # as run_stage holds it
        procs = [
            subprocess.Popen(
                cli("cache", "clean", "--all", "--yes"),
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    said = "\n".join(o for o, _ in outputs)
    held = f"skipped counted/{train.key}/train: a run is using it"
    assert held in said
    # what one clean removed before the other came to it is "already removed" (while the
    # other holds its lock, it is in use), never an error
    skips = [line for line in said.splitlines() if line.startswith("skipped ")]
    reasons = (": a run is using it", ": already removed (another clean?)")
    assert all(line.endswith(reasons) for line in skips), skips
    removed = sum(int(re.findall(r"^removed (\d+) folder", o, re.M)[0]) for o, _ in outputs)
    assert removed == 5 and [e.path for e in scan(work)] == [train.path]
    assert (train.path / DONE_MARKER).is_file()


@pytest.mark.parametrize("width", [250, 80, 60])
def test_list_shows_every_topic_stage_and_state_whole_at_any_width(width: int) -> None:
    """``cache list`` in an 80- or 60-column terminal: the one-row-a-folder table does not
    fit, and the stacked one keeps each topic, stage and state whole (on one line, never
    cut to "…"), and every line within the width."""
    import io

    from rich.console import Console

    from topiclab.app.cache_cmd import _table
    from topiclab.core.cache import CacheEntry

    def entry(topic: str, key: str, stage: str, state: Any, size: int) -> CacheEntry:
        return CacheEntry(topic, key, stage, Path(key), state, size, time.time(), size > 10**8)

    entries = [  # the longest topic names there are, each state, one folder in use
        entry("causal-recsys", "7c98fffd33f10a34", "evaluate", "complete", 123_456_789),
        entry("mode-collapse", "1234567890abcdef", "generate", "partial", 1_234),
        entry("compression", "fedcba0987654321", "report", "damaged", 12),
        entry("llama", "aaaabbbbccccdddd", "train", "empty", 0),
    ]
    current = {("causal-recsys", "7c98fffd33f10a34"): ["quick", "standard", "full"]}
    for shown in (current, None):  # `cache list`, and `cache clean --dry-run` (no current)
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(_table(entries, shown, width))
        text = console.file.getvalue()  # type: ignore[attr-defined]
        lines = text.splitlines()
        assert "…" not in text and max(len(line) for line in lines) <= width, text
        for e in entries:
            for value in (e.topic, e.stage, e.state):
                assert re.search(rf"(^|\s){re.escape(value)}(\s|$)", text, re.M), (value, text)
        assert "(in use)" in text and ("standard" in text or shown is None)
        keys = "".join(text.split())  # a key may fold over lines at 60 columns
        assert all(e.key in keys or width == 60 for e in entries)
