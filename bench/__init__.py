"""Benchmarks and simulations: `switchboard bench` (bench.pipeline) and the scripts beside it."""
