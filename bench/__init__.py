"""Benchmarks: ``python -m bench.NAME --json`` prints one JSON object, with a naive baseline from the same run."""
