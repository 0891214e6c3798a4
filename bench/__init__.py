"""Benchmarks: each `python -m bench.NAME --json` prints one JSON object, with a naive baseline measured in the same run."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence

import numpy as np


def percentiles(samples_ms: Sequence[float], digits: int = 3) -> dict:
    """p50, p95 and max of timings in milliseconds."""
    values = np.asarray(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), digits),
        "p95_ms": round(float(np.percentile(values, 95)), digits),
        "max_ms": round(float(values.max()), digits),
    }


def report(result: dict, as_json: bool) -> None:
    """Print a benchmark's result: one JSON object, or aligned lines for a person."""
    if as_json:
        print(json.dumps(result))
        return
    width = max(map(len, result), default=0)
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")


def command(
    name: str,
    doc: str,
    add_options: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], dict],
    argv: list[str] | None,
) -> int:
    """A benchmark's command line: its own options and ``--json``, then run it and print the result."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc.split("\n")[0])
    add_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    report(run(args), args.json)
    return 0
