"""The gato topic's config. Defaults are the ``standard`` profile (2 CPU cores, ≤ 10 min).

    topiclab run gato --profile quick --set train.steps=500

The model is the reference page's mini-Gato (d 128, 4 layers, 4 heads); every number has bounds,
and ``trainer`` must be a registered trainer of task ``gato``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Field, model_validator

from topiclab.core.config import ExecutionOption, RegistryKey
from topiclab.core.topic import ConfigSection, FieldError, TopicConfig

# The tasks with an expert and a tokenizer (tasks.TASKS): another name fails at validation.
ControlTaskName = Literal[
    "CartPole-v1",
    "MountainCar-v0",
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "FrozenLake-v1",
    "FrozenLakeT-v1",
]
CONTROL_TASKS: list[ControlTaskName] = list(get_args(ControlTaskName))
MAX_STEPS = 1_000_000
# Tokens of one time step (observation, separator, action) of each task, as its tokenizer
# writes them (tasks.TASKS; a test checks these against it): a prompt of data.prompt_steps
# steps and the step the model acts on must fit in model.seq_len.
STEP_TOKENS: dict[str, int] = {
    "CartPole-v1": 6,
    "MountainCar-v0": 4,
    "Pendulum-v1": 5,
    "MountainCarContinuous-v0": 4,
    "FrozenLake-v1": 3,
    "FrozenLakeT-v1": 3,
}
# Training sequences × (seq_len + 1) tokens: 4 int32 fields each, an int64 copy in the
# trainer (1.6 GB at this cap; full: 7.7 million)
MAX_TOKENS = 50_000_000
N_DIGITS = 1797  # scikit-learn's digits: eval.digits_test leaves at least 10 to train on


class DataConfig(ConfigSection):
    tasks: list[ControlTaskName] = Field(default_factory=lambda: list(CONTROL_TASKS), min_length=1)
    episodes: int = Field(default=300, ge=1, le=100_000, description="expert episodes per task")
    sequences: int = Field(default=12_000, ge=6, le=1_000_000, description="training sequences")
    val_sequences: int = Field(default=240, ge=6, le=100_000)
    prompt_share: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="control sequences that start with a demonstration (Gato: 25 %)",
    )
    prompt_steps: int = Field(default=4, ge=1, le=1000, description="time steps in a prompt")
    prompt_end_share: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="training prompts taken from a demonstration's end (Gato: half; the rest "
        "from anywhere in it); evaluation prompts always are",
    )
    filter_share: float = Field(
        default=0.8, ge=0, le=1, description="keep episodes scoring ≥ this share of expert"
    )
    dart_noise: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="DART: training demonstrations of continuous-action tasks execute the "
        "expert's action plus N(0, (this·bound)²) and record the expert's",
    )
    dagger_rounds: int = Field(
        default=3,
        ge=0,
        le=20,
        description="DAgger rounds: roll the generalist out on training seeds, relabel the "
        "visited states with the expert, add them to its data (not in Gato: it is offline). "
        "Pendulum's catch at the top: a pendulum that passes over the top is in no "
        "demonstration",
    )
    dagger_episodes: int = Field(default=20, ge=1, le=1000, description="roll-outs per round")
    dagger_share: float = Field(
        default=0.5, ge=0, le=1, description="share of a DAgger task's rows cut from its roll-outs"
    )
    dagger_tasks: list[ControlTaskName] = Field(
        default_factory=lambda: list[ControlTaskName](["Pendulum-v1"]),
        description="control tasks DAgger rolls out (one not in data.tasks is ignored)",
    )
    text_chars: int = Field(default=400_000, ge=10_000, le=100_000_000)
    task_weights: dict[ControlTaskName, Annotated[int, Field(ge=1, le=16)]] = Field(
        default_factory=lambda: dict[ControlTaskName, int]({"Pendulum-v1": 3}),
        description="sequences of a control task per round of the mix (1 if absent, digits and "
        "text 1; a task not in data.tasks is ignored): Gato weights its datasets (Reed et al. "
        "2022, Table 1, sample weight). Pendulum 3: its swing-up is the slowest to learn",
    )

    @model_validator(mode="after")
    def _every_group_has_a_sequence(self) -> DataConfig:
        # Sequences are built for the groups of the mix in turn (data.groups): a group left
        # without one gives a fit (its specialist) no rows to draw from.
        groups = sum(self.task_weights.get(t, 1) for t in self.tasks) + 2
        for key in ("sequences", "val_sequences"):
            n = getattr(self, key)
            if n < groups:
                raise FieldError(
                    key,
                    f"{n} sequences leave some of the {groups} groups of the mix (each task "
                    "times its data.task_weights, digits, text) without one: at least "
                    f"{groups}",
                )
        return self

    def dagger_active(self) -> list[ControlTaskName]:
        """The DAgger tasks that are trained (a task not in ``tasks`` is ignored, as in
        ``task_weights``); none without ``dagger_rounds``."""
        return [t for t in self.dagger_tasks if t in self.tasks] if self.dagger_rounds else []


class ModelConfig(ConfigSection):
    dim: int = Field(default=128, ge=8, le=16_384)
    n_layers: int = Field(default=4, ge=1, le=256)
    n_heads: int = Field(default=4, ge=1, le=256)
    n_kv_heads: int | None = Field(default=2, ge=1, le=256)
    multiple_of: int = Field(default=32, ge=1, le=4_096)
    seq_len: int = Field(default=96, ge=16, le=32_768)
    hide_continuous_actions: bool = Field(
        default=True,
        description="continuous actions enter the context as their slot only (not in Gato): "
        "a torque repeats from step to step, and a model that sees it copies the last one",
    )
    value_features: bool = Field(
        default=True,
        description="a continuous token's embedding adds w·y, y its bin's value in [-1, 1] (not "
        "in Gato): the sign and size of an observation are linear from the first step",
    )

    @model_validator(mode="after")
    def _shape(self) -> ModelConfig:
        kv = self.n_kv_heads or self.n_heads
        if self.dim % self.n_heads or (self.dim // self.n_heads) % 2 or self.n_heads % kv:
            raise ValueError("dim must be n_heads times an even head size; kv heads divide heads")
        return self


class TrainConfig(ConfigSection):
    steps: int = Field(default=1430, ge=1, le=MAX_STEPS)  # 143 steps of each of 10 groups a round
    batch_size: int = Field(default=16, ge=1, le=4_096)
    lr: float = Field(default=3e-3, gt=0, le=1)
    warmup_steps: int = Field(default=50, ge=0, le=MAX_STEPS)
    eval_every: int = Field(default=250, ge=0, le=MAX_STEPS)
    eval_batches: int = Field(default=4, ge=1, le=10_000)
    # An execution option: one model at a time trains the same weights as two side by side
    # (tests/plugins/gato/test_topic.py), so changing it reuses the cached stages.
    parallel: Annotated[int, ExecutionOption()] = Field(
        default=2,
        ge=1,
        le=64,
        description="models fitted side by side (threads; with threads=1 each on one core)",
    )
    specialist_steps: int = Field(
        default=0,
        ge=0,
        le=MAX_STEPS,
        description="steps of each control task's specialist; 0: the generalist's steps on "
        "one task (its steps / number of tasks, text and digits included)",
    )

    text_specialist_batch: int = Field(
        default=0,
        ge=0,
        le=4_096,
        description="batch of the text specialist, which trains on the generalist's text "
        "sequences for the generalist's steps; 0: text's share of the generalist's batch "
        "(rounded up: the same text tokens), batch_size: the generalist's whole compute",
    )


class EvalConfig(ConfigSection):
    episodes: int = Field(default=40, ge=1, le=10_000, description="roll-outs per task")
    frozenlake_episodes: int = Field(default=200, ge=1, le=100_000)
    first_seed: int = Field(
        default=100_000, ge=10_000, le=2**30, description="roll-out seeds (training: < 10,000)"
    )
    digits_test: int = Field(default=360, ge=10, le=N_DIGITS - 10)
    bootstrap: int = Field(default=2000, ge=100, le=1_000_000)


class GatoConfig(TopicConfig):
    model_config = ConfigDict(strict=True)

    trainer: Annotated[str, RegistryKey("trainer", task="gato")] = Field(
        default="gato", description="trainer key (task gato)"
    )
    threads: int = Field(
        default=1,
        ge=0,
        le=1_024,
        description="torch threads (0: torch's default); 1 is fastest on a shared 2-core machine",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _fits_the_context(self) -> GatoConfig:
        seq_len, steps = self.model.seq_len, self.data.prompt_steps
        # The roll-outs start from the prompt, an observation and its action (rollout.py).
        task = max(self.data.tasks, key=STEP_TOKENS.__getitem__)
        need = (steps + 1) * STEP_TOKENS[task]
        if need > seq_len:
            raise FieldError(
                "data.prompt_steps",
                f"{steps} time steps of {task} and the step the model acts on are {need} tokens, "
                f"more than model.seq_len ({seq_len})",
            )
        # Text windows of seq_len + 1 tokens; the validation text is a tenth of the text.
        if seq_len + 1 > self.data.text_chars // 10:
            raise FieldError(
                "model.seq_len",
                f"{seq_len} tokens need data.text_chars of at least {10 * (seq_len + 1):,} "
                f"(the validation text, a tenth of it, holds a window); got "
                f"{self.data.text_chars:,}",
            )
        return self

    @model_validator(mode="after")
    def _fits_in_memory(self) -> GatoConfig:
        tokens = self.data.sequences * (self.model.seq_len + 1)
        if tokens > MAX_TOKENS:
            raise FieldError(
                "data.sequences",
                f"{self.data.sequences:,} sequences of {self.model.seq_len + 1:,} tokens are "
                f"{tokens:,} tokens, more than {MAX_TOKENS:,}",
            )
        return self


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "data": {
            "episodes": 4,
            "sequences": 120,
            "val_sequences": 20,
            "text_chars": 20_000,
            "dagger_episodes": 2,
        },
        "model": {
            "dim": 32,
            "n_layers": 1,
            "n_heads": 2,
            "n_kv_heads": 1,
            "multiple_of": 8,
            "seq_len": 48,
        },
        "train": {
            "steps": 12,
            "batch_size": 4,
            "warmup_steps": 2,
            "eval_every": 6,
            "eval_batches": 1,
        },
        "eval": {"episodes": 2, "frozenlake_episodes": 4, "digits_test": 20, "bootstrap": 200},
    },
    "full": {
        "data": {"episodes": 300, "sequences": 40_000, "text_chars": 4_000_000},
        "model": {"dim": 256, "n_layers": 6, "n_heads": 8, "seq_len": 192},
        "train": {"steps": 10_000, "batch_size": 32, "lr": 1e-3, "warmup_steps": 200},
        "eval": {"episodes": 50, "frozenlake_episodes": 500, "digits_test": 540},
    },
}
