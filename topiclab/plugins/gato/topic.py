"""Topic ``gato``: a generalist agent, one transformer and one set of weights for control,
vision and text, evaluated by real roll-outs.

    topiclab run gato                         # standard profile: 2 CPU cores, ≤ 10 minutes
    python -c "from topiclab.core.stages import run_direct as r; r('gato', 'quick')"

generate: scripted experts' demonstrations in gymnasium (CartPole, MountainCar, Pendulum,
          MountainCarContinuous, FrozenLake and the transposed lake), scikit-learn digits
          with labels, Shakespeare; Gato's tokens (data.py).
train:    the ``gato`` trainer (by registry key) on the mix, a text-only specialist and one
          specialist per control task, of the same size, on the generalist's data (train.py).
evaluate: normalised scores by roll-outs with and without a prompt, digits accuracy, text
          bits per character, tokenizer checks (evaluate.py), claims (claims.py), figures.
"""

from __future__ import annotations

from topiclab.core.topic import StageContext, StageResult, Topic
from topiclab.plugins.gato import data as _data
from topiclab.plugins.gato import evaluate as _evaluate
from topiclab.plugins.gato import train as _train
from topiclab.plugins.gato.config import PROFILES, GatoConfig


class GatoTopic(Topic):
    key = "gato"
    title = "Gato: a generalist agent"
    summary = (
        "Every modality serialised into one token stream (μ-law continuous values, discrete "
        "values, image patches through a ResNet block, text), one Llama decoder trained by "
        "imitation on control, digits and text, scored by real roll-outs against experts."
    )
    Config = GatoConfig
    profiles = PROFILES
    # The fields each stage reads (core.reads): its cache key covers only these, so an
    # evaluation option (eval.episodes) re-runs evaluate and report, not the training.
    # generate holds out the digits test set; DAgger keeps its seeds below eval.first_seed.
    reads = {
        "generate": ("data", "model.seq_len", "eval.digits_test"),
        "train": ("trainer", "threads", "data", "model", "train", "eval.first_seed"),
    }
    # The environments' dynamics and seeding make the demonstrations and the roll-outs: a
    # gymnasium upgrade recomputes (core.fingerprint.library_versions).
    libraries = ("gymnasium",)

    def generate(self, ctx: StageContext) -> StageResult:
        return _data.generate(ctx, ctx.cfg(GatoConfig))

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        return _train.train(ctx, ctx.cfg(GatoConfig), data)

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return _evaluate.evaluate(ctx, ctx.cfg(GatoConfig), data, trained)
