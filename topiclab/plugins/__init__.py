"""Built-in plugins, each registered through the same plugin manager as a third party's.

Each folder (or module) is one plugin; found by ``topiclab.core.plugins.builtin_plugins``.
"""
