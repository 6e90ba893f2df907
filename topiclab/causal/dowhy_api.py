"""The DoWhy calls topiclab makes, in one place, with DoWhy's pitfalls handled.

- ``estimate_effect`` mutates the identified estimand: each call gets its own deep copy.
- pandas 3 makes DoWhy warn a lot: the calls run with those warnings filtered.
- DoWhy's random-common-cause refuter fails on an IV estimand with no backdoor set
  (``KeyError: None``); :func:`refutable_estimand` sets the key it looks up.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd

from topiclab.causal.graph import CausalGraph


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the deprecation noise DoWhy makes under pandas 3, and its log lines.

    With a hidden confounder DoWhy logs, for every model, that an unobserved variable exists
    and that no backdoor adjustment set was found: true, expected, and the reason we use an
    instrument. Our estimators check every result themselves and raise one-line errors.
    """
    import logging

    level = logging.getLogger("dowhy").level
    logging.getLogger("dowhy").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # refuters divide by a zero std
        try:
            yield
        finally:
            logging.getLogger("dowhy").setLevel(level)


def iv_graph(
    treatment: str, outcome: str, instruments: Sequence[str], covariates: Sequence[str] = ()
) -> CausalGraph:
    """The textbook IV graph for given roles: Z -> T -> Y, W -> T, W -> Y, (U) -> T, Y."""
    edges = [(z, treatment) for z in instruments] + [(treatment, outcome)]
    edges += [(w, v) for w in covariates for v in (treatment, outcome)]
    edges += [("_U", treatment), ("_U", outcome)]
    return CausalGraph.parse(
        ";".join(f"{'(' + a + ')' if a == '_U' else a} -> {b}" for a, b in edges)
    )


def causal_model(data: pd.DataFrame, graph: CausalGraph, treatment: str, outcome: str) -> Any:
    from dowhy import CausalModel

    with quiet():
        return CausalModel(
            data=data, treatment=treatment, outcome=outcome, graph=graph.to_networkx()
        )


def identify(model: Any) -> Any:
    with quiet():
        return model.identify_effect(proceed_when_unidentifiable=True)


_ESTIMANDS: dict[tuple[str, str, str], Any] = {}
counts = {"identified": 0}  # DoWhy identifications really run (the benchmark reads it)


def identified(graph: CausalGraph, treatment: str, outcome: str) -> Any:
    """DoWhy's identified estimand for (graph, treatment, outcome), computed once and cached.

    Identification reads only the graph, so it runs on a two-row frame of the observed nodes;
    at 18-20 covariates it takes seconds, which a Monte-Carlo loop must not pay per fit.
    Callers get the cached object: pass it to :func:`estimate`, which deep-copies it.
    """
    key = (graph.edge_string(), treatment, outcome)
    if key not in _ESTIMANDS:
        counts["identified"] += 1
        frame = pd.DataFrame(0.0, index=range(2), columns=graph.observed)
        _ESTIMANDS[key] = identify(causal_model(frame, graph, treatment, outcome))
    return _ESTIMANDS[key]


def estimate(model: Any, estimand: Any, method_name: str, **params: Any) -> Any:
    """``model.estimate_effect`` on a private copy of the estimand (DoWhy mutates it)."""
    with quiet():
        return model.estimate_effect(
            copy.deepcopy(estimand), method_name=method_name, method_params=params or None
        )


def refutable_estimand(estimate: Any) -> Any:
    """A private copy of the estimand an estimate was made with, safe for any refuter."""
    target = copy.deepcopy(estimate.target_estimand)
    if target.default_backdoor_id is None:
        target.default_backdoor_id = target.identifier_method
    return target
