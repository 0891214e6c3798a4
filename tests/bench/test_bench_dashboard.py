"""The dashboard benchmarks run end to end at a tiny size and print their figures (speed is not tested)."""

from __future__ import annotations

import json

import pytest

from bench import kiosk, sessions
from tests.servers import CHROMIUM_MISSING, find_chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None, reason=CHROMIUM_MISSING),
]


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("bench") / "data")


def test_sessions_benchmark_measures_render_select_and_memory(bench_data, capsys):
    argv = ["--sessions", "3", "--customers", "2000", "--data-dir", bench_data, "--probes", "1"]
    assert sessions.main([*argv, "--settle", "1", "--close-wait", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sessions"] == 3 and result["probes"] == 1 and result["select_timeouts"] == 0
    assert 0 < result["first_render_p95_ms"] < sessions.SELECT_TIMEOUT_MS
    assert 0 < result["select_p95_ms"] < sessions.SELECT_TIMEOUT_MS
    assert result["rss_mb_loaded"] > 0 and result["mb_after_close"] > 0
    assert result["ws_frames_per_session_s"] > 0  # the clients read the live updates
    assert result["baseline_first_render_p95_ms"] > 0, result.get("baseline_error")


def test_kiosk_benchmark_rotates_customers_and_fits_memory_growth(bench_data, capsys):
    argv = ["--minutes", "0.25", "--rotate", "5", "--warmup", "2", "--idle-minutes", "0.1"]
    assert kiosk.main([*argv, "--customers", "2000", "--data-dir", bench_data, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["customers_shown"] >= 3  # 15 s at one customer every 5 s
    assert result["page_loads"] == 1 and result["console_errors"] == 0
    assert result["rss_mb_max"] >= result["rss_mb_start"] > 0
    assert isinstance(result["kiosk_mb_per_hour"], float) and isinstance(result["idle_mb_per_hour"], float)
