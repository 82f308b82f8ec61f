"""The Flink detection job: validation, archive, rules as data, alerts."""
