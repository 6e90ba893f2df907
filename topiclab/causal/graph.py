"""Causal graphs: parse, check against a DataFrame, find instruments, draw.

A graph is given as edges, an ``nx.DiGraph`` or a string; hidden (unobserved) nodes are written
in parentheses or carry ``observed=False``::

    g = CausalGraph.parse("Z -> X; (U) -> X; (U) -> Y; X -> Y")
    g.check_against(df)                        # GraphMismatchError naming a missing node
    g.instruments("X", "Y")                    # ['Z']
    g.draw(path, treatment="X", outcome="Y")   # PNG via matplotlib (Agg)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

import pandas as pd

from topiclab.causal.validation import GraphMismatchError
from topiclab.core.figures import save_figure

if TYPE_CHECKING:
    import networkx as nx


def _nx() -> ModuleType:
    """networkx, imported on first use: ``import topiclab.causal`` stays light."""
    import networkx

    return networkx


_EDGE = re.compile(r"^\s*(\(?)\s*([\w.]+)\s*\)?\s*->\s*(\(?)\s*([\w.]+)\s*\)?\s*$")


@dataclass
class CausalGraph:
    """A DAG plus the set of its hidden nodes."""

    dag: nx.DiGraph
    latent: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, graph: GraphLike) -> CausalGraph:
        """Accept a CausalGraph, an nx.DiGraph, an edge list or an edge string."""
        if isinstance(graph, CausalGraph):
            return graph
        if isinstance(graph, _nx().DiGraph):
            latent = {
                str(n)
                for n, a in graph.nodes(data=True)
                if a.get("observed") in (False, "no") or a.get("latent")
            }
            return cls._checked(_nx().DiGraph(graph), latent)
        if isinstance(graph, str):
            return cls._from_string(graph)
        return cls._checked(_nx().DiGraph([(str(a), str(b)) for a, b in graph]), set())

    @classmethod
    def _from_string(cls, text: str) -> CausalGraph:
        dag, latent = _nx().DiGraph(), set()
        for part in filter(None, (p.strip() for p in re.split(r"[;\n,]", text))):
            m = _EDGE.match(part)
            if m is None:
                raise GraphMismatchError(
                    f"cannot read graph edge '{part}'; write edges as 'A -> B; (U) -> B'"
                )
            for paren, name in ((m[1], m[2]), (m[3], m[4])):
                if paren:
                    latent.add(name)
            dag.add_edge(m[2], m[4])
        return cls._checked(dag, latent)

    @classmethod
    def _checked(cls, dag: nx.DiGraph, latent: set[str]) -> CausalGraph:
        if not _nx().is_directed_acyclic_graph(dag):
            cycle = " -> ".join(str(a) for a, _ in _nx().find_cycle(dag))
            raise GraphMismatchError(f"the causal graph has a cycle: {cycle}")
        return cls(dag, latent)

    @property
    def observed(self) -> list[str]:
        return [n for n in self.dag.nodes if n not in self.latent]

    def check_against(self, data: pd.DataFrame, roles: Iterable[str] = ()) -> None:
        """Observed nodes must be columns, hidden ones must not; roles must be observed nodes."""
        columns = set(map(str, data.columns))
        for node in self.observed:
            if node not in columns:
                raise GraphMismatchError(
                    f"graph node '{node}' is not a column of the data; "
                    f"mark it hidden as '({node})' or add the column"
                )
        for node in self.latent:
            if node in columns:
                raise GraphMismatchError(
                    f"graph node '{node}' is marked hidden but is a column of the data"
                )
        for name in roles:
            if name not in self.dag:
                raise GraphMismatchError(f"variable '{name}' is not a node of the causal graph")

    def instruments(
        self, treatment: str, outcome: str, covariates: Sequence[str] = ()
    ) -> list[str]:
        """Observed Z with Z ⊥ Y | W once the edges out of the treatment are cut, and Z
        connected to the treatment given W (the graphical IV criterion)."""
        cut = self.dag.copy()
        cut.remove_edges_from(list(self.dag.out_edges(treatment)))
        forbidden = _nx().descendants(self.dag, treatment) | {treatment, outcome, *covariates}
        cond = set(covariates)
        found = []
        for z in self.observed:
            if z in forbidden:
                continue
            relevant = not _nx().is_d_separator(self.dag, {z}, {treatment}, cond)
            excluded = _nx().is_d_separator(cut, {z}, {outcome}, cond)
            if relevant and excluded:
                found.append(z)
        return sorted(found)

    def satisfies_backdoor(self, treatment: str, outcome: str, covariates: Sequence[str]) -> bool:
        """Pearl's backdoor criterion for the set ``covariates``."""
        if set(covariates) & (_nx().descendants(self.dag, treatment) | self.latent):
            return False
        cut = self.dag.copy()
        cut.remove_edges_from(list(self.dag.out_edges(treatment)))
        return bool(_nx().is_d_separator(cut, {treatment}, {outcome}, set(covariates)))

    def to_networkx(self) -> nx.DiGraph:
        """The DAG with DoWhy's ``observed`` attribute on every node."""
        g = self.dag.copy()
        for n in g.nodes:
            g.nodes[n]["observed"] = "no" if n in self.latent else "yes"
        return g

    def edge_string(self) -> str:
        def name(n: str) -> str:
            return f"({n})" if n in self.latent else n

        return "; ".join(f"{name(a)} -> {name(b)}" for a, b in sorted(self.dag.edges))

    def draw(
        self,
        path: Path,
        *,
        title: str = "",
        roles: dict[str, Sequence[str]] | None = None,
        dashed_edges: Iterable[tuple[str, str]] = (),
    ) -> Path:
        """Draw the graph to a PNG: hidden nodes grey and dashed, role nodes coloured."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        colours = {
            "treatment": "#f4a261",
            "outcome": "#2a9d8f",
            "instruments": "#8ab6f9",
            "parents": "#e9c46a",
        }
        fill = {n: "#ffffff" for n in self.dag.nodes}
        for role, names in (roles or {}).items():
            for n in names:
                fill[n] = colours.get(role, "#dddddd")
        for n in self.latent:
            fill[n] = "#d9d9d9"
        pos = _layout(self.dag)
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        dashed = set(dashed_edges)
        hidden_edges = [e for e in self.dag.edges if e[0] in self.latent or e in dashed]
        solid = [e for e in self.dag.edges if e not in hidden_edges]
        _nx().draw_networkx_edges(
            self.dag, pos, edgelist=solid, ax=ax, arrowsize=18, node_size=1400
        )
        _nx().draw_networkx_edges(
            self.dag,
            pos,
            edgelist=hidden_edges,
            ax=ax,
            arrowsize=18,
            style="dashed",
            edge_color="#888888",
            node_size=1400,
        )
        _nx().draw_networkx_nodes(
            self.dag,
            pos,
            ax=ax,
            node_size=1400,
            edgecolors="#333333",
            node_color=[fill[n] for n in self.dag.nodes],
        )
        _nx().draw_networkx_labels(self.dag, pos, ax=ax, font_size=10)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
        save_figure(fig, path)
        return path


def _layout(dag: nx.DiGraph) -> dict[Any, Any]:
    """Left-to-right by topological generation: causes on the left, effects on the right."""
    for layer, nodes in enumerate(_nx().topological_generations(dag)):
        for n in nodes:
            dag.nodes[n]["_layer"] = layer
    pos = _nx().multipartite_layout(dag, subset_key="_layer")
    for n in dag.nodes:
        del dag.nodes[n]["_layer"]
    return pos


GraphLike: TypeAlias = "CausalGraph | nx.DiGraph | str | Sequence[tuple[str, str]]"
