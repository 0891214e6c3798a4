"""The map benchmark builds its data, renders the map and times pans and zooms at a tiny size (speed is not
tested)."""

from __future__ import annotations

import json

import pytest

from bench import map as bench


@pytest.mark.slow
def test_the_benchmark_times_rerendering_after_pan_and_zoom_against_sending_every_point(tmp_path, capsys):
    argv = ["--customers", "50000", "--data-dir", str(tmp_path / "data"), "--views", "20", "--json"]
    assert bench.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["customers"] == 50_000 and result["views"] == 20 and result["pixels"] == "800x450"
    assert result["coloured_by"] == "Sentiment"
    rerender = result["rerender"]
    assert 0 < rerender["p50_ms"] <= rerender["p95_ms"] <= rerender["max_ms"]
    assert result["image_message_mb"] > 0, "every view sends a new image"
    naive = result["baseline_every_point"]
    assert naive["serialise_ms"] > 0 and naive["megabytes"] > 0

    assert bench.main([*argv, "--untrained"]) == 0  # the same data: the models are there, and left out
    assert json.loads(capsys.readouterr().out)["coloured_by"] == "Tenure"
