"""The stage cache on disk (``core.cache``): listing, selecting and removing folders, never one
a running stage holds, never through a link; and the lock that makes removal safe."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from app.clirun import fresh_env, unshare_available

from topiclab.core.cache import DAY_S, GONE, IN_USE, current_keys, remove, scan, select
from topiclab.core.locks import file_lock, is_locked
from topiclab.core.manifest import DONE_MARKER
from topiclab.core.stages import run_direct


@pytest.fixture
def work(plugin_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A cache with two configs of ``counted`` (six stage folders: generate and train shared)."""
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.stage_reads")
    root = tmp_path / "work"
    run_direct("counted", "quick", ["seed=5"], root, use_cache=True)
    run_direct("counted", "quick", ["seed=5", "eval.test_share=0.3"], root, use_cache=True)
    return root


def _age(entry: Any, days: float) -> None:
    """Make a folder look unused for ``days``: its lock, marker and folder mtimes."""
    stamp = time.time() - days * DAY_S
    for path in (entry.lock, entry.path / DONE_MARKER, entry.path):
        if path.exists():
            os.utime(path, (stamp, stamp))


def test_scan_lists_every_stage_folder_with_its_state(work: Path) -> None:
    entries = scan(work)
    assert sorted(e.stage for e in entries) == sorted(
        ["generate", "train", "evaluate", "evaluate", "report", "report"]
    )
    assert {e.state for e in entries} == {"complete"} and all(e.size > 0 for e in entries)
    assert not any(e.in_use for e in entries)
    train = next(e for e in entries if e.stage == "train")
    (train.path.with_name("train.partial")).mkdir()  # a killed run's folder
    (train.path.with_name("train.partial") / "ckpt.pt").write_bytes(b"x" * 10)
    evaluate = next(e for e in entries if e.stage == "evaluate")
    (evaluate.path / DONE_MARKER).write_text("{not json")  # a corrupt marker
    states = {(e.stage, e.state) for e in scan(work)}
    assert ("train", "partial") in states and ("evaluate", "damaged") in states
    unusable = select(scan(work), partial=True)
    assert sorted((e.stage, e.state, e.path) for e in unusable) == [
        ("evaluate", "damaged", evaluate.path),
        ("train", "partial", train.path.with_name("train.partial")),
    ]
    assert next(e.size for e in unusable if e.stage == "train") == 10


def test_older_than_reads_the_last_use_and_a_run_renews_it(work: Path) -> None:
    for entry in scan(work):
        _age(entry, 40)
    assert len(select(scan(work), older_than_days=30)) == 6
    # The same config again reuses its four stages: they count as used now.
    run_direct("counted", "quick", ["seed=5"], work, use_cache=True)
    old = select(scan(work), older_than_days=30)
    assert sorted(e.stage for e in old) == ["evaluate", "report"]  # the other config's
    assert select(scan(work), older_than_days=30, topics=["other"]) == []


def test_remove_skips_a_folder_a_running_stage_holds(work: Path) -> None:
    entries = scan(work)
    train = next(e for e in entries if e.stage == "train")
    with file_lock(train.lock):  # what run_stage holds while it computes or reuses it
        assert is_locked(train.lock) and next(e for e in scan(work) if e.stage == "train").in_use
        done = remove(entries)
    assert [(e.stage, why) for e, why in done.skipped] == [("train", IN_USE)]
    assert len(done.removed) == 5 and done.freed == sum(e.size for e in done.removed)
    assert [e.stage for e in scan(work)] == ["train"] and (train.path / DONE_MARKER).is_file()
    # Emptied key folders are gone, lock files included; the held one stays.
    assert sorted(p.name for p in work.glob("counted/*")) == [train.key]
    assert remove(scan(work)).freed == train.size
    assert not work.joinpath("counted").exists()


