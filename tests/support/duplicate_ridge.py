"""Registers a second topic with the key 'ridge': the registry must refuse it."""

from topiclab.core.hookspecs import hookimpl
from topiclab_example.ridge import RidgeTopic


class AnotherRidge(RidgeTopic):
    pass


@hookimpl
def topiclab_register_topics():
    return [AnotherRidge]
