"""The identity of the code a topic's stages can run, for cache keys.

    from topiclab.core.fingerprint import code_files
    files = code_files(["topiclab.plugins.llama.topic"])   # the llama plugin + what it imports

The scope is the plugin package that defines the topic, the plugin packages of the trainers and
estimators its config selects, and every ``topiclab`` module those import, followed through
their import statements (``core`` always); a third party's plugin that is one module, not a
package, is that file and the modules beside it that it imports. The CLI, the flows and other
topics' plugins are not in it, so editing them does not recompute a topic; editing a shared
module it imports does. Imports are read from the source with ``ast`` (nothing is imported),
inside functions too, because plugins import heavy modules lazily.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import sys
import threading
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import topiclab

ROOT = Path(topiclab.__file__).resolve().parent


def plugin_folder(module: str) -> Path | None:
    """The folder of the plugin package that holds ``module``: ``topiclab/plugins/<name>`` for
    a built-in, the top-level package for a third party's; ``None`` for a single-file module."""
    parts = module.split(".")
    if parts[:2] == ["topiclab", "plugins"] and len(parts) > 2:
        folder = ROOT / "plugins" / parts[2]
        return folder if folder.is_dir() else None
    if parts[0] == "topiclab":  # shared code: the module and what it imports, not the package
        return None
    spec = importlib.util.find_spec(parts[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def module_file(module: str) -> Path | None:
    """The source file of a ``topiclab`` module, found by its path (nothing imported)."""
    parts = module.split(".")
    if parts[0] != "topiclab":
        return None
    base = ROOT.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def single_file(module: str) -> Path | None:
    """The source of a third party's plugin that is one module, not a package (a file named
    by ``TOPICLAB_PLUGINS`` while it is being written): hashed like a package's files."""
    if "." in module or module == "topiclab":
        return None
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec is not None else None
    return Path(origin).resolve() if origin and origin.endswith(".py") else None


_PARSE_LOCK = threading.Lock()


def _parse(path: Path) -> ast.Module:
    """``ast.parse`` one at a time, retried once: CPython 3.11's AST constructor keeps its
    recursion depth per interpreter, so a parse racing another thread's (a flow's stage tasks
    run in threads) can fail with "SystemError: AST constructor recursion depth mismatch"."""
    source = path.read_bytes()
    with _PARSE_LOCK:
        try:
            return ast.parse(source, str(path))
        except SystemError:
            return ast.parse(source, str(path))


#: ``_imports`` by (path, sha256 of its source): each stage's key takes a fingerprint, and
#: parsing is most of its cost; an edited file has another hash, so it is parsed again.
_IMPORTS: dict[tuple[Path, bytes], frozenset[str]] = {}


def _imports(path: Path) -> frozenset[str]:
    """Absolute names of the ``topiclab`` modules ``path`` imports (``from a import b`` may
    name a module ``a.b``, so both are returned; unknown ones resolve to nothing)."""
    key = (path, hashlib.sha256(path.read_bytes()).digest())
    if key not in _IMPORTS:
        _IMPORTS[key] = frozenset(_parsed_imports(path))
    return _IMPORTS[key]


def _parsed_imports(path: Path) -> set[str]:
    # Relative imports matter only inside topiclab (a third-party package is hashed whole).
    inside = path.is_relative_to(ROOT)
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts) if inside else ""
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and not inside:
                continue
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    # Outside topiclab, a plain name may be a module beside the file (``code_files``).
    return {n for n in names if n.split(".")[0] == "topiclab" or not (inside or "." in n)}


def code_files(modules: Iterable[str]) -> list[Path]:
    """Every source file in the scope described in the module docstring, sorted."""
    files: set[Path] = {ROOT / "__init__.py", *(ROOT / "core").rglob("*.py")}
    for module in modules:
        folder = plugin_folder(module)
        if folder is not None:
            files.update(folder.rglob("*.py"))
        elif (path := module_file(module) or single_file(module)) is not None:
            files.add(path)
    todo = list(files)
    while todo:
        path = todo.pop()
        for name in _imports(path):
            # A single-module plugin's helpers are the modules beside it (its folder is on
            # sys.path); anything else outside topiclab is a library, not hashed.
            beside = path.parent / f"{name}.py"
            found = module_file(name) or (beside if not path.is_relative_to(ROOT) else None)
            found = found if found is None or found.is_file() else None
            if found is not None and found not in files:
                files.add(found)
                todo.append(found)
    return sorted(files)


#: Distributions whose version can change what any stage computes (kernels, random streams,
#: solvers): part of every stage key, so a cached model is not reused after ``pip install -U
#: torch``. A topic names more in ``Topic.libraries``; plugin versions are in the fingerprint.
KEY_LIBRARIES: tuple[str, ...] = ("numpy", "scipy", "scikit-learn", "torch")


@functools.cache
def library_versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``(name, version)`` of each distribution (``"absent"`` if not installed) and Python's
    ``major.minor``; read once per process from the installed metadata (a few ms: 9 ms for
    ``KEY_LIBRARIES`` at load 1.6), nothing imported. A process that upgraded a library in
    place keeps the version it started with, like the modules it already imported."""
    found = [("python", f"{sys.version_info.major}.{sys.version_info.minor}")]
    for name in sorted(set(names)):
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            found.append((name, "absent"))
    return tuple(found)
