"""The stage cache on disk (``$TOPICLAB_HOME/work/<topic>/<key>/<stage>/``): what is there,
and removing what a selection names, as ``topiclab cache list`` and ``clean`` do.

    from topiclab.core.cache import scan, select, remove
    entries = scan(work_root())                            # every stage folder, partial ones too
    old = select(entries, older_than_days=30)              # last used more than 30 days ago
    cleaned = remove(old)                                  # each under its stage's lock

A folder is removed only while this process holds the stage's lock (``core.locks``), the one
``core.stages.run_stage`` computes it under (and reuses or reads it under, shared), taken
without waiting: a folder a run is computing or reading is skipped and reported. A folder is
first renamed aside (``<stage>.old-*``, which a run also clears), so an interrupted removal
never leaves a folder that looks complete. Listing reads the done-markers and hashes no stage
file (a run does that); its "current" column hashes the plugins' sources to compute keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from topiclab.core.dag import RUN_RECORD, Identity, identity
from topiclab.core.locks import is_locked, try_lock
from topiclab.core.manifest import DONE_MARKER, DoneMarker
from topiclab.core.stages import discard, lock_path
from topiclab.core.topic import PROFILES, STAGES

State = Literal["complete", "partial", "damaged", "empty"]
DAY_S = 86_400.0
#: What a run writes into a key folder besides its stages and their locks: the run record,
#: and its temporary where a run was killed while writing it (``core.dag.write_run_record``).
RUN_FILES = (RUN_RECORD, f"{RUN_RECORD}.tmp")


@dataclass(frozen=True)
class CacheEntry:
    """One stage folder: ``complete`` (a readable done-marker), ``partial`` (a ``.partial``
    folder of a stage being computed or abandoned, or an ``.old-*`` one a swap left),
    ``damaged`` (no readable marker: a run recomputes it) or ``empty`` (only the stage's lock
    file, ``path``: a run stopped before it began, or is beginning)."""

    topic: str
    key: str
    stage: str
    path: Path
    state: State
    size: int  # bytes of the files under it (links not followed)
    used: float  # last use by a run (its lock file's mtime), else creation, as a timestamp
    in_use: bool  # a run holds its lock now (computing it, or reading it)

    @property
    def lock(self) -> Path:
        return lock_path(self.path.with_name(self.stage))

    @property
    def label(self) -> str:
        return f"{self.topic}/{self.key}/{self.path.name}"


def scan(root: Path, topics: Iterable[str] | None = None) -> list[CacheEntry]:
    """Every stage folder under ``root`` (``work_root()``), of ``topics`` if given; a
    missing root is an empty cache."""
    wanted = set(topics) if topics is not None else None
    found = []
    for topic_dir in _folders(root):
        if wanted is not None and topic_dir.name not in wanted:
            continue
        for key_dir in _folders(topic_dir):
            for stage, path, state in _stages_in(key_dir):
                try:
                    found.append(_entry(topic_dir.name, key_dir.name, stage, path, state))
                except FileNotFoundError:  # removed while we looked (a run's swap, a clean)
                    continue
    return found


def _stages_in(key_dir: Path) -> Iterator[tuple[str, Path, State]]:
    """The stage folders of a key folder, and the lock files no stage folder goes with."""
    children = _children(key_dir)
    seen = set()
    for path in children:
        stage, state = _stage_of(path)
        if stage is not None and state is not None:
            seen.add(stage)
            yield stage, path, state
    for stage in STAGES:
        lock = lock_path(key_dir / stage)
        if stage not in seen and lock in children:
            yield stage, lock, "empty"


def _children(path: Path) -> list[Path]:
    try:
        return sorted(path.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _folders(path: Path) -> list[Path]:
    """Sub-folders (a linked one is followed: a topic's cache may live on another disk)."""
    return [p for p in _children(path) if p.is_dir()]


def _stage_of(path: Path) -> tuple[str | None, State | None]:
    name = path.name
    stage, sep, rest = name.partition(".")
    if stage not in STAGES or not (path.exists() or path.is_symlink()):
        return None, None  # a file there is listed too: damaged, or left over from a swap
    if not sep:
        return stage, "complete" if _marker_ok(path) else "damaged"
    if rest == "partial" or rest.startswith("old-"):
        return stage, "partial"
    return None, None


def _marker_ok(folder: Path) -> bool:
    try:
        DoneMarker.model_validate(json.loads((folder / DONE_MARKER).read_bytes()))
    except (OSError, ValueError, ValidationError):
        return False
    return True


def _entry(topic: str, key: str, stage: str, path: Path, state: State) -> CacheEntry:
    size, newest = 0, path.lstat().st_mtime
    for file in _files(path):
        try:
            size += file.lstat().st_size
        except OSError:  # removed meanwhile (a run, another clean)
            continue
    lock = lock_path(path.with_name(stage))
    marker = path / DONE_MARKER
    for stamp in (lock, marker):
        try:
            newest = max(newest, stamp.stat().st_mtime)
        except OSError:
            continue
    return CacheEntry(topic, key, stage, path, state, size, newest, is_locked(lock))


def _files(path: Path) -> Iterator[Path]:
    if path.is_symlink() or not path.is_dir():
        yield path  # the link itself (what it points at is not the cache's), or a file
        return
    for parent, _, names in os.walk(path):  # links inside are not followed
        yield from (Path(parent) / n for n in names)


def select(
    entries: list[CacheEntry],
    topics: Iterable[str] | None = None,
    older_than_days: float | None = None,
    partial: bool = False,
    now: float | None = None,
) -> list[CacheEntry]:
    """The entries every given selector matches (no selector: all of them)."""
    now = time.time() if now is None else now
    wanted = set(topics) if topics else None
    return [
        e
        for e in entries
        if (wanted is None or e.topic in wanted)
        and (older_than_days is None or e.used < now - older_than_days * DAY_S)
        and (not partial or e.state != "complete")
    ]


@dataclass
class Cleaned:
    """What ``remove`` did: the folders removed, those skipped (and why), the bytes freed."""

    removed: list[CacheEntry] = field(default_factory=list)
    skipped: list[tuple[CacheEntry, str]] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(e.size for e in self.removed)


IN_USE = "a run is using it"
GONE = "already removed (another clean?)"


def remove(entries: list[CacheEntry]) -> Cleaned:
    """Remove each entry's folder under its stage's lock, taken without waiting."""
    done = Cleaned()
    for entry in entries:
        try:
            why = _remove_one(entry)
        except OSError as exc:  # the lock cannot be opened: a read-only mount, a folder there
            why = exc.strerror or type(exc).__name__
        if why is None:
            done.removed.append(entry)
        else:
            done.skipped.append((entry, why))
    return done


def _remove_one(entry: CacheEntry) -> str | None:
    """Remove one folder under its lock: None, or why it was not."""
    with try_lock(entry.lock) as held:
        if not (entry.path.exists() or entry.path.is_symlink()):
            if held:  # the lock file may be one this made again, after another clean
                _prune(entry.path.parent, entry.lock)
            return GONE  # a missing key folder cannot be locked either: not "in use"
        if not held:
            return IN_USE
        if entry.state == "empty":  # the lock alone: it goes with its key folder
            return None if _prune(entry.path.parent, entry.lock) else "no longer empty (a run?)"
        try:
            discard(entry.path)
        except OSError as exc:
            return exc.strerror or type(exc).__name__
        _prune(entry.path.parent, entry.lock)
    return None


def _prune(key_dir: Path, held: Path) -> bool:
    """Remove the key folder once no stage is left in it: its run record, the lock this
    process holds (a waiter then locks a new file, ``core.locks``), then the folder. False
    if something else is still there."""
    try:
        left = {p.name for p in key_dir.iterdir()}
    except OSError:
        return False
    if not left <= {held.name, *RUN_FILES}:
        return False
    for name in (*RUN_FILES, held.name):
        (key_dir / name).unlink(missing_ok=True)
    for folder in (key_dir, key_dir.parent):
        try:
            folder.rmdir()  # only if empty: a run may have started here meanwhile
        except OSError:
            break
    return True


@dataclass
class Swept:
    """What ``sweep`` did: the folders and run records it removed, the files it kept."""

    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def sweep(root: Path, topics: Iterable[str] | None = None) -> Swept:
    """After a clean of whole topics (``--all``, ``--topic``): remove the key folders left
    with no stage or lock in them, with the run records that named their stages, and the
    topic folders left empty. A file no run writes is kept and named, and so is its folder;
    a key folder with a stage or a lock in it is left to ``remove`` (a run may hold it)."""
    wanted = set(topics) if topics is not None else None
    done = Swept()
    for topic_dir in _folders(root):
        if wanted is not None and topic_dir.name not in wanted:
            continue
        for key_dir in _folders(topic_dir):
            _sweep_key(key_dir, done)
        _remove_empty(topic_dir, done)
    return done


def _sweep_key(key_dir: Path, done: Swept) -> None:
    """A key folder without a stage: its run records and free locks go (a lock some run
    holds leaves the folder alone), what no run writes stays."""
    children = _children(key_dir)
    if any(_stage_of(p)[0] for p in children):
        return
    locks = [p for p in children if _is_lock(p)]
    with contextlib.ExitStack() as held:
        if not all(held.enter_context(try_lock(lock)) for lock in locks):
            return  # a run is beginning a stage here
        for path in children:
            if path in locks or (path.name in RUN_FILES and not path.is_dir()):
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    done.kept.append(path)
                    continue
                if path not in locks:  # a lock is the stage's, not news to the user
                    done.removed.append(path)
            else:
                done.kept.append(path)
    _remove_empty(key_dir, done)


def _is_lock(path: Path) -> bool:
    return any(path == lock_path(path.parent / stage) for stage in STAGES)


def _remove_empty(folder: Path, done: Swept) -> None:
    try:
        folder.rmdir()  # only if empty: a run may have begun here meanwhile
    except OSError:
        return
    done.removed.append(folder)


def current_keys(reg: Any, topics: Iterable[str]) -> dict[tuple[str, str], list[str]]:
    """``{(topic, key): [profiles]}``: the stage keys the default config of each profile of
    ``topics`` (and of the topics they consume) has now, i.e. what a plain
    ``topiclab run TOPIC --profile P`` would reuse."""
    found: dict[tuple[str, str], list[str]] = {}

    def add(ident: Identity, profile: str) -> None:
        for key in ident.stage_keys.values():
            profiles = found.setdefault((ident.topic, key), [])
            if profile not in profiles:
                profiles.append(profile)
        for up in ident.upstream.values():
            add(up, profile)

    for topic in sorted(set(topics) & set(reg.topics)):
        for profile in PROFILES:
            try:
                add(identity(reg, topic, profile), profile)
            except Exception:  # a plugin config may raise anything; the column is only a hint
                continue
    return found
