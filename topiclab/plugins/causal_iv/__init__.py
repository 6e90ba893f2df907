"""Built-in plugin ``causal-iv``: the topic "Causal Inference 102" (2SLS/IV and ICP).

topiclab run causal-iv --profile quick
python -c "from topiclab.core.stages import run_direct; run_direct('causal-iv', 'quick')"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topiclab.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from topiclab.core.topic import Topic


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    from topiclab.plugins.causal_iv.topic import CausalIVTopic

    return [CausalIVTopic]
