"""An example third-party topiclab plugin (see docs/plugins.md)."""
