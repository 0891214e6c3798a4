"""The scaling benchmark runs end to end at a tiny size and prints the figures the issue asks for (not their
values): aggregators, a killed one, a dashboard reading Redis, and two behind HAProxy measured by Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scale import Aggregators
from connectors.config import Settings
from dashboard.proxy import find_haproxy
from tests.servers import CHROMIUM_MISSING, HAPROXY_MISSING, find_chromium

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.redis,
    pytest.mark.haproxy,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None, reason=CHROMIUM_MISSING),
    pytest.mark.skipif(find_haproxy() is None, reason=HAPROXY_MISSING),
]
TINY = ["--customers", "2000", "--duration", "2", "--latency-duration", "2", "--kill-duration", "8"]
TINY += ["--kill-rate", "2000", "--cpu-duration", "2", "--dashboard-sessions", "3", "--sessions", "4"]
TINY += ["--probes", "1", "--rate", "20000"]


def test_bench_scale_prints_one_json_object_with_the_required_figures(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", *TINY, "--data-dir", str(tmp_path / "data"), "--json"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    for key in (
        "clicks_per_s",
        "p95_produce_to_store_ms",
        "proxy_first_render_p95_ms",
        "proxy_select_p95_ms",
    ):
        assert figures[key] > 0, key
    assert figures["clicks_produced"] == 16_000 and figures["clicks_lost"] == 0
    assert figures["clicks_double_counted"] == 0, "the idempotent writes count a re-read click once"
    assert figures["proxy_sessions"] == 4 and sum(figures["sessions_per_process"].values()) == 4
    assert set(figures["sessions_per_process"]) == {"c360-1", "c360-2"}
    for key in (
        "dashboard_stream_cpu_pct_low",
        "dashboard_stream_cpu_pct_high",
        "baseline_dashboard_cpu_pct_high",
    ):
        assert isinstance(figures[key], float), key


def test_the_aggregators_logs_are_copied_out_of_the_runs_scratch_folder(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "aggregator-0.log").write_text("partitions assigned: [0, 1]\n")
    (scratch / "redis.log").write_text("not an aggregator's\n")
    kept = Path(Aggregators(Settings(), 0, scratch).keep_logs())
    assert kept != scratch and [p.name for p in kept.iterdir()] == ["aggregator-0.log"]
    assert (kept / "aggregator-0.log").read_text() == "partitions assigned: [0, 1]\n"
    shutil.rmtree(kept)
