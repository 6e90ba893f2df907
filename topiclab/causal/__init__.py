"""topiclab's causal estimator library: a small DoWhy-like API shared by every topic.

    from topiclab.causal import TwoStageLeastSquares, BackdoorOLS, InvariantCausalPrediction
    res = TwoStageLeastSquares().fit(df, "Z -> X; (U) -> X; (U) -> Y; X -> Y",
                                     treatment="X", outcome="Y")
    print(res.estimate, res.std_error, res.diagnostics["first_stage_f"])

Topics reach these through the registry (``ctx.registry.estimator("iv.2sls")``), so a plugin
can replace any of them; this package holds no topic and imports no plugin.
"""

from topiclab.causal.base import CausalEstimator, EstimateResult, EstimatorConfig
from topiclab.causal.graph import CausalGraph
from topiclab.causal.icp import ICPResult, InvariantCausalPrediction
from topiclab.causal.iv import (
    ControlFunction,
    ForbiddenRegression,
    Sieve2SLS,
    TwoStageLeastSquares,
    WaldRatio,
    sieve_predict,
)
from topiclab.causal.regression import BackdoorOLS, RegressionAdjustment
from topiclab.causal.validation import (
    CausalInputError,
    GraphMismatchError,
    MissingInstrumentError,
    NonNumericColumnError,
)

ESTIMATORS: tuple[type[CausalEstimator], ...] = (
    TwoStageLeastSquares,
    WaldRatio,
    ControlFunction,
    Sieve2SLS,
    ForbiddenRegression,
    BackdoorOLS,
    RegressionAdjustment,
    InvariantCausalPrediction,
)

__all__ = [
    "ESTIMATORS",
    "BackdoorOLS",
    "CausalEstimator",
    "CausalGraph",
    "CausalInputError",
    "ControlFunction",
    "EstimateResult",
    "EstimatorConfig",
    "ForbiddenRegression",
    "GraphMismatchError",
    "ICPResult",
    "InvariantCausalPrediction",
    "MissingInstrumentError",
    "NonNumericColumnError",
    "Sieve2SLS",
    "TwoStageLeastSquares",
    "WaldRatio",
    "sieve_predict",
]
