"""Topic ``mode-collapse``: GANs drop modes, VAEs blur between them, diffusion covers them.

    topiclab run mode-collapse --profile quick
    python -c "from topiclab.core.stages import run_direct; run_direct('mode-collapse', 'standard')"

generate: PacGAN's ring (8) and grid (25) of Gaussians; the ±x regression target (data.py).
train:    each generative trainer of ``trainers`` (by registry key) × data set × seed, and the
          MSE regressor and MDN on ±x (train.py).
evaluate: PacGAN's mode metrics, mean ± SE, cycling, Lipschitz, forward/reverse KL fits
          (evaluate.py); claims (claims.py), figures (figures.py). report: the platform's.
"""

from __future__ import annotations

from topiclab.core.topic import StageContext, StageResult, Topic
from topiclab.plugins.mode_collapse import data as _data
from topiclab.plugins.mode_collapse import evaluate as _evaluate
from topiclab.plugins.mode_collapse import train as _train
from topiclab.plugins.mode_collapse.config import FULL, QUICK, STANDARD, ModeCollapseConfig


class ModeCollapseTopic(Topic):
    key = "mode-collapse"
    title = "Mode collapse in GAN vs VAE vs diffusion"
    summary = "PacGAN's ring and metric: GANs drop modes, VAEs blur, DDPM covers; KL directions."
    Config = ModeCollapseConfig
    profiles = {"quick": QUICK, "standard": STANDARD, "full": FULL}
    # What generate reads (core.reads), so a method option (seeds, trainers) reuses the data.
    # train draws the samples and Lipschitz estimates evaluate scores, so it reads all.
    reads = {
        "generate": (
            "datasets",
            "n_train",
            "n_samples",
            "regression.n",
            "stacked.enabled",
            "stacked.n_train",
        ),
    }

    def generate(self, ctx: StageContext) -> StageResult:
        return _data.generate(ctx, ctx.cfg(ModeCollapseConfig))

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        return _train.train(ctx, ctx.cfg(ModeCollapseConfig), data)

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return _evaluate.evaluate(ctx, ctx.cfg(ModeCollapseConfig), data, trained)
