"""Configs with Kafka's names: typed definitions (definitions.py), the Java .properties
syntax (properties.py), the broker's configs (broker.py) and topic configs (topic.py)."""
