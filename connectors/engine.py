"""Connections to DuckDB, the embedded engine that reads and joins the sources, set up the same everywhere."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

# Where a query larger than memory spills: one folder per user, as the first user to create a shared one would
# own it and every other user's spill would fail; DuckDB names its files by process, so processes share it.
SPILL_FOLDER = Path(tempfile.gettempdir()) / f"c360-duckdb-{os.getuid()}"


def connect(database: Path | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB database, in memory unless ``database`` names its file (tables larger than memory then live
    there, compressed), at most ``memory_limit`` (DuckDB's syntax, e.g. ``"4GB"``; its default is 80% of
    RAM, which leaves pandas too little beside it when training), with its own progress bar off (long reads
    report their own progress), spilling into the system's temporary folder: DuckDB's default is ``.tmp``
    in the working directory, which put gigabytes of spill files into the repository when training ran
    from it.

    DuckDB's allocator purges the memory its queries freed on a background thread of its own: without one it
    kept it, about 60 MB after each bulk read a dashboard process makes at start (the map's points, the web
    users): at 1M customers one fleet process and its supervisor took 959 MB, 883 MB with it (measured).

    Inside a Jupyter kernel DuckDB refuses to change the progress bar's setting unless ipywidgets is
    installed (its bar is then off anyway): the refusal is passed over (README "Workarounds").
    """
    duck = duckdb.connect(str(database) if database else ":memory:")
    if memory_limit:
        duck.execute(f"SET memory_limit = '{memory_limit}'")
    quoted = str(SPILL_FOLDER).replace("'", "''")
    duck.execute(f"SET temp_directory = '{quoted}'")
    duck.execute("SET allocator_background_threads = true")
    try:
        duck.execute("SET enable_progress_bar = false")
    except duckdb.InvalidInputException as error:
        if "ipywidgets" not in str(error):
            raise
    return duck
