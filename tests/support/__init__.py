"""Plugins that tests load with TOPICLAB_PLUGINS=support.<module> (PYTHONPATH=tests)."""
