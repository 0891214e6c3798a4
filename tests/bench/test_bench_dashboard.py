"""The dashboard benchmarks run end to end at a tiny size and print their figures (speed is not tested).

Each runs as its own command, as a user runs it: it drives its own Playwright, which cannot start in a
process whose thread already holds the tests' browser.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import sessions
from tests.servers import CHROMIUM_MISSING, find_chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None, reason=CHROMIUM_MISSING),
]


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("bench") / "data")


def _run(module: str, argv: list[str]) -> dict:
    """``python -m module argv --json`` from the project folder; its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", module, *argv, "--json"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_sessions_benchmark_measures_render_select_and_memory(bench_data):
    argv = ["--sessions", "3", "--customers", "2000", "--data-dir", bench_data, "--probes", "1"]
    result = _run("bench.sessions", [*argv, "--settle", "1", "--close-wait", "5"])
    assert result["sessions"] == 3 and result["probes"] == 1 and result["select_timeouts"] == 0
    assert 0 < result["first_render_p95_ms"] < sessions.SELECT_TIMEOUT_MS
    assert 0 < result["select_p95_ms"] < sessions.SELECT_TIMEOUT_MS
    assert result["rss_mb_loaded"] > 0 and result["mb_after_close"] > 0
    assert result["ws_frames_per_session_s"] > 0  # the clients read the live updates
    assert result["baseline_first_render_p95_ms"] > 0, result.get("baseline_error")


def test_kiosk_benchmark_rotates_customers_and_fits_memory_growth(bench_data):
    argv = ["--minutes", "0.25", "--rotate", "5", "--warmup", "2", "--idle-minutes", "0.1"]
    result = _run("bench.kiosk", [*argv, "--customers", "2000", "--data-dir", bench_data])
    assert result["customers_shown"] >= 3  # 15 s at one customer every 5 s
    assert result["page_loads"] == 1 and result["console_errors"] == 0
    assert result["rss_mb_max"] >= result["rss_mb_start"] >= result["rss_mb_min"] > 0
    assert isinstance(result["kiosk_mb_per_hour"], float) and isinstance(result["idle_mb_per_hour"], float)
