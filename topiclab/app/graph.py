"""The DAG of topics and what they use, for ``topiclab graph``.

    topiclab graph                     # a tree per topic in the terminal
    topiclab graph --format mermaid    # a Mermaid flowchart (GitHub and the docs render it)

Edges: a topic consumes another topic's named output (``Topic.consumes``, run first by the
suite), and a topic's config names trainers and estimators (``RegistryKey`` fields), which
the registry resolves to the plugins that provide them.
"""

from __future__ import annotations

from dataclasses import dataclass

from topiclab.core.config import registry_keys, resolve_config
from topiclab.core.dag import consumed
from topiclab.core.registry import Registry


@dataclass(frozen=True)
class Edge:
    """``source`` uses ``target``: ``kind`` is ``consumes``, ``trainer`` or ``estimator``."""

    source: str
    target: str
    kind: str
    label: str


def edges(reg: Registry, profile: str = "standard") -> list[Edge]:
    """Every edge of the registered topics, for their ``profile`` config."""
    found: list[Edge] = []
    for key in sorted(reg.topics):
        found += [  # the upstream stage too: its key is what this topic's keys cover
            Edge(key, c.topic, "consumes", f"{c.output} ({c.stage}) as {c.name}")
            for c in consumed(reg, key)
        ]
        config = resolve_config(reg.topics[key], profile)
        used = {(meta.kind, name, path) for path, meta, name in registry_keys(config)}
        for kind, name, path in sorted(used):
            owner = reg.owner.get((kind, name), "?")
            found.append(Edge(key, f"{kind}:{name}", kind, f"{path} ({owner})"))
    return found


def mermaid(reg: Registry, profile: str = "standard") -> str:
    """A Mermaid flowchart: topics as rounded boxes, trainers and estimators as plain ones."""
    lines = ["flowchart LR"]
    ids: dict[str, str] = {}

    def node(name: str) -> str:
        if name not in ids:
            ids[name] = f"n{len(ids)}"
            shape = f'("{name}")' if name in reg.topics else f'["{name}"]'
            lines.append(f"  {ids[name]}{shape}")
        return ids[name]

    for key in sorted(reg.topics):
        node(key)
    # One arrow per pair: a config may name the same trainer in several fields.
    for source, target, kind in dict.fromkeys(
        (e.source, e.target, e.kind) for e in edges(reg, profile)
    ):
        arrow = "==>" if kind == "consumes" else "-->"
        lines.append(f"  {node(source)} {arrow}|{kind}| {node(target)}")
    return "\n".join(lines)
