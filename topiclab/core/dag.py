"""The topic DAG: which topics a topic consumes, their order, and cache keys that cover them.

    from topiclab.core.dag import check_dag, order, identity
    check_dag(reg, ["compression"])            # unknown upstream or a cycle: one-line error
    order(reg, ["compression", "llama"])       # ['llama', 'compression']
    ident = identity(reg, "compression", "quick")
    ident.stage_keys["train"], ident.cache_key, ident.upstream["llama"].cache_key

A topic declares ``consumes = {"model": "llama:model"}``: its stages get the ``model`` output of
the ``llama`` topic (same profile, llama's own config) as ``ctx.upstream["model"]``, a manifest
of paths and hashes. The output comes from the upstream's ``train`` stage or an earlier one;
``"llama:generate:val_text"`` names the stage, and an output of ``evaluate`` or ``report`` must
be named so (``find_output`` refuses a later one). Every downstream stage key includes the key
of each upstream stage it consumes, so a retrained upstream recomputes everything that stands
on it, and an upstream evaluation option recomputes nothing downstream.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topiclab.core.config import config_keys, has_key, key_error, parse_override, resolve_config
from topiclab.core.errors import ConfigError, TopiclabError
from topiclab.core.manifest import UpstreamOutput
from topiclab.core.registry import Registry
from topiclab.core.stages import stage_dir, stage_keys, work_root
from topiclab.core.topic import STAGES, FieldError, StageResult, TopicConfig

RUN_RECORD = "run.json"
#: The upstream stage a ``consumes`` entry that names none reads from: trained models, and
#: data its ``generate`` wrote, come from it or before it.
DEFAULT_CONSUMED_STAGE = "train"


@dataclass(frozen=True)
class Consumed:
    """One entry of ``Topic.consumes``: local ``name`` <- output ``output`` of ``topic``,
    made by its stage ``stage`` or an earlier one (the key this topic's stages include)."""

    name: str
    topic: str
    output: str
    stage: str = DEFAULT_CONSUMED_STAGE


def consumed(reg: Registry, key: str) -> list[Consumed]:
    """``Topic.consumes`` parsed: ``"topic:output"`` or ``"topic:stage:output"``."""
    out = []
    for name, ref in reg.topics[key].consumes.items():
        parts = ref.split(":")
        if len(parts) == 2:
            parts.insert(1, DEFAULT_CONSUMED_STAGE)
        if len(parts) != 3 or not all(parts):
            raise TopiclabError(
                f"topic '{key}' consumes '{ref}'; "
                "write it as 'topic:output' or 'topic:stage:output'"
            )
        topic, stage, output = parts
        if stage not in STAGES:
            raise TopiclabError(
                f"topic '{key}' consumes '{ref}': unknown stage '{stage}'; "
                f"choose from: {', '.join(STAGES)}"
            )
        out.append(Consumed(name, topic, output, stage))
    return out


def upstream_topics(reg: Registry, key: str) -> list[str]:
    return sorted({c.topic for c in consumed(reg, key)})


def check_dag(reg: Registry, keys: list[str]) -> None:
    """Unknown topics, unknown upstream topics and cycles, before anything runs."""
    state: dict[str, str] = {}  # key -> "visiting" | "done"

    def visit(key: str, path: list[str]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            cycle = " -> ".join([*path[path.index(key) :], key])
            raise TopiclabError(f"topics consume each other in a cycle: {cycle}")
        state[key] = "visiting"
        for up in upstream_topics(reg, key):
            if up not in reg.topics:
                raise TopiclabError(
                    f"topic '{key}' consumes unknown topic '{up}'; "
                    f"registered: {', '.join(sorted(reg.topics))}"
                )
            visit(up, [*path, key])
        state[key] = "done"

    for key in keys:
        reg.topic(key)  # unknown key: UnknownKeyError, a one-line TopiclabError
        visit(key, [])


def order(reg: Registry, keys: list[str]) -> list[str]:
    """``keys`` with every topic after the topics of ``keys`` it (transitively) consumes."""
    check_dag(reg, keys)
    wanted, done = set(keys), []

    def visit(key: str) -> None:
        for up in upstream_topics(reg, key):
            visit(up)
        if key in wanted and key not in done:
            done.append(key)

    for key in keys:
        visit(key)
    return done


def topic_overrides(topic: str, overrides: list[str] | None) -> list[str]:
    """``--set key=v`` applies to every topic; ``--set topic:key=v`` to that topic only."""
    out = []
    for text in overrides or []:
        head, sep, rest = text.partition(":")
        if sep and "=" not in head:
            if head == topic:
                out.append(rest)
        else:
            out.append(text)
    return out


def override_hint(
    reg: Registry, topic: str, text: str, run: Collection[str], refused: str | None = None
) -> str:
    """How to spell ``--set`` ``text`` (as ``topic`` gets it, without a topic prefix) whose key
    ``topic``'s config lacks: the topics of ``run`` that have the key
    (``--set compression:max_bytes=3000``), else the closest keys of the run's topics; empty
    when ``topic`` has the key or nothing comes close, or when ``refused`` (the error ``topic``
    raised) names another key: a hint must spell the key the error is about."""
    try:
        path, value = parse_override(text)
    except ConfigError:
        return ""
    error = key_error(reg.topics[topic].Config, path)
    if error is None or (refused is not None and error != refused):
        return ""
    key, raw = ".".join(path), text.partition("=")[2]
    owners = [t for t in sorted(reg.topics) if has_key(reg.topics[t].Config, path)]
    ours = [t for t in owners if t in run]
    if ours:
        named = " or ".join(f"--set {t}:{key}={raw}" for t in ours)
        return f"'{key}' is a key of {', '.join(ours)}: {named}"
    if owners:
        return f"'{key}' is a key of {', '.join(owners)}, which this run does not include"
    keys = {t: config_keys(reg.topics[t].Config) for t in run}
    every = {k for ks in keys.values() for k in ks}
    if not isinstance(value, dict):  # a table ('model') takes a table, not 30
        every = {k for k in every if not any(o.startswith(f"{k}.") for o in every)}
    close = difflib.get_close_matches(key, sorted(every), n=3)
    spelled: list[str] = []
    for k in close:  # a bare key goes to every topic of the run: prefixed unless all have it
        have = [t for t in run if k in keys[t]]
        spelled += [k] if len(have) == len(run) else [f"{t}:{k}" for t in have]
    return f"did you mean {' or '.join(f'--set {s}={raw}' for s in spelled)}?" if close else ""


@dataclass
class Identity:
    """A topic's resolved config, its stages' cache keys, and those of the topics it consumes.
    The topic's ``cache_key`` is its last stage's: that key stands on every other."""

    topic: str
    profile: str
    config: dict[str, Any]
    stage_keys: dict[str, str]
    upstream: dict[str, Identity] = field(default_factory=dict)

    @property
    def cache_key(self) -> str:
        return self.stage_keys[STAGES[-1]]

    def stage_folder(self, stage: str) -> Path:
        """Where ``stage`` of this identity is cached (``core.stages.stage_dir``)."""
        return stage_dir(work_root(), self.topic, self.stage_keys[stage], stage)


def identity(
    reg: Registry,
    key: str,
    profile: str,
    overrides: list[str] | None = None,
    config_file: str | None = None,
    multi_topic: bool = False,
) -> Identity:
    """Resolve ``key``'s config and cache key. An upstream topic gets the same profile and
    overrides as in a suite (``--set llama:steps=5``), with the TOML read as multi-topic."""
    check_dag(reg, [key])
    cfg = resolve_config(
        reg.topics[key],
        profile,
        Path(config_file) if config_file else None,
        topic_overrides(key, overrides),
        multi_topic_toml=multi_topic,
        other_topics=set(reg.topics) - {key},
    )
    config = cfg.model_dump(mode="json")
    ups = {
        up: identity(reg, up, profile, overrides, config_file, multi_topic=True)
        for up in upstream_topics(reg, key)
    }
    check_upstream(reg, key, cfg, {up: i.config for up, i in ups.items()})
    # The keys of the upstream stages whose outputs the stages read, not the upstream's
    # report key: an upstream evaluation option must not recompute what stands on its model.
    inputs = {f"{c.topic}:{c.stage}": ups[c.topic].stage_keys[c.stage] for c in consumed(reg, key)}
    keys = stage_keys(
        reg.topics[key], cfg, lambda values: reg.fingerprint(key, values), profile, inputs
    )
    return Identity(key, profile, config, keys, ups)


def check_upstream(
    reg: Registry, key: str, cfg: TopicConfig, upstream: dict[str, dict[str, Any]]
) -> None:
    """``Topic.check_upstream`` of ``key`` as a one-line ``ConfigError``, so that an upstream
    config the consumer cannot use is refused before the upstream topic trains."""
    try:
        reg.topics[key].check_upstream(cfg, upstream)
    except FieldError as err:
        raise ConfigError(f"invalid value for '{err.key}': {err}") from None


def find_output(
    topic: str, results: dict[str, StageResult], output: str, last: str = STAGES[-1]
) -> tuple[str, Path]:
    """The stage that published ``output`` (as ``files[output]`` or ``models[output]``) and its
    path; a stage after ``last`` (what the consumer declares) is refused: the consumer's keys
    cover ``last`` and the stages before it, not what comes after."""
    found = [
        (s, p)
        for s in STAGES
        if (r := results.get(s)) is not None and (p := r.files.get(output) or r.models.get(output))
    ]
    if len(found) != 1:
        names = sorted({n for r in results.values() for n in (*r.files, *r.models)})
        what = "is ambiguous" if found else "does not exist"
        raise TopiclabError(
            f"output '{output}' of topic '{topic}' {what}; its outputs: {', '.join(names)}"
        )
    stage, path = found[0]
    if STAGES.index(stage) > STAGES.index(last):
        raise TopiclabError(
            f"output '{output}' of topic '{topic}' comes from its {stage} stage, after the "
            f"{last} stage consumed; declare it as '{topic}:{stage}:{output}'"
        )
    return stage, Path(path)


def upstream_outputs(
    reg: Registry, key: str, ident: Identity, results: dict[str, dict[str, StageResult]]
) -> dict[str, UpstreamOutput]:
    """The manifests ``key``'s stages get, from its upstream topics' stage ``results``."""
    outputs = {}
    for c in consumed(reg, key):
        stage, path = find_output(c.topic, results[c.topic], c.output, c.stage)
        up = ident.upstream[c.topic]
        outputs[c.name] = UpstreamOutput.of(c.topic, c.output, up.stage_keys[stage], path, stage)
    return outputs


def write_run_record(folder: Path, record: dict[str, Any]) -> None:
    """``<cache key folder>/run.json``: which tracked run produced these stages (lineage)."""
    tmp = folder / (RUN_RECORD + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str))
    tmp.replace(folder / RUN_RECORD)


def read_run_record(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ancestors(reg: Registry, key: str) -> set[str]:
    """Every topic ``key`` consumes, directly or through another topic."""
    found: set[str] = set()
    for up in upstream_topics(reg, key):
        found |= {up} | ancestors(reg, up)
    return found


def with_upstream(reg: Registry, keys: list[str]) -> list[str]:
    """``keys`` and every topic they stand on, upstream topics first: what a suite runs, so a
    topic two others consume runs once, in its own task."""
    check_dag(reg, keys)
    everything = set(keys).union(*(ancestors(reg, k) for k in keys))
    return order(reg, [*keys, *sorted(everything - set(keys))])


def waves(reg: Registry, keys: list[str]) -> list[list[str]]:
    """``keys`` in groups that may run at once: each group after every topic it stands on."""
    level: dict[str, int] = {}
    for key in order(reg, keys):
        level[key] = 1 + max((level[a] for a in ancestors(reg, key) if a in level), default=-1)
    return [[k for k in level if level[k] == n] for n in range(max(level.values(), default=-1) + 1)]
