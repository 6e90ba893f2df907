"""File records (size + sha256): the done-marker of a stage and the hand-over between topics.

    from topiclab.core.manifest import write_marker, read_marker
    write_marker(folder, result)                 # after the stage wrote its files
    result, why = read_marker(folder)            # None and a reason if a file changed

A cached stage is trusted only while every file it wrote still has the size and hash recorded
when it finished: a truncated report or a deleted figure makes the stage recompute instead of
publishing garbage (issue 9).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from topiclab.core.topic import StageResult

DONE_MARKER = ".done.json"
NOT_COMPUTED = "not computed yet"
_CHUNK = 1 << 20


class FileRecord(BaseModel):
    size: int
    sha256: str


def file_record(path: Path) -> FileRecord:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return FileRecord(size=path.stat().st_size, sha256=digest.hexdigest())


def records(path: Path) -> dict[str, FileRecord]:
    """Every file under ``path`` (a folder) by relative POSIX path, or ``path`` itself by name;
    dot-files at the top (markers, locks) are not outputs."""
    if path.is_file():
        return {path.name: file_record(path)}
    return {
        p.relative_to(path).as_posix(): file_record(p)
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.relative_to(path).as_posix().startswith(".")
    }


def mismatch(base: Path, expected: dict[str, FileRecord]) -> str | None:
    """Why the files under ``base`` differ from ``expected`` (first difference), or None."""
    for rel, want in expected.items():
        path = base / rel
        if not path.is_file():
            return f"{rel} is missing"
        size = path.stat().st_size
        if size != want.size:
            return f"{rel} has {size} bytes, expected {want.size}"
        if file_record(path).sha256 != want.sha256:
            return f"{rel} changed (sha256 differs)"
    return None


class DoneMarker(BaseModel):
    """What ``<stage>/.done.json`` holds: the stage's result and the files it left."""

    format: Literal[2] = 2
    result: StageResult
    files: dict[str, FileRecord]


def write_marker(folder: Path, result: StageResult) -> None:
    marker = DoneMarker(result=result, files=records(folder))
    tmp = folder / (DONE_MARKER + ".tmp")
    # Python's json, not pydantic's: a NaN metric must come back as NaN, not as null.
    tmp.write_text(json.dumps(marker.model_dump(mode="json")))
    tmp.replace(folder / DONE_MARKER)  # written last, atomically: its presence means done


def read_marker(folder: Path) -> tuple[StageResult | None, str]:
    """The cached result if the folder is complete and unchanged, else None and the reason."""
    path = folder / DONE_MARKER
    if not path.is_file():
        return None, NOT_COMPUTED
    try:
        marker = DoneMarker.model_validate(json.loads(path.read_bytes()))
        why = mismatch(folder, marker.files)
    except (ValueError, ValidationError):
        return None, f"{DONE_MARKER} is unreadable or of an older format"
    except OSError as exc:  # no permission, an I/O error: a stage it cannot check is damaged
        name = Path(exc.filename).name if exc.filename else DONE_MARKER
        return None, f"{name} cannot be read ({exc.strerror or type(exc).__name__})"
    return (None, why) if why else (marker.result, "")


class UpstreamOutput(BaseModel):
    """A named output of another topic, handed to a downstream topic's stages.

    ``stage`` made it, in the folder of that stage's key ``cache_key``; ``path`` is a file or a
    folder there; ``files`` its records (relative to the folder, or the file's own name), so a
    consumer can check what it reads.
    """

    topic: str
    name: str
    cache_key: str
    path: str
    files: dict[str, FileRecord]
    stage: str = ""

    @classmethod
    def of(
        cls, topic: str, name: str, cache_key: str, path: Path, stage: str = ""
    ) -> UpstreamOutput:
        return cls(
            topic=topic,
            name=name,
            cache_key=cache_key,
            path=str(path),
            files=records(path),
            stage=stage,
        )

    def verify(self) -> str | None:
        """Why the output on disk no longer matches this record, or None."""
        path = Path(self.path)
        return mismatch(path if path.is_dir() else path.parent, self.files)
