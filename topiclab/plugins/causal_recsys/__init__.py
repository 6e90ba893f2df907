"""Built-in plugin ``causal-recsys``: the topic "Causal inference in recommender systems" and
the shared recommenders of ``topiclab.nn.recommenders`` (task ``recommender``).

topiclab run causal-recsys --profile quick
reg.trainer("pd", task="recommender").create({"dim": 16})     # validated by PDConfig
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec

if TYPE_CHECKING:
    from topiclab.core.topic import Topic


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    from topiclab.plugins.causal_recsys.topic import CausalRecsysTopic

    return [CausalRecsysTopic]


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    from topiclab.nn import recommenders as r  # torch: only when trainers are asked for

    def _spec(key: str, build: object, config: type, summary: str) -> TrainerSpec:
        return TrainerSpec(key, r.RECOMMENDER_TASK, build, config, summary)  # type: ignore[arg-type]

    return [
        _spec("popularity", r.PopularityRecommender, r.PopularityConfig, "most-clicked items"),
        _spec("bpr-mf", r.BPRMF, r.BPRConfig, "BPR matrix factorisation (Rendle et al. 2009)"),
        _spec("bpr-ips", r.BPRMF, r.IPSConfig, "BPR-MF, positives weighted by 1/propensity"),
        _spec("bpr-snips", r.BPRMF, r.SNIPSConfig, "BPR-MF, self-normalised IPS weights"),
        _spec("pd", r.PD, r.PDConfig, "PD: popularity deconfounding (Zhang et al. 2021)"),
        _spec("pda", r.PD, r.PDAConfig, "PDA: PD plus predicted popularity (Zhang et al. 2021)"),
    ]
