"""Topic ``causal-iv``: two-stage least squares and invariant causal prediction.

    topiclab run causal-iv                     # standard profile: 2 CPU cores, < 5 minutes
    python -c "from topiclab.core.stages import run_direct as r; r('causal-iv', 'quick')"

generate: reference SEM, nonlinear SEM, one ICP draw, Card (1995) data -> parquet (data.py).
train:    fit every estimator (by registry key) on them, plus the Monte-Carlo loops (coverage,
          weak and invalid instruments, ICP repetitions with a new test-time intervention)
          (train.py).
evaluate: metrics, DoWhy refutations and tables (evaluate.py), claims (claims.py), graph
          drawings and figures (figures.py). report: the platform's.
"""

from __future__ import annotations

from topiclab.core.topic import StageContext, StageResult, Topic

# Modules under a leading underscore: the stages' own names (and ``data``) stay free.
from topiclab.plugins.causal_iv import data as _data
from topiclab.plugins.causal_iv import evaluate as _evaluate
from topiclab.plugins.causal_iv import train as _train
from topiclab.plugins.causal_iv.config import PROFILES, CausalIVConfig


class CausalIVTopic(Topic):
    key = "causal-iv"
    title = "Causal Inference 102: instrumental variables (2SLS) and invariant causal prediction"
    summary = (
        "A hidden confounder biases OLS; an instrument recovers the effect (2SLS, Wald ratio, "
        "control function), with valid intervals unless the instrument is weak or invalid. "
        "Sieve 2SLS handles a nonlinear outcome where the 'forbidden regression' fails. "
        "ICP finds the causal parents from environments and predicts well under a new "
        "intervention. Real data: Card (1995), college proximity as the instrument."
    )
    Config = CausalIVConfig
    profiles = PROFILES

    def generate(self, ctx: StageContext) -> StageResult:
        return _data.generate(ctx, ctx.cfg(CausalIVConfig))

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        return _train.train(ctx, ctx.cfg(CausalIVConfig), data)

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return _evaluate.evaluate(ctx, ctx.cfg(CausalIVConfig), data, trained)
