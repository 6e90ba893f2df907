"""The causal-iv topic's config. Defaults are the ``standard`` profile (2 CPU cores, < 5 min)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from topiclab.core.topic import TopicConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SEMConfig(_Section):
    """X = πZ + γU + ε_x, Y = βX + δU + τZ + ε_y with U hidden (reference: π=γ=1, β=2, δ=1.8)."""

    n: int = Field(default=20_000, ge=50)
    pi: float = 1.0
    gamma: float = 1.0
    beta: float = 2.0
    delta: float = 1.8


class MonteCarloConfig(_Section):
    reps: int = Field(default=500, ge=2, description="Monte-Carlo repetitions")
    n: int = Field(default=20_000, ge=50, description="sample size of each repetition")


class WeakConfig(MonteCarloConfig):
    n: int = 1_000
    pi: float = Field(default=0.05, description="instrument strength (first-stage coefficient)")
    # Coverage loss under weak instruments grows with the endogeneity ρ = corr(first-stage,
    # structural errors): ρ = 0.62 at the reference γ = 1, δ = 1.8 loses little; γ = δ = 2
    # gives ρ = 0.8, where the Staiger–Stock distortion is plain.
    gamma: float = Field(default=2.0, description="U -> X in the weak scenario")
    delta: float = Field(default=2.0, description="U -> Y in the weak scenario")


class InvalidConfig(MonteCarloConfig):
    reps: int = 200
    direct_effect: float = Field(default=0.3, description="Z -> Y effect that breaks exclusion")


class NonlinearConfig(_Section):
    n: int = 20_000
    degree: int = 3
    instrument_degree: int = 5


class ICPTopicConfig(_Section):
    reps: int = Field(default=200, ge=2)
    n_per_env: int = 1_000
    strength: float = Field(
        default=1.0, description="size of the mean/variance shifts of X1, X3, X4"
    )
    alpha: float = 0.05
    test_shift: float = Field(default=8.0, description="mean of do(X3) in the new test environment")
    test_scale: float = Field(default=4.0, description="spread of do(X3) in the test environment")


class RefuteTopicConfig(_Section):
    n: int = Field(default=5_000, description="rows of the reference sample the refuters use")
    num_simulations: int = 20
    confounder_strengths: list[float] = Field(default_factory=lambda: [0.1, 0.3, 0.5])


class EstimatorChoice(_Section):
    """Registry keys: swap any estimator for another plugin's, e.g. ``estimators.iv=my.iv``."""

    iv: str = "iv.2sls"
    wald: str = "iv.wald"
    control_function: str = "iv.control_function"
    ols: str = "backdoor.ols"
    sieve: str = "iv.sieve_2sls"
    forbidden: str = "iv.forbidden_regression"
    icp: str = "icp"
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="estimator key -> its config values"
    )


class CausalIVConfig(TopicConfig):
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
