"""topiclab: eight machine-learning ideas as reproducible Prefect flows, logged to MLflow.

topiclab list                 # topics, trainers, estimators
topiclab run llama --profile quick
topiclab run --all            # every topic, standard profile
"""

__version__ = "0.1.0"
