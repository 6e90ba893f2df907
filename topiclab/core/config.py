"""Resolve a topic's config: profile defaults, then an optional TOML file, then ``--set`` pairs.

    resolve_config(topic, "quick", toml_path=None, overrides=["train.steps=200"])

Every layer is validated before anything runs; an error names the key and the valid choices.
A field that names a registered trainer or estimator says so, and its value is checked against
the registry at validation, before any stage runs::

    trainer: Annotated[str, RegistryKey("trainer", task="language-model")] = "llama"
    options: Annotated[dict[str, dict], RegistryKey("estimator", keys_of_mapping=True)] = {}

Options a stage hands to a trainer it names elsewhere are checked against that trainer's
config too (unknown keys, wrong types; keys left out may be filled in by the stage)::

    trainer_options: Annotated[dict[str, Any], RegistryOptions("trainer", key_field="trainer")]
    rm: Annotated[dict[str, Any], RegistryOptions("trainer", key="reward-model")] = {}

A field that changes how fast a stage runs but never its numbers (worker processes) is an
execution option: the stage cache keys leave it out, so changing it reuses the cached stages
(``core.reads.project``), while the run's tracked params still record it::

    workers: Annotated[int, ExecutionOption()] = Field(default=2, ge=1)
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from topiclab.core.errors import ConfigError, UnknownKeyError
from topiclab.core.topic import PROFILES, FieldError, Topic, TopicConfig

if TYPE_CHECKING:
    from topiclab.core.registry import Registry


@dataclass(frozen=True)
class RegistryKey:
    """Field metadata: the value is the key of a registered trainer or estimator.

    ``task``: the trainer's task (or the estimator's kind) the key must have; None accepts any.
    ``keys_of_mapping``: the field is a dict whose *keys* are such keys (per-key options).
    A list (or tuple) field holds such keys as its items, with or without ``keys_of_mapping``.
    """

    kind: Literal["trainer", "estimator"]
    task: str | None = None
    keys_of_mapping: bool = False


@dataclass(frozen=True)
class RegistryOptions:
    """Field metadata: the value is options for a registered trainer or estimator, named by a
    fixed ``key`` or by the sibling field ``key_field``; ``per_entry``: a dict of
    name -> such options (e.g. variants of one method)."""

    kind: Literal["trainer", "estimator"]
    key: str | None = None
    key_field: str | None = None
    task: str | None = None
    per_entry: bool = False


@dataclass(frozen=True)
class ExecutionOption:
    """Field metadata: the value changes how a stage runs (its processes, its speed), never
    what it computes, so no stage's cache key covers it and any stage may read it.
    Mark a field only where a test shows that two values give the same numbers: a cached
    result is reused for every value of it."""


def execution_options(model: type[BaseModel]) -> frozenset[str]:
    """The names of ``model``'s fields marked ``ExecutionOption`` (its own, not nested)."""
    fields = model.model_fields.items()
    return frozenset(
        n for n, f in fields if any(isinstance(m, ExecutionOption) for m in f.metadata)
    )


def registry_options(
    config: BaseModel, prefix: str = ""
) -> Iterator[tuple[str, RegistryOptions, str, Any]]:
    """(dotted path, its RegistryOptions, the key it is for, the options) for every such
    field in ``config``, nested sections included."""
    for name, info in type(config).model_fields.items():
        value = getattr(config, name)
        for meta in info.metadata:
            if isinstance(meta, RegistryOptions):
                key = meta.key or str(getattr(config, meta.key_field or ""))
                yield f"{prefix}{name}", meta, key, value
        if isinstance(value, BaseModel):
            yield from registry_options(value, f"{prefix}{name}.")


def check_registry_options(config: BaseModel, registry: Registry) -> None:
    """Each RegistryOptions field validates (strictly) against its key's config; a required
    key that is missing is not an error, since the stage adds its own values."""
    for path, meta, key, value in registry_options(config):
        lookup = registry.trainer if meta.kind == "trainer" else registry.estimator
        model = lookup(key, meta.task).config
        entries = value.items() if meta.per_entry else [("", value)]
        for entry, options in entries:
            where = f"{path}.{entry}" if entry else path
            try:
                if model is not None:
                    validate_strict(model, options)
            except ValidationError as err:
                wrong = [e for e in err.errors() if e["type"] != "missing"]
                if wrong:
                    raise ConfigError(describe_error(wrong[0], where)) from None


def registry_keys(config: BaseModel, prefix: str = "") -> Iterator[tuple[str, RegistryKey, str]]:
    """(dotted field path, its RegistryKey, a key named there) for every registry key in
    ``config``, nested sections included."""
    for name, info in type(config).model_fields.items():
        value = getattr(config, name)
        path = f"{prefix}{name}"
        for meta in info.metadata:
            if not isinstance(meta, RegistryKey):
                continue
            yield from ((path, meta, k) for k in _keys_named(value, meta) if isinstance(k, str))
        if isinstance(value, BaseModel):
            yield from registry_keys(value, f"{path}.")


