"""What each stage reads from its topic's config: the config part of its cache key, and a view
of the config that refuses every other field.

    class GatoTopic(Topic):
        reads = {"generate": ("data", "model.seq_len"), "train": ("trainer", "model", "train")}

    tree = read_tree(GatoTopic, "train")        # {"trainer": None, "model": None, ...}; None: all
    project(cfg, tree)                          # the values the stage's cache key covers
    view = guarded(cfg, tree, "stage 'train' of topic 'gato'")
    view.eval                                   # UndeclaredRead: a one-line TopiclabError

A stage that ``reads`` does not name reads the whole config (so it is never reused wrongly).
``seed`` is always read: every stage is reseeded from it. A dotted path reads one field of a
nested table. An execution option (``core.config.ExecutionOption``, such as the number of
worker processes) is in no key and every stage may read it: it changes how fast a stage runs,
not what it computes. The view is a subclass of the config's own class (``ctx.cfg(GatoConfig)``
still works), so reading a field the stage did not declare fails loudly instead of letting a
cached result stand for a config it never saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel

from topiclab.core.config import execution_options
from topiclab.core.errors import ConfigError, TopiclabError
from topiclab.core.topic import STAGES

#: Read by every stage: ``core.stages.execute_stage`` reseeds each stage from it.
ALWAYS: tuple[str, ...] = ("seed",)

#: ``{field: None}`` reads the field whole; ``{field: {sub: None}}`` reads one of its fields.
Tree = dict[str, "Tree | None"]
M = TypeVar("M", bound=BaseModel)


class UndeclaredRead(TopiclabError):
    """A stage read a config field its topic's ``reads`` does not name for it."""


def read_tree(topic: Any, stage: str) -> Tree | None:
    """The fields ``stage`` of ``topic`` (a Topic class or instance) declares; None: all."""
    reads: Mapping[str, Sequence[str]] = getattr(topic, "reads", {})
    unknown = sorted(set(reads) - set(STAGES))
    if unknown:
        raise ConfigError(f"topic '{topic.key}' declares reads of unknown stages: {unknown}")
    if stage not in reads:
        return None
    if isinstance(reads[stage], str):  # ("data") is a string, not a tuple of one
        raise ConfigError(f"topic '{topic.key}': reads['{stage}'] must be a tuple of field paths")
    tree: Tree = {}
    for path in (*ALWAYS, *reads[stage]):
        node: Tree = tree
        *parents, leaf = path.split(".")
        for name in parents:
            if name in node and node[name] is None:  # the whole table is read already
                break
            node = node.setdefault(name, {})  # type: ignore[assignment]
        else:
            node[leaf] = None
    return tree


def project(cfg: BaseModel, tree: Tree | None, where: str = "") -> dict[str, Any]:
    """The values of ``cfg`` that ``tree`` names, as JSON, less the execution options; an
    unknown path is a ConfigError."""
    skip = _execution(cfg)
    if tree is None:
        return dict(cfg.model_dump(mode="json", exclude=skip))
    out: dict[str, Any] = {}
    for name, sub in tree.items():
        if name not in type(cfg).model_fields:
            fields = ", ".join(type(cfg).model_fields)
            raise ConfigError(
                f"reads names '{where}{name}', which is no config field; fields here: {fields}"
            )
        if skip.get(name) is True:
            continue
        value = getattr(cfg, name)
        if sub is None:
            out[name] = cfg.model_dump(mode="json", include={name}, exclude=skip)[name]
        elif isinstance(value, BaseModel):
            out[name] = project(value, sub, f"{where}{name}.")
        else:
            raise ConfigError(f"reads names a field of '{where}{name}', which is no table")
    return out


def _execution(cfg: BaseModel) -> dict[str, Any]:
    """pydantic's ``exclude`` for the execution options of ``cfg``, nested tables included."""
    out: dict[str, Any] = dict.fromkeys(execution_options(type(cfg)), True)
    for name in type(cfg).model_fields:
        value = getattr(cfg, name)
        if name not in out and isinstance(value, BaseModel) and (nested := _execution(value)):
            out[name] = nested
    return out


def _holds_execution(value: Any) -> bool:
    return isinstance(value, BaseModel) and bool(_execution(value))


def guarded(cfg: M, tree: Tree | None, label: str, where: str = "") -> M:
    """``cfg`` itself if ``tree`` reads all of it, else a copy whose undeclared fields raise
    ``UndeclaredRead`` (``label`` says whose read it was, for the message); execution
    options are never refused, nor are the tables that hold them (the rest of such a table
    is)."""
    if tree is None:
        return cfg
    fields = type(cfg).model_fields
    values = {
        name: guarded(getattr(cfg, name), sub, label, f"{where}{name}.")
        if sub is not None
        else getattr(cfg, name)
        for name, sub in tree.items()
    }
    # A table the stage does not read may hold execution options: they stay readable.
    own = execution_options(type(cfg))
    values |= {
        name: guarded(getattr(cfg, name), {}, label, f"{where}{name}.")
        for name in fields
        if name not in tree and name not in own and _holds_execution(getattr(cfg, name))
    }
    denied = frozenset(fields) - set(values) - own
    if not denied and all(values[n] is getattr(cfg, n) for n in values):
        return cfg
    # the rest kept (denied, or execution options), so that pydantic's own code works
    values.update({n: getattr(cfg, n) for n in fields if n not in values})
    return _view(type(cfg), values, set(cfg.model_fields_set), denied, label, where)


def _view(
    cls: type[M],
    values: dict[str, Any],
    fields_set: set[str],
    denied: frozenset[str],
    label: str,
    where: str,
) -> M:
    """An instance of ``_guard_class(cls, ...)``; also how a pickled view is rebuilt (a stage
    may hand its config to a worker process)."""
    made: M = _guard_class(cls, denied, label, where).model_construct(fields_set, **values)
    return made


def _guard_class(cls: type[M], denied: frozenset[str], label: str, where: str) -> type[M]:
    """A subclass of ``cls`` whose attribute access refuses ``denied``, and whose whole-model
    methods (a dump, a copy, iteration, comparison) refuse to run, since they read everything."""

    def refuse(what: str) -> NoReturn:
        raise UndeclaredRead(
            f"{label} {what}, which it does not declare: add it to the topic's "
            f"reads (a cached result is reused for any other value of an undeclared field)"
        )

    def __getattribute__(self: BaseModel, name: str) -> Any:
        if name in denied:
            refuse(f"read config field '{where}{name}'")
        return object.__getattribute__(self, name)

    def whole(method: str) -> Any:
        def method_(self: BaseModel, *args: Any, **kwargs: Any) -> NoReturn:
            table = f"config table '{where.rstrip('.')}'" if where else "the whole config"
            refuse(f"called {method}() on {table}")

        return method_

    namespace: dict[str, Any] = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__getattribute__": __getattribute__,
        "__repr_args__": lambda self: [
            (k, v) for k, v in BaseModel.__repr_args__(self) if k not in denied
        ],
        "__reduce__": lambda self: (
            _view,
            (cls, dict(self.__dict__), set(self.model_fields_set), denied, label, where),
        ),
    }
    for method in ("model_dump", "model_dump_json", "model_copy", "__iter__", "__eq__"):
        namespace[method] = whole(method)
    return type(cls.__name__, (cls,), namespace)
