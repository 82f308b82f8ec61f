"""fraudstream: real-time card fraud detection on Kafka, Flink and PostgreSQL."""

__version__ = "0.1.0"
