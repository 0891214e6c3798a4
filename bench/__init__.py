"""Benchmarks: each `python -m bench.NAME --json` prints one JSON object, with a naive baseline measured in the same run."""

from __future__ import annotations

import json


def report(result: dict, as_json: bool) -> None:
    """Print a benchmark's result: one JSON object, or aligned lines for a person."""
    if as_json:
        print(json.dumps(result))
        return
    width = max(map(len, result), default=0)
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")
