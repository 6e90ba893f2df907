"""Registers a second topic with the key 'ridge': the registry must refuse it."""

from topiclab_example.ridge import RidgeTopic

from topiclab.core.hookspecs import hookimpl


class AnotherRidge(RidgeTopic):
    pass


@hookimpl
def topiclab_register_topics():
    return [AnotherRidge]
