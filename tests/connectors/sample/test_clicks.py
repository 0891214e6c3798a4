"""The click file's writer: DuckDB builds the lines on every core, and the file keeps the time order."""

from __future__ import annotations

import json
import re

import numpy as np

from connectors.sample.clicks import PAGES_PER_PRODUCT, click_frame, write_clicks


def test_a_million_clicks_keep_their_time_order_across_duckdbs_threads(tmp_path):
    """The writer relies on DuckDB keeping a projection's rows in the order of the table it reads (its
    ``preserve_insertion_order``); a join or a parallel scan that reorders rows fails here."""
    rng = np.random.default_rng(5)
    n = 1_000_000
    ts = 1_700_000_000 + rng.permutation(n)  # every second once, drawn in no order
    user_id = rng.integers(1, 50_000, n)
    parts = np.array_split(np.arange(n), 3)
    frames = [
        click_frame(rng, user_id[rows], ts[rows], rng.integers(0, PAGES_PER_PRODUCT, len(rows)))
        for rows in parts
    ]

    assert write_clicks(tmp_path / "clicks.jsonl", frames) == n

    text = (tmp_path / "clicks.jsonl").read_bytes()
    written = np.array(re.findall(rb'"user_id":(\d+)', text), dtype=np.int64)
    np.testing.assert_array_equal(written, user_id[np.argsort(ts)])
    first = json.loads(text[: text.index(b"\n")])
    assert first["datetime"] == "2023-11-14 22:13:20" and first["user_id"] == user_id[np.argmin(ts)]