def _keys_named(value: Any, meta: RegistryKey) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)  # a list of keys, e.g. the methods a topic compares
    return list(value) if meta.keys_of_mapping and isinstance(value, dict) else [value]


def check_registry_keys(config: BaseModel, registry: Registry) -> None:
    """Each registry key named in ``config`` must be registered (one line listing the choices);
    per-key options (``keys_of_mapping``) must validate against that key's config."""
    for path, meta, key in registry_keys(config):
        lookup = registry.trainer if meta.kind == "trainer" else registry.estimator
        try:
            spec = lookup(key, meta.task)
        except UnknownKeyError as err:
            raise ConfigError(f"invalid value for '{path}': {err}") from None
        node = _get_path(config, path)
        options = node.get(key) if meta.keys_of_mapping and isinstance(node, dict) else None
        if isinstance(options, dict) and spec.config is not None:
            try:
                validate_strict(spec.config, options)  # as the topic's own keys
            except ValidationError as err:
                raise ConfigError(describe_validation_error(err, f"{path}.{key}")) from None


def _get_path(config: BaseModel, path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        node = getattr(node, part)
    return node


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b=1`` -> (["a", "b"], 1). Values are parsed as JSON where they can be."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key=value (e.g. seed=1)")
    key, raw = text.split("=", 1)
    if not key.strip(" ."):
        raise ConfigError(f"override '{text}' has an empty key")
    parts = key.strip().split(".")
    if not all(parts):  # `a..b` or `a.`: dropping the empty part set another key than typed
        raise ConfigError(f"override '{text}' has an empty part in its key '{key.strip()}'")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = _number(raw)
        if value is None:
            value = {"true": True, "false": False}.get(raw.strip().lower(), raw)
    except ValueError:  # an integer past Python's 4300-digit conversion limit
        raise ConfigError(
            f"invalid value for '{key.strip()}': an integer of over 4300 digits"
        ) from None
    return parts, value


def _number(raw: str) -> int | float | None:
    """A number JSON does not read but TOML or Python does (``+1``, ``1_000``, ``.5``, ``5.``),
    so that ``--set`` takes what a config file takes; None for anything else."""
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, ValueError):
        value = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        return float(raw) if any(c.isdigit() for c in raw) else None
    except ValueError:
        return None


def _fields_at(model: type[BaseModel], path: list[str]) -> type[BaseModel]:
    """Follow ``path`` through nested models; raise a ConfigError naming the bad key."""
    for i, part in enumerate(path):
        fields = model.model_fields
        if part not in fields:
            where = ".".join(path[:i]) or "the config"
            raise ConfigError(
                f"unknown config key '{'.'.join(path[: i + 1])}' in {where}; "
                f"valid keys: {', '.join(sorted(fields))}"
            )
        if i == len(path) - 1:
            break
        annotation = fields[part].annotation
        nested = _nested(annotation)
        if nested is None:
            if _is_mapping(annotation):
                break  # a free-form dict field: pydantic validates what is inside
            raise ConfigError(f"config key '{'.'.join(path[: i + 1])}' has no sub-keys")
        model = nested
    return model


def _nested(annotation: Any) -> type[BaseModel] | None:
    """The model of a table field (``train: TrainConfig``, optional too); None for a value."""
    candidates = (annotation, *get_args(annotation))
    return next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)


def has_key(model: type[BaseModel], path: list[str]) -> bool:
    """Whether ``--set`` can name ``path`` (a key inside a free-form dict field counts)."""
    return key_error(model, path) is None


