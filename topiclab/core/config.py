"""Resolve a topic's config: profile defaults, then an optional TOML file, then ``--set`` pairs.

    resolve_config(topic, "quick", toml_path=None, overrides=["train.steps=200"])

Every layer is validated before anything runs; an error names the key and the valid choices.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from topiclab.core.errors import ConfigError
from topiclab.core.topic import PROFILES, Topic, TopicConfig


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
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = {"true": True, "false": False}.get(raw.strip().lower(), raw)
    return parts, value


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
        nested = next(
            (
                a
                for a in (annotation, *get_args(annotation))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            None,
        )
        if nested is None:
            if _is_mapping(annotation):
                break  # a free-form dict field: pydantic validates what is inside
            raise ConfigError(f"config key '{'.'.join(path[: i + 1])}' has no sub-keys")
        model = nested
    return model


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


def describe_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first["loc"]) or "config"
    msg = first["msg"]
    ctx = first.get("ctx") or {}
    if "expected" in ctx:
        msg = f"{msg} (allowed: {ctx['expected']})"
    return f"invalid value for '{loc}': {msg}; got {first.get('input')!r}"


def validate(config_cls: type[TopicConfig], values: dict[str, Any]) -> TopicConfig:
    for path in _flatten(values):
        _fields_at(config_cls, path)
    try:
        return config_cls.model_validate(values)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err)) from None


def profile_values(topic: type[Topic] | Topic, profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile '{profile}'; choose from: {', '.join(PROFILES)}")
    return copy.deepcopy(topic.profiles.get(profile, {}))


def load_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file '{path}' is not valid TOML: {err}") from None


def toml_values(
    data: dict[str, Any], topic: type[Topic] | Topic, multi_topic: bool
) -> dict[str, Any]:
    """Top-level keys apply to every topic; a ``[<topic key>]`` table to that topic only.

    With several topics in one run, tables named after other topics are skipped; with one,
    an unknown table is an error (most likely a typo).
    """
    data = dict(data)
    own = data.pop(topic.key) if isinstance(data.get(topic.key), dict) else {}
    if multi_topic:
        data = {
            k: v
            for k, v in data.items()
            if not (isinstance(v, dict) and k not in topic.Config.model_fields)
        }
    return deep_merge(data, own)


def resolve_config(
    topic: type[Topic] | Topic,
    profile: str = "standard",
    toml_path: Path | None = None,
    overrides: list[str] | None = None,
    multi_topic_toml: bool = False,
) -> TopicConfig:
    """Profile, then TOML, then overrides; each layer checked so the error names its source."""
    values = profile_values(topic, profile)
    validate(topic.Config, values)
    if toml_path is not None:
        file_values = toml_values(load_toml(Path(toml_path)), topic, multi_topic_toml)
        values = deep_merge(values, file_values)
        validate(topic.Config, values)
    for text in overrides or []:
        path, value = parse_override(text)
        _fields_at(topic.Config, path)
        _set_path(values, path, value)
    return validate(topic.Config, values)
