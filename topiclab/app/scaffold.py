"""``topiclab new-plugin NAME``: a pip-installable plugin package that works as generated.

    topiclab new-plugin my-plugin --directory ~/src
    pip install -e ~/src/my-plugin && topiclab run my-plugin --profile quick

The package has the shape of every topic plugin (docs/plugins.md): ``__init__.py``
(registrations only), ``config.py``, ``data.py``, ``train.py``, ``topic.py``, ``evaluate.py``,
``claims.py``, ``figures.py``; it registers a topic (``NAME``) and a trainer
(``NAME-gaussian``, task ``generative``), and ships a test of its quick pipeline. The files are
written from the templates in ``plugin_template/`` (``$name``, ``$pkg``, ``$camel``).
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from importlib import resources
from pathlib import Path
from string import Template

from topiclab.core.errors import TopiclabError

MAX_NAME = 100
MODULES = ("__init__", "config", "data", "train", "topic", "evaluate", "claims", "figures")


def _layout(pkg: str) -> dict[str, str]:
    """Target path in the package -> template file name."""
    files = {"pyproject.toml": "pyproject.toml.tmpl", f"tests/test_{pkg}.py": "test_plugin.py.tmpl"}
    files |= {f"src/{pkg}/{m}.py": f"{m}.py.tmpl" for m in MODULES}
    return files


def _check_name(name: str) -> str:
    """The package's import name, or a one-line TopiclabError before anything is written."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise TopiclabError(f"plugin name '{name}' must be lowercase letters, digits and dashes")
    if len(name) > MAX_NAME:  # the file system's limit is 255, tests/test_<pkg>.py included
        raise TopiclabError(f"plugin name '{name[:20]}...' is too long ({len(name)} > {MAX_NAME})")
    pkg = name.replace("-", "_")
    if keyword.iskeyword(pkg):
        raise TopiclabError(f"plugin name '{name}' is a Python keyword")
    # Installed, a package named like topiclab or another importable one would shadow it.
    if pkg == "topiclab" or importlib.util.find_spec(pkg) is not None:
        raise TopiclabError(f"plugin name '{name}' clashes with the importable package '{pkg}'")
    from topiclab.core.registry import get_registry

    if name in get_registry().topics:
        raise TopiclabError(f"plugin name '{name}' clashes with the registered topic '{name}'")
    return pkg


def scaffold_plugin(name: str, directory: Path) -> Path:
    pkg = _check_name(name)
    root = directory / name
    if root.exists():
        raise TopiclabError(f"'{root}' already exists; choose another name or --directory")
    names = {"name": name, "pkg": pkg, "camel": "".join(p.title() for p in name.split("-"))}
    templates = resources.files("topiclab.app") / "plugin_template"
    for rel, template in _layout(pkg).items():
        path = root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Template((templates / template).read_text()).substitute(names))
        except OSError as e:  # a read-only or missing --directory: the user's path
            raise TopiclabError(f"cannot write {path}: {e.strerror or type(e).__name__}") from None
    return root
