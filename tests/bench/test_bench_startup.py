"""The startup benchmark runs end to end on a small data set and prints its figures (their values are not
tested, only that they were measured)."""

from __future__ import annotations

import json

import pytest

from bench import startup


@pytest.mark.slow
def test_the_benchmark_builds_restarts_shares_and_updates(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(startup, "RELEASED_AFTER_S", 0)  # the figures' values are not tested here
    assert startup.main(["--customers", "3000", "--data-dir", str(tmp_path / "data"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["customers"] == 3000
    for key in (
        "first_build_s",
        "restart_to_first_search_s",
        "second_process_pss_mb",
        "incremental_update_s",
    ):
        assert result[key] > 0, key
    assert result["delta"]["customers"] == startup.APPENDED
