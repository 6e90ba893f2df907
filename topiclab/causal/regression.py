"""OLS / backdoor regression: Y on the treatment and an adjustment set.

    from topiclab.causal.regression import BackdoorOLS
    res = BackdoorOLS().fit(df, "Z -> X; (U) -> X; (U) -> Y; X -> Y", treatment="X", outcome="Y")
    res.estimate                        # biased when (U) confounds X and Y: that is the point
    res.diagnostics["backdoor_valid"]   # False: no observed set blocks X <- (U) -> Y

Defaults follow statsmodels (σ̂² over n − k), so Card's OLS reads 0.0712 (0.0035).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd
from pydantic import Field

from topiclab.causal.base import CausalEstimator, EstimateResult, EstimatorConfig, design, ols_fit
from topiclab.causal.graph import GraphLike


class OLSConfig(EstimatorConfig):
    cov_type: Literal["unadjusted", "robust"] = "unadjusted"
    debiased: bool = Field(
        default=True, description="divide σ̂² by n − k (statsmodels) instead of n"
    )


class BackdoorOLS(CausalEstimator):
    """Linear regression of the outcome on the treatment and ``covariates`` (default: none).
    With a graph, ``diagnostics['backdoor_valid']`` says whether the covariates satisfy the
    backdoor criterion, i.e. whether the coefficient is causal."""

    key = "backdoor.ols"
    Config = OLSConfig
    config: OLSConfig

    def fit(
        self,
        data: pd.DataFrame,
        graph: GraphLike | None = None,
        *,
        treatment: str,
        outcome: str,
        instruments: Sequence[str] | None = None,
        covariates: Sequence[str] | None = None,
    ) -> EstimateResult:
        r = self._roles(data, graph, treatment, outcome, [], covariates, False)
        x = design(r.data, [r.treatment, *r.covariates])
        beta, cov, _ = ols_fit(
            x,
            r.data[r.outcome].to_numpy(float),
            self.config.debiased,
            self.config.cov_type == "robust",
        )
        valid = (
            r.graph.satisfies_backdoor(r.treatment, r.outcome, r.covariates)
            if r.graph is not None
            else None
        )
        from topiclab.causal.iv import _result

        return _result(
            self,
            r,
            beta,
            cov,
            {"backdoor_valid": valid, "covariates": r.covariates, "rows_dropped": r.dropped},
        )
