"""A plugin that registers one trainer key twice."""

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec


def _build(config: object) -> object:
    return object()


@hookimpl
def topiclab_register_trainers():
    spec = TrainerSpec(key="twice", task="generative", build=_build, summary="registered twice")
    return [spec, spec]
