"""DuckDB connections set up the same everywhere."""

from __future__ import annotations

import tempfile
from pathlib import Path

from connectors import engine


def test_duckdb_spills_into_the_systems_temporary_folder_not_the_working_directory():
    with engine.connect() as duck:
        (folder,) = duck.execute("SELECT current_setting('temp_directory')").fetchone()
    assert Path(folder) == engine.SPILL_FOLDER
    assert Path(folder).is_relative_to(tempfile.gettempdir())
