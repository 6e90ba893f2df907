"""Topic ``causal-recsys``: backdoor and front-door adjustment on a known SCM, and deconfounded
recommenders on a popularity-biased log.

    topiclab run causal-recsys                     # standard profile: 2 CPU cores, < 5 minutes
    python -c "from topiclab.core.stages import run_direct as r; r('causal-recsys', 'quick')"

generate: the binary SCM sample; per seed a world with drifting popularity, a biased training
          log over its stages and two test logs of the next stage (data.py).
train:    naive / backdoor / front-door / simulated-intervention estimates, the user's graph
          identified; IPS vs naive loss estimates; every recommender by registry key (train.py).
evaluate: ranking metrics and popularity skew, tables (evaluate.py), claims (claims.py),
          figures and graphs (figures.py). report: the platform's.
"""

from __future__ import annotations

from topiclab.core.topic import StageContext, StageResult, Topic

# Modules under a leading underscore: the stages' own names (and ``data``) stay free.
from topiclab.plugins.causal_recsys import data as _data
from topiclab.plugins.causal_recsys import evaluate as _evaluate
from topiclab.plugins.causal_recsys import train as _train
from topiclab.plugins.causal_recsys.config import PROFILES, CausalRecsysConfig


class CausalRecsysTopic(Topic):
    key = "causal-recsys"
    title = "Causal inference in recommender systems: backdoor, front door, deconfounded ranking"
    summary = (
        "An intervention cuts the arrows into the treatment: backdoor adjustment needs the "
        "confounder, the front door does not (binary SCM, Pearl's smoking table). Item "
        "popularity confounds exposure and clicks in a recommender log; IPS, PD and PDA "
        "correct for it, judged on the next stage under random exposure and under the "
        "intervention that cuts popularity from the item."
    )
    Config = CausalRecsysConfig
    profiles = PROFILES
    # What generate reads (core.reads): the SCM's sample and the worlds, so a training or
    # estimator option reuses the simulated logs. The later stages read the whole config.
    reads = {"generate": ("scm.n", "world")}

    def generate(self, ctx: StageContext) -> StageResult:
        return _data.generate(ctx, ctx.cfg(CausalRecsysConfig))

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        return _train.train(ctx, ctx.cfg(CausalRecsysConfig), data)

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return _evaluate.evaluate(ctx, ctx.cfg(CausalRecsysConfig), data, trained)
