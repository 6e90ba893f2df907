"""DoWhy refuters for an IV (or backdoor) estimate, each on its own copy of the estimand.

    from topiclab.causal.refute import RefuteConfig, refute
    rows = refute(df, "Z -> X; (U) -> X; (U) -> Y; X -> Y", treatment="X", outcome="Y",
                  config=RefuteConfig(num_simulations=20))
    [(r.refuter, r.new_effect, r.passed) for r in rows]

Verdicts are ours, stated in ``rule``: a placebo instrument/treatment should give an effect
near 0; a random common cause or a data subset should leave the estimate within two standard
errors; the unobserved-confounder analysis is a sensitivity curve and carries no verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from topiclab.causal import dowhy_api
from topiclab.causal.graph import CausalGraph, GraphLike
from topiclab.causal.validation import (
    CausalInputError,
    DegenerateDesignError,
    check_columns,
    check_numeric,
)


class RefuteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method_name: str = Field(
        default="iv.instrumental_variable", description="DoWhy estimation method"
    )
    num_simulations: int = Field(default=20, ge=1)
    subset_fraction: float = Field(default=0.8, gt=0, lt=1)
    confounder_strengths: list[float] = Field(
        default_factory=lambda: [0.1, 0.3, 0.5],
        description="unobserved-confounder sensitivity: "
        "effect of the simulated confounder on treatment and outcome (linear)",
    )
    seed: int = 0


class Refutation(BaseModel):
    refuter: str
    estimate: float
    new_effect: float
    p_value: float | None = None
    passed: bool | None = None
    rule: str = ""


def refute(
    data: pd.DataFrame,
    graph: GraphLike,
    *,
    treatment: str,
    outcome: str,
    config: RefuteConfig | None = None,
    std_error: float | None = None,
) -> list[Refutation]:
    """Estimate with DoWhy, then run placebo, random-common-cause, data-subset and
    unobserved-confounder refuters. ``std_error`` (e.g. from our 2SLS) sets the 2-SE rule;
    without it the rule is 5 % of the estimate."""
    cfg = config or RefuteConfig.model_validate({})
    if std_error is not None and not (math.isfinite(std_error) and std_error > 0):
        raise CausalInputError(f"std_error must be a positive finite number, got {std_error!r}")
    cg = CausalGraph.parse(graph)
    cg.check_against(data, [treatment, outcome])
    check_columns(data, cg.observed, "graph node")
    check_numeric(data, cg.observed)
    model = dowhy_api.causal_model(data, cg, treatment, outcome)
    estimand = dowhy_api.identify(model)
    est = dowhy_api.estimate(model, estimand, cfg.method_name)
    value = _estimate_value(est, cfg.method_name, treatment, outcome)
    tol = 2 * std_error if std_error is not None else 0.05 * abs(value)
    if tol == 0:
        # 5 % of 0 is no width: every refuter would fail, whatever it found.
        raise CausalInputError(
            "the estimate is exactly 0, so the 5 % rule has no width: pass std_error"
        )
    return _verdicts(model, est, value, tol, cfg) + _sensitivity(model, est, value, cfg)


def _estimate_value(est: Any, method_name: str, treatment: str, outcome: str) -> float:
    """DoWhy's point estimate; None or a non-finite value (an effect it could not estimate)
    is refused rather than refuted."""
    value = getattr(est, "value", None)
    if value is None or not math.isfinite(float(value)):
        raise DegenerateDesignError(
            f"DoWhy's {method_name} gave no finite estimate of {treatment} -> {outcome} "
            f"(got {value!r}): nothing to refute"
        )
    return float(value)


def _verdicts(
    model: Any, est: Any, value: float, tol: float, cfg: RefuteConfig
) -> list[Refutation]:
    """The refuters with a verdict: a placebo near 0, a random common cause or a data subset
    within ``tol`` of the estimate."""
    runs: list[tuple[str, dict[str, Any], str]] = [
        (
            "placebo_treatment_refuter",
            {"placebo_type": "permute"},
            f"|new effect| < {tol:.3g} (placebo should give ~0)",
        ),
        ("random_common_cause", {}, f"|new − estimate| < {tol:.3g}"),
        (
            "data_subset_refuter",
            {"subset_fraction": cfg.subset_fraction},
            f"|new − estimate| < {tol:.3g}",
        ),
    ]
    out = []
    for name, kwargs, rule in runs:
        res = _run(
            model, est, name, num_simulations=cfg.num_simulations, random_state=cfg.seed, **kwargs
        )
        new = float(res.new_effect)
        delta = abs(new) if name.startswith("placebo") else abs(new - value)
        out.append(
            Refutation(
                refuter=name,
                estimate=value,
                new_effect=new,
                p_value=_p_value(res),
                passed=delta < tol,
                rule=rule,
            )
        )
    return out


def _sensitivity(model: Any, est: Any, value: float, cfg: RefuteConfig) -> list[Refutation]:
    """The unobserved-confounder curve: the effect under each simulated strength, no verdict."""
    np.random.seed(cfg.seed)  # this refuter draws from the global numpy generator
    out = []
    for s in cfg.confounder_strengths:
        res = _run(
            model,
            est,
            "add_unobserved_common_cause",
            confounders_effect_on_treatment="linear",
            confounders_effect_on_outcome="linear",
            effect_strength_on_treatment=s,
            effect_strength_on_outcome=s,
        )
        out.append(
            Refutation(
                refuter=f"add_unobserved_common_cause(strength={s:g})",
                estimate=value,
                new_effect=float(np.mean(res.new_effect)),
                rule="sensitivity: how far a simulated confounder moves it",
            )
        )
    return out


def _run(model: Any, est: Any, method: str, **kwargs: Any) -> Any:
    with dowhy_api.quiet():
        return model.refute_estimate(
            dowhy_api.refutable_estimand(est), est, method_name=method, **kwargs
        )


def _p_value(res: Any) -> float | None:
    result = getattr(res, "refutation_result", None) or {}
    p = result.get("p_value") if isinstance(result, dict) else None
    return None if p is None or (isinstance(p, float) and math.isnan(p)) else float(p)


def as_table(rows: Sequence[Refutation]) -> pd.DataFrame:
    return pd.DataFrame([r.model_dump() for r in rows])
