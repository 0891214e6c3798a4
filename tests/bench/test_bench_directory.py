"""The directory benchmark runs end to end at a tiny size and prints one JSON object (its speed is not tested)."""

from __future__ import annotations

import json

from bench import directory as bench

KEYS = {"customers", "queries", "p50_ms", "p95_ms", "baseline_p95_ms", "startup_s", "speedup_p95", "by_kind"}


def test_the_benchmark_prints_one_json_object_with_its_figures(tmp_path, capsys):
    assert (
        bench.main(["--customers", "2000", "--data-dir", str(tmp_path / "data"), "--queries", "30", "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result.keys() >= KEYS
    assert result["customers"] == 2000 and result["queries"] == 30
    assert 0 < result["p50_ms"] <= result["p95_ms"] and result["baseline_p95_ms"] > 0
    assert set(result["by_kind"]) == {
        "1-3 letters",
        "first name",
        "last name",
        "full name",
        "phone",
        "email",
        "no match",
    }


def test_the_baseline_can_run_on_the_first_queries_of_the_mix_only(tmp_path, capsys):
    arguments = ["--customers", "2000", "--data-dir", str(tmp_path / "data"), "--queries", "30"]
    assert bench.main([*arguments, "--baseline-queries", "10", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["queries"], result["baseline_queries"]) == (30, 10)
