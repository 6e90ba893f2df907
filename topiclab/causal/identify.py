"""Identification from the graph, once per (graph, roles): adjustment sets, instruments and
front-door sets, with the open path named when a user's choice is not valid.

    g = CausalGraph.parse("W -> X; W -> Y; (U) -> M; X -> M; M -> Y")
    identify(g, "X", "Y").adjustment          # ['W']: the minimal backdoor set
    backdoor_problem(g, "X", "Y", [])         # "open backdoor path X <- W -> Y"
    instrument_problem(g, "Z", "X", "Y", [])  # None when Z is a valid instrument

Answers are cached by the graph's edge string and the roles, so a Monte-Carlo loop that fits
the same design a thousand times identifies it once (DoWhy's identification, which this
replaces in the hot path, takes seconds at 15-20 covariates).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, pairwise

import networkx as nx

from topiclab.causal.graph import CausalGraph

_CACHE: dict[tuple[object, ...], Identification] = {}
_CACHE_SIZE = 512
calls = {"identified": 0}  # how often identification really ran (tests and benchmarks read it)


@dataclass(frozen=True)
class Identification:
    """What the graph identifies for one (treatment, outcome, covariates) question."""

    adjustment: list[str] | None  # minimal observed backdoor set; None: no valid set exists
    instruments: list[str]  # valid instruments given the covariates
    frontdoor: list[str] | None  # observed mediators satisfying the front-door criterion


def identify(
    graph: CausalGraph, treatment: str, outcome: str, covariates: Sequence[str] = ()
) -> Identification:
    """Identification for these roles, computed once and cached."""
    nodes = tuple(sorted(graph.dag.nodes))
    key: tuple[object, ...] = (graph.edge_string(), nodes, treatment, outcome, *sorted(covariates))
    hit = _CACHE.get(key)
    if hit is None:
        calls["identified"] += 1
        hit = Identification(
            minimal_adjustment(graph, treatment, outcome),
            graph.instruments(treatment, outcome, covariates),
            frontdoor_set(graph, treatment, outcome),
        )
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = hit
    return hit


def _cut(graph: CausalGraph, nodes: Sequence[str]) -> nx.DiGraph:
    dag = graph.dag.copy()
    for node in nodes:
        dag.remove_edges_from(list(graph.dag.out_edges(node)))
    return dag


def minimal_adjustment(graph: CausalGraph, treatment: str, outcome: str) -> list[str] | None:
    """A minimal observed set satisfying the backdoor criterion (None if there is none)."""
    allowed = set(graph.observed) - nx.descendants(graph.dag, treatment) - {treatment, outcome}
    cut = _cut(graph, [treatment])
    if cut.has_edge(outcome, treatment):
        return None
    found = nx.find_minimal_d_separator(cut, {treatment}, {outcome}, restricted=allowed)
    return None if found is None else sorted(found)


def backdoor_problem(
    graph: CausalGraph, treatment: str, outcome: str, covariates: Sequence[str]
) -> str | None:
    """Why ``covariates`` is not a valid backdoor adjustment set, in one line (None if it is)."""
    desc = nx.descendants(graph.dag, treatment)
    for c in covariates:
        if c in desc:
            path = nx.shortest_path(graph.dag, treatment, c)
            return f"covariate '{c}' is a descendant of '{treatment}' ({' -> '.join(path)})"
    path = open_path(graph, _cut(graph, [treatment]), treatment, outcome, covariates)
    if path is None:
        return None
    return f"open backdoor path {path} given {{{', '.join(covariates)}}}"


def instrument_problem(
    graph: CausalGraph, z: str, treatment: str, outcome: str, covariates: Sequence[str]
) -> str | None:
    """Why ``z`` is not a valid instrument given ``covariates`` (None if it is)."""
    if z in nx.descendants(graph.dag, treatment):
        return f"instrument '{z}' is a descendant of '{treatment}'"
    if open_path(graph, graph.dag, z, treatment, covariates) is None:
        return f"instrument '{z}' is not connected to '{treatment}' (no first stage)"
    path = open_path(graph, _cut(graph, [treatment]), z, outcome, covariates)
    if path is None:
        return None
    return f"instrument '{z}' reaches '{outcome}' other than through '{treatment}': {path}"


def frontdoor_set(graph: CausalGraph, treatment: str, outcome: str) -> list[str] | None:
    """The observed nodes on directed paths treatment → outcome, if they satisfy the
    front-door criterion (Pearl 2009, Definition 3.3.3); None otherwise."""
    if not nx.has_path(graph.dag, treatment, outcome):
        return None
    between = nx.descendants(graph.dag, treatment) & nx.ancestors(graph.dag, outcome)
    mediators = sorted(between)
    if not mediators or frontdoor_problem(graph, treatment, outcome, mediators) is not None:
        return None
    return mediators


def frontdoor_problem(
    graph: CausalGraph, treatment: str, outcome: str, mediators: Sequence[str]
) -> str | None:
    """Which condition of the front-door criterion ``mediators`` breaks (None: none)."""
    hidden = [m for m in mediators if m in graph.latent]
    if hidden:
        return f"mediator '{hidden[0]}' is hidden"
    rest = graph.dag.copy()
    rest.remove_nodes_from(mediators)
    if nx.has_path(rest, treatment, outcome):
        path = nx.shortest_path(rest, treatment, outcome)
        return f"directed path {' -> '.join(path)} avoids the mediators"
    cut_t = _cut(graph, [treatment])
    for m in mediators:
        path = open_path(graph, cut_t, treatment, m, [])
        if path is not None:
            return f"open backdoor path {path} from the treatment to mediator '{m}'"
    for m in mediators:
        path = open_path(graph, _cut(graph, [m]), m, outcome, [treatment])
        if path is not None:
            return f"open backdoor path {path} from mediator '{m}' given '{treatment}'"
    return None


def open_path(
    graph: CausalGraph,
    dag: nx.DiGraph,
    source: str,
    target: str,
    given: Sequence[str],
    limit: int = 20_000,
) -> str | None:
    """A path of ``dag`` from ``source`` to ``target`` that ``given`` leaves open (d-connected),
    drawn as 'X <- (U) -> Y'; None when ``given`` d-separates them."""
    cond = set(given)
    if nx.is_d_separator(dag, {source}, {target}, cond):
        return None
    skeleton = dag.to_undirected(as_view=True)
    for nodes in islice(nx.all_simple_paths(skeleton, source, target), limit):
        if _is_open(dag, nodes, cond):
            return _draw(graph, dag, nodes)
    return f"from '{source}' to '{target}' (path too long to show)"


def _is_open(dag: nx.DiGraph, nodes: list[str], cond: set[str]) -> bool:
    for a, v, b in _triples(nodes):
        if dag.has_edge(a, v) and dag.has_edge(b, v):  # collider
            if v not in cond and not (nx.descendants(dag, v) & cond):
                return False
        elif v in cond:
            return False
    return True


def _triples(nodes: list[str]) -> Iterator[tuple[str, str, str]]:
    return zip(nodes, nodes[1:], nodes[2:], strict=False)


def _draw(graph: CausalGraph, dag: nx.DiGraph, nodes: list[str]) -> str:
    def name(n: str) -> str:
        return f"({n})" if n in graph.latent else n

    out = name(nodes[0])
    for a, b in pairwise(nodes):
        out += (" -> " if dag.has_edge(a, b) else " <- ") + name(b)
    return out
