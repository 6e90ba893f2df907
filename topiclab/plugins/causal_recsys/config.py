"""The causal-recsys topic's config. Defaults are the ``standard`` profile (2 CPU cores, < 5 min).

Every number has bounds (sanity limits far above ``full``); recommender and estimator keys are
checked against the registry before anything runs::

    topiclab run causal-recsys --set 'recommenders=["bpr-mf","pd","my-rec"]'   # add your own
    topiclab run causal-recsys --set scm.graph="(U) -> X; (U) -> Y; X -> Y"   # not identifiable
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from topiclab.core.config import RegistryKey
from topiclab.core.topic import ConfigSection, FieldError, TopicConfig
from topiclab.nn.recommenders import RECOMMENDER_TASK
from topiclab.plugins.causal_recsys.data import SCM_HIDDEN, identify_effect

MAX_ROWS = 50_000_000
# users × items: the worlds draw dense matrices of that size (exposure, test keys, true
# preferences); 100 million float64 are 0.8 GB each (full: 50 million)
MAX_PAIRS = 100_000_000


class SCMConfig(ConfigSection):
    """The binary SCM: sample size, and the graph the user believes (U hidden by default)."""

    n: int = Field(default=1_000_000, ge=1_000, le=MAX_ROWS)
    intervention_n: int = Field(
        default=1_000_000, ge=1_000, le=MAX_ROWS, description="draws per arm of the simulated do(X)"
    )
    graph: str = Field(
        default=SCM_HIDDEN,
        min_length=4,
        description="the user's graph over U, X, M, Y; '(U)' marks U unmeasured",
    )

    @field_validator("graph")
    @classmethod
    def _identifiable(cls, graph: str) -> str:
        # Refused before anything runs, in one line naming the path nothing can block.
        identify_effect(graph)
        return graph


class WorldConfig(ConfigSection):
    """The synthetic platform (PDA-style popularity confounding)."""

    seeds: int = Field(default=3, ge=1, le=100, description="worlds (and logs) drawn")
    n_users: int = Field(default=4_000, ge=20, le=200_000)
    n_items: int = Field(default=1_000, ge=30, le=200_000)
    dim: int = Field(default=8, ge=1, le=256, description="true latent factors")
    preference_scale: float = Field(default=4.0, gt=0, le=100)
    preference_bias: float = Field(default=-1.0, ge=-20, le=20)
    zipf_exponent: float = Field(default=1.0, gt=0, le=5, description="long tail of z_i")
    zipf_offset: float = Field(default=10.0, ge=0, le=1e6)
    kappa: float = Field(default=1.0, ge=0, le=5, description="exposure ∝ z^κ")
    gamma: float = Field(default=0.5, ge=0, le=5, description="true click exponent: z^γ")
    stages: int = Field(default=4, ge=1, le=50, description="training stages; test: the next")
    drift: float = Field(
        default=0.2, ge=0, le=5, description="SD of each item's log-popularity trend per stage"
    )
    train_exposures: int = Field(default=600_000, ge=100, le=MAX_ROWS)
    test_per_user: int = Field(default=100, ge=1, le=100_000)

    @model_validator(mode="after")
    def _fits_in_memory(self) -> WorldConfig:
        pairs = self.n_users * self.n_items
        if pairs > MAX_PAIRS:
            raise ValueError(
                f"{self.n_users:,} users × {self.n_items:,} items are {pairs:,} pairs, more "
                f"than {MAX_PAIRS:,}: the worlds hold dense users × items matrices"
            )
        return self

    @model_validator(mode="after")
    def _test_items_exist(self) -> WorldConfig:
        # Each user is shown test_per_user distinct items (data.py): numpy's "kth out of
        # bounds" in the generate stage otherwise.
        if self.test_per_user > self.n_items:
            raise FieldError(
                "test_per_user",
                f"{self.test_per_user} distinct items per user, more than world.n_items "
                f"({self.n_items})",
            )
        return self


class TrainConfig(ConfigSection):
    """Shared recommender settings (the topic's ``options`` override them per key)."""

    dim: int = Field(default=32, ge=1, le=1024)
    epochs: int = Field(default=30, ge=1, le=10_000)
    l2: float = Field(default=0.01, ge=0, le=10, description="L2 penalty of the BPR models")
    pd_dim: int = Field(default=8, ge=1, le=1024, description="PD/PDA latent factors")
    pd_epochs: int = Field(default=15, ge=1, le=10_000, description="PD/PDA epochs (exposures)")
    pd_l2: float = Field(default=0.01, ge=0, le=10, description="L2 penalty of PD/PDA")
    batch: int = Field(default=4096, ge=16, le=1_000_000)
    lr: float = Field(default=0.01, gt=0, le=1)
    torch_threads: int = Field(default=1, ge=0, le=256, description="0: torch's default")


class LossCheckConfig(ConfigSection):
    """IPS vs naive estimates of a fixed model's loss, over redraws of the logging."""

    seeds: int = Field(default=200, ge=2, le=100_000)


class EstimatorChoice(ConfigSection):
    backdoor: Annotated[str, RegistryKey("estimator", "backdoor")] = "backdoor.exact_adjustment"
    frontdoor: Annotated[str, RegistryKey("estimator", "frontdoor")] = "frontdoor.exact"
    options: Annotated[
        dict[str, dict[str, Any]], RegistryKey("estimator", keys_of_mapping=True)
    ] = Field(
        default_factory=lambda: {"frontdoor.exact": {"n_boot": 30}},
        description="estimator key -> its config values",
    )


DEFAULT_RECOMMENDERS = ["popularity", "bpr-mf", "bpr-ips", "bpr-snips", "pd", "pda"]


def listed_once(keys: list[str]) -> list[str]:
    """The recommenders are a list of registry keys (checked against the registry by the
    platform, like every ``RegistryKey`` field), each once. A list of values rather than a
    mapping's keys, so that the run's code fingerprint (which reads the config's string values)
    covers a third party's recommender and a change to it recomputes the run."""
    if len(set(keys)) < len(keys):
        raise ValueError(f"a recommender is listed twice: {keys}")
    return keys


class CausalRecsysConfig(TopicConfig):
    model_config = ConfigDict(strict=True)

    scm: SCMConfig = Field(default_factory=SCMConfig)
    world: WorldConfig = Field(default_factory=WorldConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    loss_check: LossCheckConfig = Field(default_factory=LossCheckConfig)
    estimators: EstimatorChoice = Field(default_factory=EstimatorChoice)
    # A user's own recommender plugin is compared by adding its key to this list.
    recommenders: Annotated[
        list[str], RegistryKey("trainer", RECOMMENDER_TASK), AfterValidator(listed_once)
    ] = Field(default_factory=lambda: list(DEFAULT_RECOMMENDERS), min_length=1, max_length=50)
    options: Annotated[
        dict[str, dict[str, Any]], RegistryKey("trainer", RECOMMENDER_TASK, keys_of_mapping=True)
    ] = Field(default_factory=dict, description="recommender key -> its options")


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "scm": {"n": 20_000, "intervention_n": 20_000},
        "world": {
            "seeds": 2,
            "n_users": 200,
            "n_items": 150,
            "train_exposures": 6_000,
            "test_per_user": 30,
            "stages": 2,
        },
        "train": {"dim": 8, "pd_dim": 4, "epochs": 3, "pd_epochs": 3, "batch": 1024},
        "loss_check": {"seeds": 30},
        "estimators": {"options": {"frontdoor.exact": {"n_boot": 10}}},
    },
    "full": {
        "world": {"seeds": 10, "n_users": 10_000, "n_items": 5_000, "train_exposures": 2_000_000},
        "train": {"dim": 64, "epochs": 60, "pd_epochs": 30},
        "loss_check": {"seeds": 1_000},
    },
}
