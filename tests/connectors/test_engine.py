"""DuckDB connections set up the same everywhere."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from connectors import engine


def test_duckdb_spills_into_the_systems_temporary_folder_not_the_working_directory():
    with engine.connect() as duck:
        (folder,) = duck.execute("SELECT current_setting('temp_directory')").fetchone()
    assert Path(folder) == engine.SPILL_FOLDER
    assert Path(folder).is_relative_to(tempfile.gettempdir())
    assert str(os.getuid()) in Path(folder).name, "each user spills into a folder of their own"


def test_two_connections_spill_into_the_folder_at_once_and_one_closing_leaves_the_others_files():
    with engine.connect() as first, engine.connect() as second:
        for duck in (first, second):
            duck.execute("SET memory_limit = '64MB'")
            duck.execute("CREATE TABLE t AS SELECT range AS x, md5(range::VARCHAR) AS y FROM range(2000000)")
        first.close()
        assert second.execute("SELECT count(*), count(DISTINCT y) FROM t").fetchone() == (
            2_000_000,
            2_000_000,
        )


def test_duckdb_gives_the_memory_its_queries_freed_back_on_a_background_thread():
    with engine.connect() as duck:
        (purging,) = duck.execute("SELECT current_setting('allocator_background_threads')").fetchone()
    assert purging is True
