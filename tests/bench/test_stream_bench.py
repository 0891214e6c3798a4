"""The click-stream benchmark runs end to end and prints the figures the issue asks for (not their values)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_bench_stream_prints_one_json_object_with_the_required_figures():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.stream",
            "--json",
            "--duration",
            "1",
            "--latency-duration",
            "1",
            "--baseline-duration",
            "1",
            "--customers",
            "300",
            "--rate",
            "20000",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in ("clicks_per_s", "p95_latency_ms", "rss_mb_start", "rss_mb_end"):
        assert figures[key] > 0, key
    assert figures["baseline"]["clicks_per_s"] > 0
