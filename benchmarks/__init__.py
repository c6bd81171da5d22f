"""Throughput, latency and CPU figures for snakafka and peer brokers: `python -m benchmarks.run`."""
