"""Benchmarks: throughput, latency and detection quality."""
