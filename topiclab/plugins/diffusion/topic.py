"""Topic ``diffusion``: DDPM on 2-D mixtures and 8×8 digits, against closed forms and baselines.

    topiclab run diffusion --profile quick
    python -c "from topiclab.core.stages import run_direct; run_direct('diffusion', 'standard')"

generate: 2-D mixtures, moons, Swiss roll; scikit-learn's digits (data.py).
train:    one generative trainer per data set, by registry key (train.py).
evaluate: MMD, sliced Wasserstein and mode coverage against baselines, the bound, DDIM, digits
          (evaluate.py); the claims (claims.py) and figures (figures.py). report: the platform's.

The 2-D part takes any trainer of task ``generative`` (``--set trainer=...``): MMD, sliced
Wasserstein and mode coverage need only samples. The bound, the DDIM table and the trajectory
run only when the trainer offers ``nll_bound`` / ``sample_ddim`` / ``trajectory`` (DDPM does).
"""

from __future__ import annotations

from topiclab.core.topic import StageContext, StageResult, Topic

# Modules under a leading underscore: the stages' own names (and ``data``) stay free.
from topiclab.plugins.diffusion import data as _data
from topiclab.plugins.diffusion import evaluate as _evaluate
from topiclab.plugins.diffusion import train as _train
from topiclab.plugins.diffusion.config import FULL, QUICK, DiffusionConfig


class DiffusionTopic(Topic):
    key = "diffusion"
    title = "Diffusion models (DDPM)"
    summary = "DDPM from the closed forms up: schedules, bound, samplers, 2-D mixtures, digits."
    Config = DiffusionConfig
    profiles = {"quick": QUICK, "full": FULL}
    # The fields each stage reads (core.reads): its cache key covers only these, so an
    # evaluation option (toy.n_bound, toy.ddim_steps) re-runs evaluate and report only.
    # train draws the samples evaluate scores, so the n_samples options are train's.
    reads = {
        "generate": ("toy.datasets", "toy.n_train", "toy.n_test", "digits.enabled"),
        "train": (
            "trainer",
            "trainer_options",
            "torch_threads",
            "digits",
            "toy.datasets",
            "toy.n_samples",
            "toy.steps",
            "toy.batch",
            "toy.lr",
            "toy.hidden",
            "toy.layers",
            "toy.T",
            "toy.beta_end",
        ),
    }

    def generate(self, ctx: StageContext) -> StageResult:
        return _data.generate(ctx, ctx.cfg(DiffusionConfig))

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        return _train.train(ctx, ctx.cfg(DiffusionConfig), data)

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return _evaluate.evaluate(ctx, ctx.cfg(DiffusionConfig), data, trained)
