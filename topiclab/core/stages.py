"""Run one stage of a topic in this process: the piece shared by the flow and direct calls.

    from topiclab.core.stages import run_direct, run_stage
    results = run_direct("diffusion", "quick", overrides=["seed=1"], root=Path("/tmp/w"))
    outcome = run_stage("ridge", "train", "quick", config, workdir, [data])  # reuse or compute

Each stage's folder is content-addressed by its own key (``stage_keys``: topic, the config
values the stage reads, the code they select, upstream topics, the previous stage's key), so an
unchanged re-run finds its earlier outputs in the same place, and a change that only later
stages read (an evaluation option) reuses the earlier ones. ``run_stage`` is the stage cache:

- under a per-stage file lock (two runs of one topic and config: the second waits, then reuses),
  taken shared to reuse a stage, and shared on the folders a computing stage reads, so that
  ``topiclab cache clean`` (``core.cache``) never removes them from under it;
- a cached folder counts only if its ``.done.json`` records match every file (``core.manifest``);
- a stage is computed in ``<stage>.partial/`` and renamed into place when done, so nobody sees
  half-written files; the old folder is kept aside until then, and removed after;
- ``use_cache=False`` starts from an EMPTY folder: a resumable trainer cannot pick up an old
  checkpoint. With the cache on, a ``.partial`` left by a killed run is resumed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from topiclab.core.config import resolve_config
from topiclab.core.console import logged_progress, rich_progress
from topiclab.core.environment import topiclab_home
from topiclab.core.errors import ConfigError, TopiclabError
from topiclab.core.fingerprint import KEY_LIBRARIES, library_versions
from topiclab.core.locks import file_lock
from topiclab.core.manifest import (
    DONE_MARKER,
    NOT_COMPUTED,
    UpstreamOutput,
    read_marker,
    write_marker,
)
from topiclab.core.reads import guarded, project, read_tree
from topiclab.core.registry import get_registry
from topiclab.core.topic import STAGES, StageContext, StageResult, TopicConfig

__all__ = [
    "DONE_MARKER",
    "StageOutcome",
    "StageRemoved",
    "discard",
    "holding",
    "over_if_removed",
    "run_direct",
    "run_stage",
    "stage_keys",
]
_log = logging.getLogger(__name__)
T = TypeVar("T")
#: How many times a run's stages start over when a clean removes a stage they reuse.
PASSES = 3


class StageRemoved(TopiclabError):
    """A stage folder a stage reads was removed between its reuse and the shared lock the
    reading stage takes on it (``topiclab cache clean``): nothing was computed yet."""


def over_if_removed(stages: Callable[[], T], log: Callable[[str], None]) -> T:
    """Run ``stages`` (a topic's stages, in order), and again from the first when a clean
    removed a stage they reused (``StageRemoved``): that pass recomputes it. A few passes at
    most: a clean that keeps removing it ends the run with its one-line error."""
    for attempt in range(1, PASSES + 1):
        try:
            return stages()
        except StageRemoved as exc:
            if attempt == PASSES:
                raise
            log(f"{exc.args[0].split(' (')[0]}; starting the stages over to recompute it")
    raise AssertionError("unreachable")  # pragma: no cover


def stage_keys(
    topic: Any,
    cfg: TopicConfig,
    fingerprint: Callable[[dict[str, Any]], str],
    profile: str = "",
    upstream: dict[str, str] | None = None,
) -> dict[str, str]:
    """Each stage's cache key, ``{stage: key}``: the topic, the profile (the report states
    it), the config values the stage reads (``Topic.reads``; undeclared: all of it), the code
    those values select (``fingerprint(values)``), the versions of the libraries that can
    change its numbers (``fingerprint.KEY_LIBRARIES`` and the topic's ``libraries``), the keys
    of the upstream stages whose outputs it consumes (``{"topic:stage": key}``) and the
    previous stage's key, so a stage is recomputed whenever anything it stands on is."""
    keys: dict[str, str] = {}
    previous = ""
    libraries = dict(library_versions((*KEY_LIBRARIES, *getattr(topic, "libraries", ()))))
    for stage in STAGES:
        try:
            values = project(cfg, read_tree(topic, stage))
        except ConfigError as exc:
            raise ConfigError(f"topic '{topic.key}', stage '{stage}': {exc}") from exc
        identity: dict[str, Any] = {
            "topic": topic.key,
            "stage": stage,
            "profile": profile,
            "config": values,
            "code": fingerprint(values),
            "libraries": libraries,
            "previous": previous,
        }
        if upstream:
            identity["upstream"] = upstream
        blob = json.dumps(identity, sort_keys=True)
        keys[stage] = previous = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return keys


def work_root() -> Path:
    """Where stage outputs live: ``$TOPICLAB_HOME/work`` (default ``./.topiclab/work``)."""
    return topiclab_home() / "work"  # the folder `topiclab cache` lists and cleans


def stage_dir(root: Path, topic_key: str, chash: str, stage: str) -> Path:
    return root / topic_key / chash / stage


def lock_path(workdir: Path) -> Path:
    """The lock a stage folder is computed, reused and removed under (``core.locks``)."""
    return workdir.with_name(f".{workdir.name}.lock")


def mark_used(workdir: Path) -> None:
    """Record that a run used the stage now: the lock file's mtime is its last use, which
    ``topiclab cache clean --older-than`` reads (the marker and files stay untouched)."""
    with contextlib.suppress(OSError):  # a read-only cache is still usable; it just ages
        os.utime(lock_path(workdir))


def seed_everything(seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def execute_stage(
    topic_key: str,
    stage: str,
    profile: str,
    config: dict[str, Any],
    workdir: Path,
    upstream: list[StageResult],
    run: dict[str, Any] | None = None,
    inputs: dict[str, UpstreamOutput] | None = None,
    log: Callable[[str], None] | None = None,
) -> StageResult:
    """Build the registry of this process and compute ``stage`` in ``workdir`` (no caching);
    ``log`` also receives the trainers' progress (about ten lines a loop)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage '{stage}'; choose from: {', '.join(STAGES)}")
    registry = get_registry()
    topic = registry.topic(topic_key)
    cfg = topic.Config.model_validate(config)
    workdir.mkdir(parents=True, exist_ok=True)

    def sink(metrics: dict[str, float], step: int | None, child: str | None) -> None:
        if run is not None:
            registry.hook.topiclab_log_metrics(run=run, metrics=metrics, step=step, child=child)

    # The stage sees only the fields its cache key covers (core.reads): another read raises.
    view = guarded(cfg, read_tree(topic, stage), f"stage '{stage}' of topic '{topic_key}'")
    ctx = StageContext(
        topic=topic_key,
        profile=profile,
        config=view,
        workdir=workdir,
        stage=stage,
        registry_factory=get_registry,
        metrics_sink=sink,
        progress_factory=rich_progress if log is None else logged_progress(log),
        upstream=dict(inputs or {}),
    )
    # Each stage reseeds from the config, so a resumed run computes what an unbroken one does.
    seed_everything(cfg.seed + STAGES.index(stage))
    with figure_defaults():
        result: StageResult = getattr(topic, stage)(ctx, *upstream)
    return result


def figure_defaults() -> Any:
    """Matplotlib settings for every figure a stage saves: ``bbox_inches="tight"``, so axis
    labels and legends outside the axes are never clipped, whichever plugin drew them.
    (matplotlib is usually imported already: plugins' figure modules import it.)"""
    import matplotlib

    return matplotlib.rc_context({"savefig.bbox": "tight", "savefig.pad_inches": 0.05})


class StageOutcome(BaseModel):
    """A stage's result, whether it came from the cache, its compute time, and why it ran."""

    result: StageResult
    cached: bool
    seconds: float = 0.0
    reason: str = ""


def run_stage(
    topic_key: str,
    stage: str,
    profile: str,
    config: dict[str, Any],
    workdir: Path,
    upstream: list[StageResult],
    run: dict[str, Any] | None = None,
    inputs: dict[str, UpstreamOutput] | None = None,
    use_cache: bool = True,
    log: Callable[[str], None] = _log.info,
    reads: Sequence[Path] = (),
    on_wait: Callable[[str], None] | None = None,
) -> StageOutcome:
    """Reuse ``workdir`` if its files are intact, else compute it atomically (module doc).
    ``reads``: the folders of the earlier stages whose results are ``upstream``; they (and
    the upstream topics' stage folders of ``inputs``) are locked shared while it computes, so
    neither a recompute nor ``topiclab cache clean`` removes them from under it.
    ``on_wait`` (default ``log``) says that it waits for another run's lock, once per lock:
    the CLI shows that line at the terminal, where the run seems to stand still."""
    label = f"{topic_key}.{stage}"
    lock = lock_path(workdir)
    say = on_wait or log

    def waiting() -> None:
        say(f"{label}: another run is computing this stage; waiting for it")

    if use_cache:  # readers share the lock: reusing never waits for another reuse
        try:
            cached = finished(workdir, on_wait=waiting)
        except OSError as exc:
            raise _unusable(label, "reuse", workdir, exc) from exc
        if cached is not None:
            return StageOutcome(result=cached, cached=True)
    with contextlib.ExitStack() as held:
        for folder in dict.fromkeys([*reads, *_input_folders(inputs)]):
            held.enter_context(_reading(folder, label, say))
        try:
            held.enter_context(file_lock(lock, on_wait=waiting))
        except OSError as exc:  # a read-only cache serves reuses only (core.locks)
            raise _unusable(label, "compute", workdir, exc) from exc

        def compute(folder: Path) -> StageResult:
            return execute_stage(
                topic_key, stage, profile, config, folder, upstream, run, inputs, log
            )

        return _compute(label, workdir, compute, use_cache, log)


def finished(workdir: Path, on_wait: Callable[[], None] | None = None) -> StageResult | None:
    """The finished stage in ``workdir`` (its files checked), read under the stage's lock
    taken shared, as every reader of a stage folder must: a run computing it holds the lock
    exclusively until its folder is swapped into place, so a reader waits for it instead of
    finding the folder gone or halfway. None if it is not finished; ``OSError`` if the lock
    cannot be taken."""
    with file_lock(lock_path(workdir), on_wait=on_wait, shared=True):
        cached, _ = read_marker(workdir)
        if cached is not None:
            mark_used(workdir)
        return cached


def _unusable(label: str, doing: str, workdir: Path, exc: OSError) -> TopiclabError:
    """The one line for a stage lock that cannot be taken: a file where a folder of the
    cache should be, a read-only cache (to compute in), another error of the disk."""
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        hint = "a file stands where a folder of the cache should: remove it and run again"
    elif doing == "compute":
        hint = "a stage is computed only where it can be written"
    else:
        hint = "check that folder and its disk"
    return TopiclabError(
        f"{label}: cannot {doing} it in the stage cache ({exc.strerror}: "
        f"{exc.filename or workdir.parent}); {hint}"
    )


@contextlib.contextmanager
def _reading(folder: Path, label: str, log: Callable[[str], None]) -> Iterator[None]:
    """A shared lock on a stage folder this stage reads, which must still be there."""
    waiting = f"{label}: another run is recomputing {folder.name}, which it reads; waiting"
    with file_lock(lock_path(folder), on_wait=lambda: log(waiting), shared=True):
        if not (folder / DONE_MARKER).is_file():
            raise StageRemoved(
                f"{label}: the {folder.name} stage it reads was removed meanwhile ({folder}; "
                "topiclab cache clean?); run again to recompute it"
            )
        yield


def holding(
    folders: Sequence[Path], label: str, log: Callable[[str], None]
) -> contextlib.ExitStack:
    """Shared locks on finished stage folders, each checked still there (``StageRemoved``
    if one is not): while they are held, ``topiclab cache clean`` skips the folders, so a
    run can publish their files and tell its trackers of them. Close it when done."""
    held = contextlib.ExitStack()
    try:
        for folder in folders:
            held.enter_context(_reading(folder, label, log))
    except BaseException:
        held.close()
        raise
    return held


def _input_folders(inputs: dict[str, UpstreamOutput] | None) -> list[Path]:
    """The upstream stage folders that hold ``inputs`` (``<key>/<stage>/`` above the path)."""
    found = []
    for item in (inputs or {}).values():
        path = Path(item.path)
        for folder in (path, *path.parents):
            if item.stage and folder.name == item.stage and folder.parent.name == item.cache_key:
                found.append(folder)
                break
    return found


def _compute(
    label: str,
    workdir: Path,
    compute: Callable[[Path], StageResult],
    use_cache: bool,
    log: Callable[[str], None],
) -> StageOutcome:
    """``run_stage`` under the stage's exclusive lock: reuse what another run finished while
    this one waited, else compute in ``<stage>.partial`` and swap it into place."""
    mark_used(workdir)
    for old in workdir.parent.glob(f"{workdir.name}.old-*"):  # a crash mid-swap
        with contextlib.suppress(OSError):  # a clean may try again; it says why
            discard(old)
    reason = "recompute requested (no cache), from an empty folder"
    if use_cache:
        cached, why = read_marker(workdir)
        if cached is not None:
            return StageOutcome(result=cached, cached=True)
        reason = "not in the cache" if why == NOT_COMPUTED else f"cached copy damaged: {why}"
        if why != NOT_COMPUTED:
            log(f"{label}: cached stage is damaged ({why}); recomputing it")
    partial = workdir.with_name(f"{workdir.name}.partial")
    if not use_cache or partial.is_symlink() or not partial.is_dir():
        _clear(label, partial)  # a link goes too: the stage never writes into what it points at
    elif any(partial.iterdir()):
        # a killed run's files stay: a trainer that checkpoints there resumes from them
        reason += f"; continues in {partial.name}, which an interrupted run left"
    start = time.perf_counter()
    result = compute(partial)
    seconds = time.perf_counter() - start
    result = _relocate(result, partial, workdir)
    write_marker(partial, result)
    try:
        _swap_in(partial, workdir)
    except OSError as exc:  # the old folder is a mount point, or its parent read-only now
        raise TopiclabError(
            f"{label}: computed, but cannot move it into place ({exc.strerror}: "
            f"{exc.filename or workdir}); its files stay in {partial.name}: make that "
            "path removable (unmount it if it is a mount point) and run again"
        ) from exc
    return StageOutcome(result=result, cached=False, seconds=seconds, reason=reason)


def _clear(label: str, partial: Path) -> None:
    """Remove ``partial`` before computing into it, or say in one line why it cannot be (a
    mount point, a read-only parent folder): nothing is lost, the finished folder stays."""
    try:
        discard(partial)
    except OSError as exc:
        where = exc.filename or partial  # removal stops at the first entry that resists
        raise TopiclabError(
            f"{label}: cannot remove {where} ({exc.strerror or type(exc).__name__}) to compute "
            "the stage from an empty folder; remove it yourself (unmount it if it is a mount "
            "point) and run again (a finished copy of the stage is untouched)"
        ) from exc


def _relocate(result: StageResult, src: Path, dst: Path) -> StageResult:
    """The stage wrote paths under ``src``; after the rename they live under ``dst``."""
    return StageResult.model_validate(_replace(result.model_dump(mode="json"), str(src), str(dst)))


def _replace(tree: Any, old: str, new: str) -> Any:
    if isinstance(tree, str):
        return tree.replace(old, new)
    if isinstance(tree, dict):
        return {k: _replace(v, old, new) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_replace(v, old, new) for v in tree]
    return tree


def _swap_in(partial: Path, workdir: Path) -> None:
    """Rename the finished folder into place; the previous one is removed only afterwards."""
    aside = workdir.with_name(f"{workdir.name}.old-{uuid.uuid4().hex[:8]}")
    if workdir.exists() or workdir.is_symlink():
        workdir.rename(aside)
    partial.rename(workdir)
    with contextlib.suppress(OSError):  # the new folder is in place; the next run retries
        discard(aside)


def discard(path: Path) -> None:
    """Remove a stage folder, or the file or link in its place: a link itself, never what it
    points at (nothing is followed). A folder is first renamed aside (``<stage>.old-*``), so
    that an interrupted removal leaves nothing a run would reuse or resume; an ``OSError``
    says what could not be removed (``core.cache`` reports it)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    stage, _, rest = path.name.partition(".")
    if not rest.startswith("old-"):
        path = path.rename(path.with_name(f"{stage}.old-{uuid.uuid4().hex[:8]}"))
    shutil.rmtree(path)


def run_direct(
    topic_key: str,
    profile: str = "quick",
    overrides: list[str] | None = None,
    root: Path | None = None,
    use_cache: bool = False,
) -> dict[str, StageResult]:
    """The four stages as plain calls, no Prefect and no tracking (benchmarks, debugging).
    Topics that consume other topics need the flow (it runs their upstream first)."""
    registry = get_registry()
    topic = registry.topics[topic_key]
    cfg = resolve_config(topic, profile, overrides=overrides)
    config = cfg.model_dump(mode="json")
    keys = stage_keys(topic, cfg, lambda values: registry.fingerprint(topic_key, values), profile)
    folders = {s: stage_dir(root or work_root(), topic_key, keys[s], s) for s in STAGES}

    def stages() -> dict[str, StageResult]:
        results: dict[str, StageResult] = {}
        for stage in STAGES:
            before = STAGES[: STAGES.index(stage)]
            outcome = run_stage(
                topic_key,
                stage,
                profile,
                config,
                folders[stage],
                [results[s] for s in before],
                use_cache=use_cache,
                reads=[folders[s] for s in before],
            )
            results[stage] = outcome.result
        return results

    return over_if_removed(stages, _log.info)
