"""Built-in plugin ``causal-estimators``: the estimators of ``topiclab.causal``, by key.

    from topiclab.core.registry import get_registry
    spec = get_registry().estimator("iv.2sls")
    est = spec.build({"cov_type": "robust"})      # or spec.build(spec.config(...))
    est.fit(df, graph, treatment="X", outcome="Y")

Keys (DoWhy-style ``<identification>.<method>``): iv.2sls, iv.wald, iv.control_function,
iv.sieve_2sls, iv.forbidden_regression; backdoor.ols, backdoor.regression_adjustment,
backdoor.propensity_score_weighting, backdoor.propensity_score_matching,
backdoor.propensity_score_stratification, backdoor.exact_adjustment, backdoor.aipw;
frontdoor.two_stage_regression, frontdoor.exact; icp. The table with estimands, assumptions
and references is docs/causal.md. A third-party plugin can add more, or block this one.
"""

from __future__ import annotations

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import EstimatorSpec


@hookimpl
def topiclab_register_estimators() -> list[EstimatorSpec]:
    # Imported here so that loading the plugin list (``topiclab --help``) does not import DoWhy.
    from topiclab.causal import ESTIMATORS

    return [
        EstimatorSpec(
            key=cls.key,
            kind=cls.key.split(".")[0],
            build=cls,
            config=cls.Config,
            summary=" ".join((cls.__doc__ or "").strip().split("\n\n")[0].split()),
        )
        for cls in ESTIMATORS
    ]
