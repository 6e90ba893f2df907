"""``topiclab cache``: see and clean the stage cache (``$TOPICLAB_HOME/work``).

    topiclab cache list                          every stage folder: size, last use, state
    topiclab cache list --topic llama
    topiclab cache clean --older-than 30         not used for 30 days (asks first)
    topiclab cache clean --partial --dry-run     what abandoned .partial folders would free
    topiclab cache clean --topic llama --yes     all of llama's stages, no question
    topiclab cache clean --all

The work is ``core.cache``: a folder a running stage holds is skipped and named, never removed.
A clean of whole topics (``--all``, ``--topic``) also removes the key and topic folders their
stages leave empty, with the run records in them, and names each file no run writes (kept).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table

from topiclab.app.preflight import check_writable
from topiclab.core.environment import topiclab_home
from topiclab.core.errors import TopiclabError

if TYPE_CHECKING:  # core.cache imports pydantic: `topiclab --help` does not need it
    from topiclab.core.cache import CacheEntry, Cleaned, Swept

cache_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="See and clean the stage cache ($TOPICLAB_HOME/work): `topiclab cache list`, "
    "`topiclab cache clean --older-than 30`.",
)
out = Console()

TopicOption = Annotated[
    list[str] | None,
    typer.Option("--topic", metavar="TOPIC", help="Only this topic's stages (repeatable)."),
]


def _work() -> Path:
    """``$TOPICLAB_HOME/work``; a home that is missing or not a folder, or a ``work`` that
    is not a folder, is an error (a missing ``work`` is an empty cache)."""
    home = topiclab_home()
    if not home.exists():
        raise TopiclabError(
            f"TOPICLAB_HOME '{home}' does not exist: no runs wrote there (set TOPICLAB_HOME "
            "to the folder your runs use)"
        )
    if not home.is_dir():
        raise TopiclabError(f"TOPICLAB_HOME '{home}' is a file, not a folder")
    work = home / "work"
    if work.exists() and not work.is_dir():
        raise TopiclabError(f"the stage cache '{work}' is a file, not a folder")
    return work


def _entries(work: Path, topics: list[str] | None) -> list[CacheEntry]:
    """The cached stages, of ``topics`` if given; a topic neither cached nor registered is
    an error (the registry is loaded only then: it takes seconds)."""
    from topiclab.core.cache import scan, select

    entries = scan(work)
    if not topics:
        return entries
    unknown = sorted(set(topics) - {e.topic for e in entries})
    if unknown:
        registered = set(_registry().topics)
        for name in unknown:
            if name not in registered:
                cached = sorted({e.topic for e in entries})
                raise TopiclabError(
                    f"unknown topic '{name}'; cached: {', '.join(cached) or '(none)'}; "
                    f"registered: {', '.join(sorted(registered))}"
                )
    return select(entries, topics=topics)


def _registry() -> Any:
    from topiclab.core.environment import configure_environment
    from topiclab.core.registry import get_registry

    configure_environment()  # the home exists (``_work``): this only sets the environment
    return get_registry()


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


Current = dict[tuple[str, str], list[str]]
#: Narrowest a column of the stacked layout gets before it folds (a key in 4-hex pieces).
FLOOR = 4
UNBOUNDED = 10_000  # a width to measure a table's natural width in


def _table(entries: list[CacheEntry], current: Current | None, width: int) -> Table:
    """One row a folder where that fits ``width``; else the stacked layout (``_stacked``),
    whose topic, stage and state are never cut short."""
    table = _wide(entries, current)
    if out.measure(table, options=out.options.update_width(UNBOUNDED)).maximum <= width:
        return table
    return _stacked(entries, current, width)


def _sorted(entries: list[CacheEntry]) -> list[CacheEntry]:
    from topiclab.core.topic import STAGES

    return sorted(entries, key=lambda e: (e.topic, STAGES.index(e.stage), -e.used))


def _wide(entries: list[CacheEntry], current: Current | None) -> Table:
    columns = ["topic", "stage", "key", "size", "last used", "state"]
    table = Table(*columns, *(["current"] if current is not None else []))
    table.columns[3].justify = "right"
    for column in table.columns:
        column.no_wrap = True  # used only where it fits whole (``_table``)
    for e in _sorted(entries):
        state = e.state + (" (in use)" if e.in_use else "")
        row = [e.topic, e.stage, e.key, decimal(e.size), _when(e.used), state]
        if current is not None:
            row.append(", ".join(current.get((e.topic, e.key), [])))
        table.add_row(*row)
    return table


def _stacked(entries: list[CacheEntry], current: Current | None, width: int) -> Table:
    """Two values a cell, one under the other (topic over stage, key over size, date over
    time; "in use" under the state; one profile a line), and no vertical rules: 67 columns
    for a 13-letter topic where ``_wide`` needs 121. Where that is too wide, the key folds
    first, then the date, the profiles, topic and stage, the state last: each value stays
    whole, if over lines, never "…"."""
    headers = ["topic\nstage", "state", "key\nsize", "last used", "current"][
        : 5 if current is not None else 4
    ]
    rows = []
    for e in _sorted(entries):
        row = [
            f"{e.topic}\n{e.stage}",
            e.state + ("\n(in use)" if e.in_use else ""),
            f"{e.key}\n{decimal(e.size)}",
            _when(e.used).replace(" ", "\n"),
        ]
        if current is not None:
            row.append("\n".join(current.get((e.topic, e.key), [])))
        rows.append(row)
    cells = [headers, *rows]
    natural = [
        max(cell_len(line) for row in cells for line in row[i].split("\n"))
        for i in range(len(headers))
    ]
    gaps = 3 * (len(headers) - 1)  # a space between columns and one of padding on each side
    order = [i for i in (2, 3, 4, 0, 1) if i < len(headers)]  # what folds first
    widths = _fit(natural, width - gaps, order)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header, w in zip(headers, widths, strict=True):
        table.add_column(header, width=w, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _fit(natural: list[int], room: int, order: list[int]) -> list[int]:
    """Column widths that sum to ``room`` at most: ``natural`` less the excess, taken from
    the columns in ``order`` (each down to ``FLOOR``) one after the other."""
    widths = list(natural)
    excess = sum(widths) - room
    for index in order:
        cut = max(0, min(excess, widths[index] - FLOOR))
        widths[index] -= cut
        excess -= cut
    return widths


@cache_app.command("list")
def list_cmd(
    topic: TopicOption = None,
    current: Annotated[
        bool,
        typer.Option(
            help="Name the profiles whose default config would reuse each folder "
            "(loads the plugins: a few seconds)."
        ),
    ] = True,
) -> None:
    """List the cached stage folders: topic, stage, key, size, last use, state (complete,
    partial, damaged, empty; "in use" while a run computes or reads it), and the profiles whose
    default config (`topiclab run TOPIC --profile P`, no --set) would reuse it.

    Example: topiclab cache list --topic llama
    """
    from topiclab.core.cache import current_keys

    work = _work()
    entries = _entries(work, topic)
    if not entries:
        out.print(f"the stage cache is empty ({work})", highlight=False, soft_wrap=True)
        return
    keys = current_keys(_registry(), {e.topic for e in entries}) if current else None
    out.print(_table(entries, keys, out.width), highlight=False)
    total = sum(e.size for e in entries)
    out.print(f"{_folders(len(entries))}, {decimal(total)} in {work}", highlight=False)


def _days(value: float | None) -> float | None:
    if value is not None and (math.isnan(value) or value < 0):
        raise TopiclabError(f"--older-than takes a number of days >= 0, not {value:g}")
    return value


@cache_app.command()
def clean(
    topic: TopicOption = None,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than", metavar="DAYS", help="Only folders no run used for DAYS days."
        ),
    ] = None,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial", help="Only folders no run can reuse: partial, damaged, empty, left over."
        ),
    ] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every cached stage folder.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would go and the bytes freed.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
) -> None:
    """Remove cached stage folders: those every selector given matches (--topic,
    --older-than, --partial), or --all. A folder a running stage holds is skipped and named.
    A removed stage is recomputed by the next run that needs it.

    Example: topiclab cache clean --older-than 30 --dry-run
    """
    from topiclab.core.cache import Swept, remove, select, sweep

    days = _days(older_than)
    if all_ and (topic or days is not None or partial):
        raise TopiclabError("--all selects everything: leave out --topic, --older-than, --partial")
    if not (all_ or topic or days is not None or partial):
        raise TopiclabError("say what to remove: --all, --topic, --older-than DAYS or --partial")
    work = _work()
    chosen = select(_entries(work, topic), older_than_days=days, partial=partial)
    whole = all_ or bool(topic and days is None and not partial)  # whole topics: sweep them
    if not chosen:  # the folders an earlier clean left behind may still go
        swept = sweep(work, topic) if whole and not dry_run else Swept()
        if not swept.removed:
            out.print("nothing to remove", highlight=False)
        _report_swept(work, swept)
        return
    size = decimal(sum(e.size for e in chosen))
    if dry_run:
        out.print(_table(chosen, None, out.width), highlight=False)
        busy = sum(e.in_use for e in chosen)
        note = f" ({busy} in use now, which would be skipped)" if busy else ""
        out.print(f"would remove {_folders(len(chosen))}, {size}{note}", highlight=False)
        return
    check_writable(work, "the stage cache")
    if not yes:
        typer.confirm(
            f"remove {_folders(len(chosen), 'cached stage folder')} ({size}) from {work}?",
            abort=True,
        )
    _report(remove(chosen))
    if whole:
        _report_swept(work, sweep(work, topic))


def _report(done: Cleaned) -> None:
    for entry, why in done.skipped:
        out.print(f"skipped {entry.label}: {why}", highlight=False, soft_wrap=True)
    removed = _folders(len(done.removed))
    out.print(f"removed {removed}, {decimal(done.freed)} freed", highlight=False)


def _report_swept(work: Path, swept: Swept) -> None:
    """The folders and run records that went with the removed stages; the files kept."""
    if swept.removed:
        names = ", ".join(str(p.relative_to(work)) for p in swept.removed)
        out.print(f"removed what the stages left: {names}", highlight=False, soft_wrap=True)
    for path in swept.kept:
        out.print(
            f"kept {path.relative_to(work)}: no run writes it (remove it yourself)",
            highlight=False,
            soft_wrap=True,
        )


def _folders(count: int, noun: str = "folder") -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