def key_error(model: type[BaseModel], path: list[str]) -> str | None:
    """The one-line error ``--set`` naming ``path`` gets (``unknown config key 'x' ...``);
    None when ``model`` has the key."""
    try:
        _fields_at(model, path)
    except ConfigError as err:
        return str(err)
    return None


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key ``--set`` can name in ``model``: tables and their fields."""
    out = []
    for name, info in model.model_fields.items():
        out.append(prefix + name)
        nested = _nested(info.annotation)
        if nested is not None:
            out += config_keys(nested, f"{prefix}{name}.")
    return out


def _is_mapping(annotation: Any) -> bool:
    """``dict[...]``, ``Any`` or an optional of them: a field whose sub-keys are free-form."""
    import typing

    candidates = (annotation, *get_args(annotation))
    return any(a is Any or a is dict or typing.get_origin(a) is dict for a in candidates)


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _flatten(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[list[str]]:
    out: list[list[str]] = []
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out += _flatten(v, (*prefix, k))
        out.append([*prefix, k])
    return out


def describe_validation_error(err: ValidationError, prefix: str = "") -> str:
    """One line naming the first bad key (``prefix`` + its path), the rule and the value."""
    return describe_error(err.errors()[0], prefix)


def describe_error(first: ErrorDetails, prefix: str = "") -> str:
    """One line for one of pydantic's error details (see ``describe_validation_error``)."""
    ctx = first.get("ctx") or {}
    keyed = ctx.get("error") if isinstance(ctx.get("error"), FieldError) else None
    parts = [
        *([prefix] if prefix else []),
        *map(str, first["loc"]),
        *([keyed.key] if keyed else []),
    ]
    loc = ".".join(parts) or "config"
    msg = first["msg"].removeprefix("Value error, ")
    if "expected" in ctx and str(ctx["expected"]) not in msg:
        msg = f"{msg} (allowed: {ctx['expected']})"
    value = first.get("input")
    if isinstance(value, dict) or keyed:  # a check across fields: the message names them
        return f"invalid value for '{loc}': {msg}"
    return f"invalid value for '{loc}': {msg}; got {value!r}"


def _non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """The first (dotted path, value) in ``value`` that is a NaN or infinite float."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


M = TypeVar("M", bound=BaseModel)


def validate_strict(model: type[M], values: Any) -> M:
    """Strict for every source alike, third parties' lax models included: a TOML file's
    ``steps = "10"`` is refused as ``--set steps='"10"'`` is (an int is still a valid float).
    Strict as JSON is, because the values are what a TOML file or ``--set`` can hold: a path,
    tuple, date or enum field still takes its text or list (Python-strict would refuse them)."""
    return model.model_validate_json(json.dumps(values, default=str), strict=True)


def validate(config_cls: type[TopicConfig], values: dict[str, Any]) -> TopicConfig:
    for path in _flatten(values):
        _fields_at(config_cls, path)
    # Every topic, also a third party's whose nested models allow inf: NaN and ±inf are never a
    # setting (``lr=Infinity`` trained to NaN metrics and exited 0).
    bad = _non_finite(values)
    if bad:
        raise ConfigError(f"invalid value for '{bad[0]}': must be a finite number; got {bad[1]}")
    try:
        return validate_strict(config_cls, values)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err)) from None


def profile_values(topic: type[Topic] | Topic, profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile '{profile}'; choose from: {', '.join(PROFILES)}")
    return copy.deepcopy(topic.profiles.get(profile, {}))


def load_toml(path: Path) -> dict[str, Any]:
    """The TOML file as a dict, or one line saying why it is not a readable TOML file. UTF-8,
    with or without the byte-order mark that Windows editors write."""
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a folder, not a TOML file")
    if not path.exists():  # a pipe (``--config <(...)``) or /dev/stdin is not a regular file
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file '{path}' is not a text (TOML) file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file '{path}' is not valid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(f"config file '{path}' cannot be read: {err.strerror}") from None


def toml_values(
    data: dict[str, Any],
    topic: type[Topic] | Topic,
    multi_topic: bool,
    other_topics: Collection[str] = (),
) -> dict[str, Any]:
    """Top-level keys apply to every topic; a ``[<topic key>]`` table to that topic only.

    Tables named after ``other_topics`` (registered topics) are skipped, so one file can serve
    every topic; with several topics in one run, any table that is no field is skipped; with
    one, an unknown table is an error (most likely a typo).
    """
    data = dict(data)
    own = data.pop(topic.key) if isinstance(data.get(topic.key), dict) else {}
    fields = topic.Config.model_fields
    data = {
        k: v
        for k, v in data.items()
        if not (isinstance(v, dict) and k not in fields and (multi_topic or k in other_topics))
    }
    return deep_merge(data, own)


def resolve_config(
    topic: type[Topic] | Topic,
    profile: str = "standard",
    toml_path: Path | None = None,
    overrides: list[str] | None = None,
    multi_topic_toml: bool = False,
    other_topics: Collection[str] = (),
) -> TopicConfig:
    """Profile, then TOML, then overrides; each layer checked so the error names its source."""
    values = profile_values(topic, profile)
    validate(topic.Config, values)
    if toml_path is not None:
        data = load_toml(Path(toml_path))
        file_values = toml_values(data, topic, multi_topic_toml, other_topics)
        values = deep_merge(values, file_values)
        validate(topic.Config, values)
    for text in overrides or []:
        path, value = parse_override(text)
        _fields_at(topic.Config, path)
        _set_path(values, path, value)
    config = validate(topic.Config, values)
    if any(True for _ in registry_keys(config)) or any(True for _ in registry_options(config)):
        from topiclab.core.registry import get_registry  # only then build this process's

        check_registry_keys(config, get_registry())
        check_registry_options(config, get_registry())
    return config