def test_two_cleans_at_once_remove_each_folder_once(work: Path) -> None:
    entries = scan(work)
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def clean() -> None:
        barrier.wait()
        results.append(remove(entries))

    threads = [threading.Thread(target=clean) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    removed = [e.path for r in results for e in r.removed]
    assert sorted(removed) == sorted(e.path for e in entries)  # each once, by one of them
    assert scan(work) == [] and not work.joinpath("counted").exists()


def test_a_link_is_removed_never_what_it_points_at(work: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    entry = next(e for e in scan(work) if e.stage == "evaluate")
    linked = entry.path.with_name("evaluate.partial")
    linked.symlink_to(precious)  # a stage folder that is a link
    (entry.path / "outside").symlink_to(precious)  # a link inside a stage folder
    found = {e.path: e for e in scan(work)}
    assert found[linked].size < 100  # the link, not its target
    assert len(remove([found[linked], found[entry.path]]).removed) == 2
    assert (precious / "keep.txt").read_text() == "mine"
    assert not list(entry.path.parent.glob("evaluate*"))  # nothing left aside either


def test_a_linked_topic_folder_is_cleaned_inside_and_kept(work: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other-disk" / "counted"
    elsewhere.parent.mkdir()
    (work / "counted").rename(elsewhere)
    (work / "counted").symlink_to(elsewhere)
    entries = scan(work)
    assert len(entries) == 6
    assert len(remove(entries).removed) == 6
    assert (work / "counted").is_symlink() and list(elsewhere.iterdir()) == []


def test_a_waiter_on_a_removed_lock_file_locks_its_successor(tmp_path: Path) -> None:
    """The lock holder deletes the file (as a clean does) while another thread waits on it:
    the waiter must not get in beside a newcomer that locks the new file at that path."""
    path = tmp_path / "k" / ".train.lock"
    inside: list[int] = []  # how many were inside, as each one entered
    waiting = threading.Event()

    def hold(on_wait: Any = None) -> None:
        with file_lock(path, on_wait=on_wait):
            inside.append(len(inside) - len(left) + 1)
            time.sleep(0.3)
            left.append(1)

    left: list[int] = []
    with file_lock(path):
        thread = threading.Thread(target=hold, args=(waiting.set,))
        thread.start()
        assert waiting.wait(10)
        path.unlink()
        path.parent.rmdir()
    hold()  # a newcomer, at once
    thread.join(10)
    assert inside == [1, 1]  # one after the other, never both


def test_current_keys_name_the_profiles_that_would_reuse_a_folder(work: Path) -> None:
    from topiclab.core.registry import get_registry

    run_direct("counted", "quick", None, work, use_cache=True)
    current = current_keys(get_registry(), ["counted", "not-registered"])
    assert {e.stage for e in scan(work) if "quick" in current.get((e.topic, e.key), [])} == {
        "generate",
        "train",
        "evaluate",
        "report",
    }
    seeded = {e.key for e in scan(work)} - {k for (_, k) in current}
    assert len(seeded) == 6  # the seed=5 runs' folders: no profile default makes them


def test_a_clean_during_a_run_keeps_what_the_running_stage_reads(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While ``evaluate`` computes, it holds its own folder and reads generate's and train's:
    a clean removes everything else and skips those three, and the stage finishes."""
    from topiclab.core import stages

    computing, finish = threading.Event(), threading.Event()
    real = stages.execute_stage

    def slow(*args: Any, **kwargs: Any) -> Any:
        args[4].mkdir(parents=True)  # its <stage>.partial folder, where it writes
        computing.set()
        assert finish.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(stages, "execute_stage", slow)
    failed: list[BaseException] = []

    def run() -> None:
        try:  # a third config: evaluate and report are new, generate and train reused
            run_direct("counted", "quick", ["seed=5", "eval.test_share=0.2"], work, True)
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert computing.wait(20)
    done = remove(scan(work))
    finish.set()
    thread.join(20)
    assert not failed
    kept = sorted(e.path.name for e, why in done.skipped if why == IN_USE)
    assert kept == ["evaluate.partial", "generate", "train"]
    assert sorted(e.stage for e in done.removed) == ["evaluate", "evaluate", "report", "report"]
    assert sorted(e.stage for e in scan(work)) == ["evaluate", "generate", "report", "train"]


def test_a_lock_that_cannot_be_opened_skips_its_folder_and_cleans_the_rest(work: Path) -> None:
    """A key folder on a read-only mount (a shared cache) or a lock path that is a folder:
    opening the lock fails with an OSError other than "missing". That folder is skipped with
    the reason; the clean goes on with the others instead of ending in a traceback."""
    train = next(e for e in scan(work) if e.stage == "train")
    train.lock.unlink()
    train.lock.mkdir()  # os.open(O_RDWR) fails: IsADirectoryError, like EROFS on a ro mount
    done = remove(scan(work))
    assert [(e.stage, why) for e, why in done.skipped] == [("train", "Is a directory")]
    assert len(done.removed) == 5 and [e.stage for e in scan(work)] == ["train"]


def test_a_stage_folder_replaced_by_a_file_is_listed_recomputed_and_cleaned(work: Path) -> None:
    """A file where a stage folder belongs is listed as damaged; a run recomputes the stage
    and leaves nothing aside; a clean removes such a file (and a left-over ``.old-*`` one)."""
    train = next(e for e in scan(work) if e.stage == "train")
    shutil.rmtree(train.path)
    train.path.write_text("not a folder")
    assert {(e.stage, e.state) for e in scan(work) if e.key == train.key} == {("train", "damaged")}
    run_direct("counted", "quick", ["seed=5"], work, use_cache=True)
    assert sorted(p.name for p in train.path.parent.iterdir()) == [".train.lock", "train"]
    assert (train.path / DONE_MARKER).is_file()
    leftover = train.path.with_name("train.old-12345678")
    leftover.write_text("left by an older version's swap")
    train_entries = [e for e in scan(work) if e.key == train.key]
    assert sorted((e.path.name, e.state) for e in train_entries) == [
        ("train", "complete"),
        ("train.old-12345678", "partial"),
    ]
    done = remove(train_entries)
    assert len(done.removed) == 2 and not done.skipped
    assert not train.path.parent.exists()


def test_a_clean_between_a_reuse_and_the_next_stage_recomputes_instead_of_failing(
    work: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``generate`` is reused (its lock is free again), then a clean removes it before
    ``train`` locks it to read: the run recomputes generate instead of ending in an error,
    and its log says why in a whole sentence."""
    from topiclab.core import stages

    real = stages._reading
    cleaned: list[Any] = []

    def clean_first(folder: Path, label: str, log: Any) -> Any:
        if not cleaned:
            cleaned.append(remove(scan(work)))  # `topiclab cache clean --all` at that moment
        return real(folder, label, log)

    monkeypatch.setattr(stages, "_reading", clean_first)
    with caplog.at_level(logging.INFO, logger="topiclab.core.stages"):
        results = run_direct("counted", "quick", ["seed=5", "train.steps=7"], work, True)
    said = "counted.train: the generate stage it reads was removed meanwhile; starting the"
    assert said in caplog.text, caplog.text
    # the six folders, and the lock the run made checking for its new train stage (``empty``)
    removed = sorted(e.state for e in cleaned[0].removed)
    assert removed == ["complete"] * 6 + ["empty"] and not cleaned[0].skipped
    assert Path(results["train"].files["mu"]).is_file()
    assert sorted(e.stage for e in scan(work)) == ["evaluate", "generate", "report", "train"]


def _run_read_only(
    work: Path, tmp_path: Path, overrides: list[str], mount: str = "", use_cache: bool = True
) -> Any:
    """``run_direct`` of ``counted`` with ``work`` mounted read-only (or after the shell
    command ``mount``, in a mount namespace of its own): prints its mse, or ``error: `` and
    the one line of a ``TopiclabError``."""
    script = (
        "import sys; from pathlib import Path; from topiclab.core.stages import run_direct; "
        "from topiclab.core.errors import TopiclabError\n"
        f"try: r = run_direct('counted', 'quick', sys.argv[2:], Path(sys.argv[1]), {use_cache})\n"
        "except TopiclabError as e: sys.exit(f'error: {e}')\n"
        "print(r['evaluate'].metrics['mse'])"
    )
    env = fresh_env(tmp_path, TOPICLAB_PLUGINS="support.stage_reads")
    mount = mount or f"mount --bind -o ro {work} {work}"
    mount += f' && exec {sys.executable} -c "$0" "$@"'
    unshare = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, script]
    return subprocess.run(
        [*unshare, str(work), *overrides],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not unshare_available(), reason="needs unshare --user --mount (namespaces)")
@pytest.mark.parametrize("locks", ["kept", "missing"])
def test_a_read_only_cache_is_reused(work: Path, tmp_path: Path, locks: str) -> None:
    """A cache on a read-only mount (shared, or a finished team's copy) still serves runs
    that only reuse it: the shared lock opens its lock file read-only (``mark_used``: "a
    read-only cache is still usable; it just ages"), or, where the lock files are missing
    (copied without them), reads unlocked: none can be made there."""
    if locks == "missing":
        for lock in work.glob("counted/*/.*.lock"):
            lock.unlink()
    proc = _run_read_only(work, tmp_path, ["seed=5"])
    assert proc.returncode == 0, proc.stderr[-600:]
    assert float(proc.stdout.split()[-1]) < 2


@pytest.mark.skipif(not unshare_available(), reason="needs unshare --user --mount (namespaces)")
def test_a_stage_to_compute_in_a_read_only_cache_is_one_line(work: Path, tmp_path: Path) -> None:
    """A new evaluation option reuses generate and train, then must compute evaluate: a
    read-only cache cannot hold it, and the run says so in one line, naming the stage."""
    proc = _run_read_only(work, tmp_path, ["seed=5", "eval.test_share=0.25"])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-600:]
    assert lines[0].startswith("error: counted.evaluate: cannot compute it in the stage cache")
    assert "Read-only file system" in lines[0]


def _partial_with_a_checkpoint(work: Path) -> tuple[Path, Path, bytes]:
    """generate's ``.partial`` beside its finished folder, holding a file; the finished
    folder's marker bytes, which nothing may change."""
    generate = next(e for e in scan(work) if e.stage == "generate")
    partial = generate.path.with_name("generate.partial")
    partial.mkdir()
    (partial / "checkpoint.pt").write_text("a killed run's step 40")
    return generate.path, partial, (generate.path / DONE_MARKER).read_bytes()


def _kept(finished: Path, partial: Path, marker: bytes) -> bool:
    return (finished / DONE_MARKER).read_bytes() == marker and (
        partial / "checkpoint.pt"
    ).read_text() == "a killed run's step 40"


def test_a_partial_in_a_read_only_folder_under_no_cache_is_one_line(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--no-cache`` must remove a stage's ``.partial`` first; where its key folder cannot
    be written (its lock file can) that fails: one line naming the folder and what to do,
    and nothing is lost. As a user: the folder made read-only (chmod). As root, whom mode
    bits do not stop: the ``rename`` of the ``.partial`` raises the error the kernel gives
    a user there (EACCES)."""
    from topiclab.core.errors import TopiclabError

    finished, partial, marker = _partial_with_a_checkpoint(work)
    if os.geteuid() == 0:
        real = Path.rename

        def refused(self: Path, target: Any) -> Any:
            if self == partial:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real(self, target)

        monkeypatch.setattr(Path, "rename", refused)
    else:
        partial.parent.chmod(0o555)
    try:
        with pytest.raises(TopiclabError) as refusal:
            run_direct("counted", "quick", ["seed=5"], work, use_cache=False)
    finally:
        partial.parent.chmod(0o755)
    line = str(refusal.value)
    assert line.startswith(f"counted.generate: cannot remove {partial} (Permission denied)")
    assert "remove it yourself" in line and "\n" not in line
    assert _kept(finished, partial, marker)


@pytest.mark.skipif(not unshare_available(), reason="needs unshare --user --mount (namespaces)")
def test_a_partial_that_is_a_mount_point_under_no_cache_is_one_line(
    work: Path, tmp_path: Path
) -> None:
    """A ``.partial`` that is a mount point cannot be renamed or removed (EBUSY, from the
    kernel): ``--no-cache`` ends in one line that says to unmount it; nothing is lost."""
    finished, partial, marker = _partial_with_a_checkpoint(work)
    mount = f"mount -t tmpfs none {partial}"  # over the file, which is there again after it
    proc = _run_read_only(work, tmp_path, ["seed=5"], mount=mount, use_cache=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-600:]
    assert lines[0].startswith(
        f"error: counted.generate: cannot remove {partial} (Device or resource busy)"
    )
    assert "unmount it if it is a mount point" in lines[0]
    assert _kept(finished, partial, marker)


@pytest.mark.skipif(not unshare_available(), reason="needs unshare --user --mount (namespaces)")
def test_a_stage_folder_that_is_a_mount_point_is_one_line_after_computing(
    work: Path, tmp_path: Path
) -> None:
    """A finished stage folder that is a mount point (empty there: not in the cache) is
    computed, but cannot be renamed aside for the new one (EBUSY, from the kernel): one line
    that says where the result is and what to do, not a traceback."""
    generate = next(e for e in scan(work) if e.stage == "generate").path
    proc = _run_read_only(work, tmp_path, ["seed=5"], mount=f"mount -t tmpfs none {generate}")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-600:]
    assert lines[0].startswith(
        "error: counted.generate: computed, but cannot move it into place (Device or resource "
        f"busy: {generate}); its files stay in generate.partial: make that path removable"
    )


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_file_where_a_key_folder_should_be_is_one_line(work: Path, use_cache: bool) -> None:
    """A file in the place of a stage's key folder (the stage's lock cannot be made there,
    to reuse or to compute it): one line that names the file and says what to do, whether
    the run reuses (cache on) or recomputes, not a FileExistsError's traceback."""
    from topiclab.core.errors import TopiclabError

    key_dir = next(e for e in scan(work) if e.stage == "train").path.parent
    shutil.rmtree(key_dir)
    key_dir.write_text("not a folder")
    with pytest.raises(TopiclabError) as refusal:
        run_direct("counted", "quick", ["seed=5"], work, use_cache=use_cache)
    doing = "reuse" if use_cache else "compute"
    assert str(refusal.value) == (
        f"counted.train: cannot {doing} it in the stage cache (File exists: {key_dir}); "
        "a file stands where a folder of the cache should: remove it and run again"
    )


def test_a_stage_file_that_cannot_be_read_is_recomputed(
    work: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A recorded file of a cached stage that cannot be read (no permission, an I/O error):
    the stage counts as damaged, as ``cache list`` shows it, and is recomputed with a line
    saying why, instead of ending the run in a traceback. As a user: the file made
    unreadable (chmod 000); as root, whom mode bits do not stop: its ``open`` raises the
    error the kernel gives a user (EACCES)."""
    train = next(e for e in scan(work) if e.stage == "train")
    data, marked = train.path / "mu.npy", (train.path / DONE_MARKER).stat().st_mtime_ns
    if os.geteuid() == 0:
        real = Path.open

        def refused(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == data:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refused)
    else:
        data.chmod(0)
    with caplog.at_level(logging.INFO, logger="topiclab.core.stages"):
        results = run_direct("counted", "quick", ["seed=5"], work, use_cache=True)
    said = "counted.train: cached stage is damaged (mu.npy cannot be read (Permission denied))"
    assert said in caplog.text, caplog.text
    assert Path(results["train"].files["mu"]).stat().st_size > 0
    assert (train.path / DONE_MARKER).stat().st_mtime_ns != marked  # a new one: recomputed


def test_a_second_clean_of_the_same_folders_says_they_are_gone(work: Path) -> None:
    """A clean that finds what another clean removed (and pruned, key folders and locks
    included) says so, not "a run is using it"."""
    entries = scan(work)
    assert len(remove(entries).removed) == 6
    again = remove(entries)
    assert not again.removed and {why for _, why in again.skipped} == {GONE}
    # The other clean has unlinked the lock, not yet removed the key folder: trying the
    # lock makes the file again, and this clean removes it with the folder.
    entries[0].path.parent.mkdir(parents=True)
    assert remove(entries[:1]).skipped == [(entries[0], GONE)]
    assert scan(work) == [] and not work.joinpath("counted").exists()


def test_is_locked_asks_the_kernel_and_never_takes_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cache list`` must not disturb a run: a probe that took the lock, however briefly,
    would make a run starting then wait (and say so), and a clean skip the folder as in use."""
    import fcntl

    path = tmp_path / ".train.lock"
    path.touch()
    taken: list[int] = []
    real = fcntl.flock

    def recorded(fd: int, operation: int) -> None:
        taken.append(operation)
        real(fd, operation)

    assert not is_locked(path) and not is_locked(tmp_path / "missing.lock")
    for shared in (True, False):
        with file_lock(path, shared=shared):
            monkeypatch.setattr(fcntl, "flock", recorded)
            assert is_locked(path)
            monkeypatch.setattr(fcntl, "flock", real)
    monkeypatch.setattr(fcntl, "flock", recorded)
    assert not is_locked(path)
    assert taken == []


def test_a_key_folder_holding_only_a_lock_is_listed_and_cleaned(work: Path) -> None:
    """A run stopped after taking a stage's lock, before its folder existed, leaves only the
    lock file: listed as ``empty`` (unusable, so ``--partial`` selects it), and removed with
    its key folder; while a run holds it, it is in use and stays."""
    key = work / "counted" / "0123456789abcdef"
    key.mkdir()
    lock = key / ".train.lock"
    lock.touch()
    (found,) = [e for e in scan(work) if e.key == key.name]
    assert (found.stage, found.state, found.path, found.in_use) == ("train", "empty", lock, False)
    assert select(scan(work), partial=True) == [found]
    with file_lock(lock):  # a run beginning this stage
        assert [e.in_use for e in scan(work) if e.key == key.name] == [True]
        assert remove([found]).skipped == [(found, IN_USE)]
    done = remove([found])
    assert done.removed == [found] and not key.exists() and len(scan(work)) == 6


@pytest.mark.skipif(not unshare_available(), reason="needs unshare --user --mount (namespaces)")
def test_is_locked_sees_a_lock_on_an_overlay_file_of_another_filesystem(tmp_path: Path) -> None:
    """A cache in a container (overlayfs) whose lower layer lies on another filesystem: a
    lower file's ``st_dev`` is a device of overlayfs's own making, while ``/proc/locks`` names
    the overlay's, which the file's folder reports. A held lock is still seen."""
    t = tmp_path
    script = (
        "import fcntl, os, sys; from pathlib import Path; "
        "from topiclab.core.locks import is_locked; "
        "p = Path(sys.argv[1]); fd = os.open(p, os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_SH); "
        "print('held', is_locked(p)); os.close(fd); print('free', is_locked(p))"
    )
    mount = (
        f"mkdir -p {t}/low {t}/up {t}/w {t}/m && mount -t tmpfs tmpfs {t}/low && "
        f"touch {t}/low/.train.lock && mount -t overlay overlay -o "
        f"lowerdir={t}/low,upperdir={t}/up,workdir={t}/w {t}/m || exit 77; "
        f'exec {sys.executable} -c "$0" {t}/m/.train.lock'
    )
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode == 77:
        pytest.skip(f"cannot mount an overlay here: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr[-600:]
    assert proc.stdout.split() == ["held", "True", "free", "False"]
