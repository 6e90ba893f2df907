"""The causal-iv topic's config. Defaults are the ``standard`` profile (2 CPU cores, < 5 min).

    topiclab run causal-iv --profile quick --set coverage.reps=200 --set icp.alpha=0.01

Every number has bounds, so a value that makes no sense (``icp.alpha=5``, ``coverage.reps=
10**9``, ``nonlinear.degree=-1``) is refused in one line before anything runs; estimator keys
are checked against the registry at the same time.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from topiclab.core.config import RegistryKey
from topiclab.core.topic import ConfigSection, Distinct, TopicConfig

# Upper bounds are sanity limits, far above the ``full`` profile, not tuned values: they catch a
# typo (10**9 repetitions) before it runs for days.
MAX_ROWS = 10_000_000
MAX_REPS = 100_000
Effect = Annotated[float, Field(ge=-100, le=100)]  # a structural coefficient


class SEMConfig(ConfigSection):
    """X = πZ + γU + ε_x, Y = βX + δU + τZ + ε_y with U hidden (reference: π=γ=1, β=2, δ=1.8)."""

    n: int = Field(default=20_000, ge=50, le=MAX_ROWS)
    # π > 0: the invalid-instrument limit β + τ/π divides by it, and π = 0 is no instrument.
    pi: float = Field(default=1.0, gt=0, le=100)
    gamma: Effect = 1.0
    beta: Effect = 2.0
    delta: Effect = 1.8


class MonteCarloConfig(ConfigSection):
    reps: int = Field(default=500, ge=2, le=MAX_REPS, description="Monte-Carlo repetitions")
    n: int = Field(default=20_000, ge=50, le=MAX_ROWS, description="sample size of each repetition")


class WeakConfig(MonteCarloConfig):
    # A subclass that changes a default restates the bounds (pydantic replaces the whole field).
    n: int = Field(default=1_000, ge=50, le=MAX_ROWS, description="sample size of each repetition")
    pi: float = Field(
        default=0.05, gt=0, le=100, description="instrument strength (first-stage coefficient)"
    )
    # Coverage loss under weak instruments grows with the endogeneity ρ = corr(first-stage,
    # structural errors): ρ = 0.62 at the reference γ = 1, δ = 1.8 loses little; γ = δ = 2
    # gives ρ = 0.8, where the Staiger–Stock distortion is plain.
    gamma: float = Field(default=2.0, ge=-100, le=100, description="U -> X in the weak scenario")
    delta: float = Field(default=2.0, ge=-100, le=100, description="U -> Y in the weak scenario")


class InvalidConfig(MonteCarloConfig):
    reps: int = Field(default=200, ge=2, le=MAX_REPS, description="Monte-Carlo repetitions")
    direct_effect: float = Field(
        default=0.3, ge=-100, le=100, description="Z -> Y effect that breaks exclusion"
    )


class NonlinearConfig(ConfigSection):
    n: int = Field(default=20_000, ge=50, le=MAX_ROWS)
    # The bounds of the sieve estimator's own config (topiclab.causal.iv.SieveConfig).
    degree: int = Field(default=3, ge=1, le=8, description="polynomial degree of f(x)")
    instrument_degree: int = Field(default=5, ge=1, le=10, description="polynomial degree in z")

    @model_validator(mode="after")
    def _order_condition(self) -> NonlinearConfig:
        # One instrument: its polynomial must have at least as many terms as f's (identification).
        if self.instrument_degree < self.degree:
            raise ValueError(
                f"instrument_degree ({self.instrument_degree}) must be at least degree "
                f"({self.degree}): 2SLS needs as many instrument terms as terms of f"
            )
        return self


class ICPTopicConfig(ConfigSection):
    reps: int = Field(default=200, ge=2, le=MAX_REPS)
    # Each environment fits Y on 5 covariates: a few dozen rows is the least that tests anything.
    n_per_env: int = Field(default=1_000, ge=20, le=MAX_ROWS)
    strength: float = Field(
        default=1.0, gt=0, le=100, description="size of the mean/variance shifts of X1, X3, X4"
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="level of ICP's invariance tests")
    test_shift: float = Field(
        default=8.0, ge=-1_000, le=1_000, description="mean of do(X3) in the new test environment"
    )
    test_scale: float = Field(
        default=4.0, gt=0, le=1_000, description="spread of do(X3) in the test environment"
    )


class RefuteTopicConfig(ConfigSection):
    n: int = Field(
        default=5_000, ge=50, le=MAX_ROWS, description="rows of the reference sample refuted"
    )
    num_simulations: int = Field(default=20, ge=1, le=10_000)
    confounder_strengths: Annotated[list[Annotated[float, Field(ge=0, le=10)]], Distinct] = Field(
        default_factory=lambda: [0.1, 0.3, 0.5], min_length=1, max_length=20
    )


# Each slot takes an estimator of the kind it needs (another plugin's included).
IVEstimator = Annotated[str, RegistryKey("estimator", "iv")]
BackdoorEstimator = Annotated[str, RegistryKey("estimator", "backdoor")]
ICPEstimator = Annotated[str, RegistryKey("estimator", "icp")]


class EstimatorChoice(ConfigSection):
    """Registry keys: swap any estimator for another plugin's, e.g. ``estimators.iv=my.iv``."""

    iv: IVEstimator = "iv.2sls"
    wald: IVEstimator = "iv.wald"
    control_function: IVEstimator = "iv.control_function"
    ols: BackdoorEstimator = "backdoor.ols"
    sieve: IVEstimator = "iv.sieve_2sls"
    forbidden: IVEstimator = "iv.forbidden_regression"
    icp: ICPEstimator = "icp"
    options: Annotated[
        dict[str, dict[str, Any]], RegistryKey("estimator", keys_of_mapping=True)
    ] = Field(default_factory=dict, description="estimator key -> its config values")


class CausalIVConfig(TopicConfig):
    model_config = ConfigDict(strict=True)

    sem: SEMConfig = Field(default_factory=SEMConfig)
    coverage: MonteCarloConfig = Field(default_factory=MonteCarloConfig)
    weak: WeakConfig = Field(default_factory=WeakConfig)
    invalid: InvalidConfig = Field(default_factory=InvalidConfig)
    nonlinear: NonlinearConfig = Field(default_factory=NonlinearConfig)
    icp: ICPTopicConfig = Field(default_factory=ICPTopicConfig)
    refute: RefuteTopicConfig = Field(default_factory=RefuteTopicConfig)
    estimators: EstimatorChoice = Field(default_factory=EstimatorChoice)


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "sem": {"n": 5_000},
        "coverage": {"reps": 30, "n": 2_000},
        "weak": {"reps": 30},
        "invalid": {"reps": 10, "n": 5_000},
        "nonlinear": {"n": 5_000},
        "icp": {"reps": 10, "n_per_env": 300},
        "refute": {"n": 1_000, "num_simulations": 3, "confounder_strengths": [0.5]},
    },
    "full": {
        "sem": {"n": 200_000},
        "coverage": {"reps": 2_000},
        "weak": {"reps": 2_000},
        "invalid": {"reps": 500},
        "icp": {"reps": 1_000},
        "refute": {"num_simulations": 100},
    },
}
