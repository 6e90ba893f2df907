"""topiclab's causal estimator library: a small DoWhy-like API shared by every topic.

    from topiclab.causal import BackdoorOLS, TwoStageLeastSquares
    res = TwoStageLeastSquares().fit(df, "Z -> X; (U) -> X; (U) -> Y; X -> Y",
                                     treatment="X", outcome="Y")
    print(res.summary())   # estimand, assumptions, terms with SE/t/p/CI, first-stage table
    ols = BackdoorOLS({"cov_type": "HC3"}).fit(df, "W -> X; W -> Y; X -> Y",
                                              treatment="X", outcome="Y")   # adjusts for W

Topics reach these through the registry (``ctx.registry.estimator("iv.2sls")``), so a plugin
can replace any of them; this package holds no topic and imports no plugin. Importing it does
not import DoWhy, scipy.stats or the plotting stack: those load on first use.
"""

from topiclab.causal.aipw import AIPW
from topiclab.causal.base import CausalEstimator, EstimatorConfig
from topiclab.causal.frontdoor import FrontDoorExact, FrontDoorTwoStage
from topiclab.causal.gformula import ExactAdjustment
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
from topiclab.causal.matching import PropensityScoreMatching
from topiclab.causal.propensity import (
    PropensityScoreStratification,
    PropensityScoreWeighting,
)
from topiclab.causal.regression import BackdoorOLS, RegressionAdjustment
from topiclab.causal.results import EstimateResult, Term
from topiclab.causal.validation import (
    CausalInputError,
    DegenerateDesignError,
    GraphMismatchError,
    InvalidDesignError,
    MissingInstrumentError,
    NonFiniteError,
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
    PropensityScoreWeighting,
    PropensityScoreMatching,
    PropensityScoreStratification,
    ExactAdjustment,
    AIPW,
    FrontDoorTwoStage,
    FrontDoorExact,
    InvariantCausalPrediction,
)

__all__ = [
    "AIPW",
    "ESTIMATORS",
    "BackdoorOLS",
    "CausalEstimator",
    "CausalGraph",
    "CausalInputError",
    "ControlFunction",
    "DegenerateDesignError",
    "EstimateResult",
    "EstimatorConfig",
    "ExactAdjustment",
    "ForbiddenRegression",
    "FrontDoorExact",
    "FrontDoorTwoStage",
    "GraphMismatchError",
    "ICPResult",
    "InvalidDesignError",
    "InvariantCausalPrediction",
    "MissingInstrumentError",
    "NonFiniteError",
    "NonNumericColumnError",
    "PropensityScoreMatching",
    "PropensityScoreStratification",
    "PropensityScoreWeighting",
    "RegressionAdjustment",
    "Sieve2SLS",
    "Term",
    "TwoStageLeastSquares",
    "WaldRatio",
    "sieve_predict",
]
