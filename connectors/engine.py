"""Connections to DuckDB, the embedded engine that reads and joins the sources, set up the same everywhere."""

from __future__ import annotations

import duckdb


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database with its own progress bar off: long reads report their own progress.

    Inside a Jupyter kernel DuckDB refuses to change that setting unless ipywidgets is installed (its bar is
    then off anyway): the refusal is passed over (README "Workarounds").
    """
    duck = duckdb.connect(":memory:")
    try:
        duck.execute("SET enable_progress_bar = false")
    except duckdb.InvalidInputException as error:
        if "ipywidgets" not in str(error):
            raise
    return duck
