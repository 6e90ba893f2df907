"""The estimator API: ``fit(data, graph, treatment=..., outcome=..., ...) -> EstimateResult``.

    from topiclab.causal import TwoStageLeastSquares
    res = TwoStageLeastSquares().fit(df, "Z -> X; (U) -> X; (U) -> Y; X -> Y",
                                     treatment="X", outcome="Y")
    res.estimate, res.std_error, res.ci_low, res.ci_high, res.diagnostics["first_stage_f"]
    print(res.summary())

``fit`` checks the roles (a string is one column), the data (finite, enough rows) and, when a
graph is given, the design: with no covariates listed the graph chooses the adjustment set; a
listed set or instrument that the graph shows to be invalid is a one-line
:class:`InvalidDesignError` unless ``allow_invalid=True`` (recorded in the result). Subclasses
implement ``_estimate(roles)``. Every estimator has a pydantic ``Config``; a bad value is a
one-line :class:`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from topiclab.causal.graph import CausalGraph, GraphLike
from topiclab.causal.results import EstimateResult, Term, term_table
from topiclab.causal.validation import (
    InvalidDesignError,
    MissingInstrumentError,
    RoleError,
    as_names,
    check_columns,
    check_distinct,
    check_finite,
    check_numeric,
    one_name,
)
from topiclab.core.errors import ConfigError

Role = str | Sequence[str]
Needs = Literal["backdoor", "iv", "frontdoor", "none"]

__all__ = ["CausalEstimator", "EstimateResult", "EstimatorConfig", "Roles", "Term"]


class CausalConfigError(ConfigError, ValueError):
    """An estimator config that does not validate (one line, not pydantic's dump)."""


class EstimatorConfig(BaseModel):
    """Base of every estimator config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    confidence_level: float = Field(
        default=0.95, gt=0, lt=1, description="Level of the reported CI."
    )
    missing: Literal["drop", "raise"] = Field(
        default="drop", description="rows with a missing value: drop them (and report) or raise"
    )
    allow_invalid: bool = Field(
        default=False,
        description="fit even when the graph shows the adjustment set or instrument invalid",
    )
    drop_collinear: bool = Field(
        default=False, description="drop collinear covariates with a warning instead of raising"
    )


@dataclass(frozen=True)
class Roles:
    """The checked variable roles of one fit, with the complete-case data they use."""

    data: pd.DataFrame
    treatment: str
    outcome: str
    instruments: list[str]
    covariates: list[str]
    graph: CausalGraph | None
    dropped: int
    mediators: list[str] = field(default_factory=list)
    allow_invalid: bool = False
    problems: list[str] = field(default_factory=list)
    adjustment_source: str = "none"
    groups: np.ndarray | None = None


class CausalEstimator:
    """Base class: a key, a Config, and ``_estimate``. Build with a config, a dict or nothing."""

    key: ClassVar[str]
    Config: ClassVar[type[EstimatorConfig]] = EstimatorConfig
    needs: ClassVar[Needs] = "backdoor"

    def __init__(self, config: EstimatorConfig | dict[str, Any] | None = None) -> None:
        if isinstance(config, EstimatorConfig):
            config = config.model_dump()
        try:
            self.config = self.Config.model_validate(config or {})
        except ValidationError as err:
            raise CausalConfigError(_config_line(self.key, err)) from None

    def fit(
        self,
        data: pd.DataFrame,
        graph: GraphLike | None = None,
        *,
        treatment: Role,
        outcome: Role,
        instruments: Role | None = None,
        covariates: Role | None = None,
        mediators: Role | None = None,
        allow_invalid: bool | None = None,
    ) -> EstimateResult:
        """Estimate the effect of ``treatment`` on ``outcome``."""
        allow = self.config.allow_invalid if allow_invalid is None else allow_invalid
        roles = self._roles(
            data, graph, treatment, outcome, instruments, covariates, mediators, allow
        )
        return self._estimate(roles)

    def _estimate(self, r: Roles) -> EstimateResult:
        raise NotImplementedError(f"{type(self).__name__} must define _estimate(roles) or fit")

    def _roles(
        self,
        data: pd.DataFrame,
        graph: GraphLike | None,
        treatment: Role,
        outcome: Role,
        instruments: Role | None,
        covariates: Role | None,
        mediators: Role | None = None,
        allow_invalid: bool = False,
    ) -> Roles:
        """Check every role against the data and the graph; let the graph fill in the rest."""
        if not isinstance(data, pd.DataFrame):
            raise RoleError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        t, y = one_name(treatment, "treatment"), one_name(outcome, "outcome")
        covs, ivs = as_names(covariates, "covariate"), as_names(instruments, "instrument")
        meds = as_names(mediators, "mediator")
        cg = CausalGraph.parse(graph) if graph is not None else None
        for role, names in (("treatment", [t]), ("outcome", [y]), ("covariate", covs or [])):
            check_columns(data, names, role)
        if cg is not None:
            cg.check_against(data, [t, y, *(covs or []), *(ivs or []), *(meds or [])])
        plan = _Plan(t, y, covs, ivs, meds, cg, allow_invalid)
        getattr(plan, self.needs)()
        check_columns(data, plan.ivs or [], "instrument")
        check_columns(data, plan.meds or [], "mediator")
        roles = {"treatment": [t], "outcome": [y], "instrument": plan.ivs or []}
        check_distinct({**roles, "covariate": plan.covs or [], "mediator": plan.meds or []})
        used = [y, t, *(plan.ivs or []), *(plan.covs or []), *(plan.meds or [])]
        check_numeric(data, used)
        check_finite(data, used, self.config.missing)
        kept, groups, dropped = _complete(data, used, getattr(self.config, "cluster", None))
        return Roles(
            kept,
            t,
            y,
            plan.ivs or [],
            plan.covs or [],
            cg,
            dropped,
            plan.meds or [],
            plan.allow and bool(plan.problems),
            plan.problems,
            plan.source,
            groups,
        )

    # ---- helpers shared by the estimators -------------------------------------------------

    def _z(self) -> float:
        from scipy import stats

        return float(stats.norm.ppf(0.5 + self.config.confidence_level / 2))

    def _build(
        self,
        r: Roles,
        estimate: float,
        std_error: float,
        *,
        df: float | None = None,
        terms: list[Term] | None = None,
        **fields: Any,
    ) -> EstimateResult:
        """An EstimateResult with the CI from the normal law or Student's t (``df``)."""
        ci = term_table(["_"], np.array([estimate]), np.array([std_error]), self._level(), df)[0]
        diagnostics = {
            "covariates": r.covariates,
            "rows_dropped": r.dropped,
            "adjustment_source": r.adjustment_source,
            **fields.pop("diagnostics", {}),
        }
        if r.problems:
            diagnostics["invalid_design"] = r.problems
        return EstimateResult(
            estimator=self.key,
            treatment=r.treatment,
            outcome=r.outcome,
            estimate=float(estimate),
            std_error=float(std_error),
            ci_low=ci.ci_low,
            ci_high=ci.ci_high,
            n=len(r.data),
            rows_dropped=r.dropped,
            allow_invalid=r.allow_invalid,
            terms=terms or [],
            coefficients={t.name: t.coef for t in terms or []},
            diagnostics=diagnostics,
            **fields,
        )

    def _level(self) -> float:
        return float(self.config.confidence_level)


class _Plan:
    """The graph's say on the roles: fills in what the user left out, checks what they gave."""

    def __init__(
        self,
        t: str,
        y: str,
        covs: list[str] | None,
        ivs: list[str] | None,
        meds: list[str] | None,
        graph: CausalGraph | None,
        allow: bool,
    ) -> None:
        self.t, self.y, self.covs, self.ivs, self.meds = t, y, covs, ivs, meds
        self.graph, self.allow = graph, allow
        self.problems: list[str] = []
        self.source = "user" if covs else "none"

    def _problem(self, message: str) -> None:
        if not self.allow:
            raise InvalidDesignError(f"{message}; pass allow_invalid=True to fit anyway")
        self.problems.append(message)

    def none(self) -> None:
        self.covs = self.covs or []

    def backdoor(self) -> None:
        from topiclab.causal.identify import backdoor_problem, identify, open_path

        g = self.graph
        if g is None:
            self.covs = self.covs or []
            return
        if self.covs is None:
            found = identify(g, self.t, self.y).adjustment
            if found is None:
                path = open_path(g, g.dag, self.t, self.y, []) or ""
                self.covs = []
                self._problem(
                    f"no observed set blocks every backdoor path from '{self.t}' to '{self.y}' "
                    f"(e.g. {_backdoor_path(g, self.t, self.y) or path}); "
                    "use an instrument (iv.*) or the front door"
                )
            else:
                self.covs, self.source = found, "graph"
            return
        problem = backdoor_problem(g, self.t, self.y, self.covs)
        if problem is not None:
            self._problem(f"covariates are not a valid adjustment set: {problem}")

    def iv(self) -> None:
        from topiclab.causal.identify import identify, instrument_problem

        g, covs = self.graph, self.covs or []
        self.covs = covs
        if self.ivs is None:
            self.ivs = identify(g, self.t, self.y, covs).instruments if g is not None else []
        elif g is not None:
            for z in self.ivs:
                problem = instrument_problem(g, z, self.t, self.y, covs)
                if problem is not None:
                    self._problem(problem)
        if not self.ivs:
            where = "in the graph" if g is not None else "(no graph given)"
            raise MissingInstrumentError(
                f"treatment '{self.t}' has no instrument {where}; pass instruments=[...] or "
                f"add a variable that reaches '{self.y}' only through '{self.t}'"
            )

    def frontdoor(self) -> None:
        from topiclab.causal.identify import frontdoor_problem, identify

        g = self.graph
        self.covs = self.covs or []
        if self.meds is None:
            found = identify(g, self.t, self.y).frontdoor if g is not None else None
            if found is None:
                raise MissingInstrumentError(
                    f"no front-door mediator for '{self.t}' -> '{self.y}' "
                    + ("in the graph" if g is not None else "(no graph given)")
                    + "; pass mediators=[...]"
                )
            self.meds = found
        elif g is not None:
            problem = frontdoor_problem(g, self.t, self.y, self.meds)
            if problem is not None:
                self._problem(f"mediators fail the front-door criterion: {problem}")


def _backdoor_path(g: CausalGraph, t: str, y: str) -> str | None:
    from topiclab.causal.identify import _cut, open_path

    return open_path(g, _cut(g, [t]), t, y, [])


def _complete(
    data: pd.DataFrame, columns: Sequence[str], cluster: str | None
) -> tuple[pd.DataFrame, np.ndarray | None, int]:
    """Listwise deletion (as linearmodels does) over the used columns and the cluster column."""
    names = list(dict.fromkeys(columns))
    values = np.column_stack([data[c].to_numpy(float) for c in names])
    mask = ~np.isnan(values).any(axis=1)
    groups = None
    if cluster is not None:
        check_columns(data, [cluster], "cluster")
        mask &= data[cluster].notna().to_numpy()
        groups = data[cluster].to_numpy()[mask]
    if not mask.any():
        raise RoleError("no complete row: every row misses at least one used value")
    kept = pd.DataFrame(values[mask], index=data.index[mask], columns=names)
    return kept, groups, int(len(mask) - mask.sum())


def _config_line(key: str, err: ValidationError) -> str:
    """pydantic's multi-line report as one line: the first problem, with its location."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    value = f"={first['input']!r}" if first["type"] != "extra_forbidden" else ""
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"estimator '{key}' config: {where}{value}: {first['msg']}{more}"
