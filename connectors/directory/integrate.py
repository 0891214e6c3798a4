"""The embedded engine: DuckDB reads a data folder's sources where they lie and joins them into the directory.

Like Apache Drill in the original demo, DuckDB queries JSON documents without a declared schema. A build
(:mod:`connectors.directory.build`) reads the profile and survey documents once into tables of its DuckDB
file, joins them with the products each customer holds into the ``directory``, and keeps each customer's
clicks of the click file for the timeline (the live stream adds those that came since); a server process
opens that file read-only and reads the banking and contact-center Parquet tables where they lie, behind
views, so every look-up sees their current contents.

JSON lines are read by :mod:`connectors.jsonlines`: a line that does not parse, is not an object, lacks its
integer key or repeats a profile's id is skipped, counted per file and reason and logged with its line
number; one bad line never stops a load, and the counts show up in the directory's health, so a shorter
directory is never silent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from connectors import catalog, config, engine, jsonlines
from connectors.directory import banking, sql
from connectors.directory.banking import BankingUnavailable, CoreBanking
from connectors.directory.search import fold
from connectors.layout import Layout, SourceMissing

log = logging.getLogger(__name__)

BATCH_ROWS = 100_000


def _fold_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`fold` over a column: ASCII text is only lower-cased, which Arrow does for the whole column
    (a third of the time of calling fold on a million names, measured); the rest goes through fold."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    folded = pc.utf8_lower(values)
    other = pc.fill_null(pc.invert(pc.string_is_ascii(values)), False)
    if not other.true_count:
        return folded
    rest = [fold(text) for text in pc.filter(values, other).to_pylist()]
    return pc.replace_with_mask(folded, other, pa.array(rest, pa.string()))


def open_engine() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database with fold() registered for SQL."""
    duck = engine.connect()
    duck.execute("SET parquet_metadata_cache = true")  # a 360 record reads banking Parquet on every click
    varchar = duckdb.sqltype("VARCHAR")
    duck.create_function("fold", _fold_array, [varchar], varchar, type="arrow", null_handling="special")
    return duck


@dataclass
class Report:
    """What a load found: rows per source, skipped lines per file, and whether banking answered."""

    profiles: int = 0
    surveys: int = 0
    survey_files: int = 0
    skips: jsonlines.Skips = field(default_factory=jsonlines.Skips)
    banking_error: str | None = None
    clicks: int = 0

    def as_dict(self) -> dict:
        return {
            "profiles": self.profiles,
            "surveys": self.surveys,
            "survey_files": self.survey_files,
            "clicks": self.clicks,
            "skipped_lines": self.skips.as_dict(),
            "banking_error": self.banking_error,
        }


def require_profiles(layout: Layout) -> None:
    """Stop with a message naming the setting when the data folder has no CRM profiles."""
    if not layout.profiles.is_file():
        raise SourceMissing(
            f"{config.describe('data_dir')}: no customer profiles at {layout.profiles}; generate sample data "
            "with `python -m connectors.sample` (or `make data`), or point the setting at your data folder"
        )


def load_profiles(
    duck: duckdb.DuckDBPyConnection, layout: Layout, report: Report, resume: dict | None = None
) -> None:
    """The profile documents into ``profiles`` (id, doc, line), sorted by id; the first line of an id wins.
    ``resume``: read on from where an earlier read ended (see :func:`connectors.jsonlines.load`)."""
    files = {layout.relative(layout.profiles): layout.profiles}
    jsonlines.load(
        duck,
        "profile_lines",
        files,
        "id",
        report.skips,
        keep_doc=True,
        unique=True,
        resume=resume,
        temporary=True,
    )
    duck.execute(sql.PROFILES)
    duck.execute("DROP TABLE profile_lines")
    report.profiles = duck.execute("SELECT count(*) FROM profiles").fetchall()[0][0]


def load_surveys(duck: duckdb.DuckDBPyConnection, layout: Layout, report: Report, files: list[Path]) -> None:
    """The survey answers of ``files`` into ``surveys`` (with the file each came from)."""
    named = {layout.relative(path): path for path in files}
    jsonlines.load(
        duck, "survey_lines", named, "customer_id", report.skips, fields=catalog.SURVEY_FIELDS, temporary=True
    )
    duck.execute(sql.SURVEYS)
    duck.execute("DROP TABLE survey_lines")
    report.surveys = duck.execute("SELECT count(*) FROM surveys").fetchall()[0][0]
    report.survey_files = len(files)


def load_clicks(duck: duckdb.DuckDBPyConnection, layout: Layout, report: Report) -> None:
    """The click file's clicks into ``clicks``, by customer (after ``directory``: it links web users).

    Unlike the documents, the raw clicks go into the build's file, where DuckDB can write them out: at 10M
    they are about 7 GB, read beside the search index, and as a table in memory they took the build to
    21.8 GB (measured)."""
    files = {layout.relative(layout.clicks): layout.clicks} if layout.clicks.is_file() else {}
    jsonlines.load(duck, "click_lines", files, "user_id", report.skips, fields=catalog.CLICK_FIELDS)
    duck.execute(sql.CLICKS)
    duck.execute("DROP TABLE click_lines")
    report.clicks = duck.execute("SELECT count(*) FROM clicks").fetchall()[0][0]


def open_parquet_contacts(duck: duckdb.DuckDBPyConnection, layout: Layout) -> str | None:
    """The contact center's history as a view over its Parquet file; why not, when it is missing."""
    if not layout.contacts.is_file():
        return f"{layout.relative(layout.contacts)} is missing from {config.describe('data_dir')} = {layout.root}"
    duck.execute(sql.PARQUET_VIEW.format(name="contacts", path=sql.literal(str(layout.contacts))))
    return None


def open_parquet_banking(duck: duckdb.DuckDBPyConnection, layout: Layout) -> str | None:
    """Views ``accounts`` and ``transactions`` over the banking Parquet files; why not, if one is missing."""
    missing = [path for path in layout.banking if not path.is_file()]
    for path in layout.banking:
        if path.is_file():
            duck.execute(sql.PARQUET_VIEW.format(name=path.stem, path=sql.literal(str(path))))
    if missing:
        return f"{layout.relative(missing[0])} is missing from {config.describe('data_dir')} = {layout.root}"
    return None


def load_holdings_summary(
    duck: duckdb.DuckDBPyConnection, layout: Layout, core: CoreBanking | None, report: Report
) -> None:
    """Products per customer into ``holdings_summary``: from the Parquet views, or streamed from MySQL."""
    if core is None:
        report.banking_error = open_parquet_banking(duck, layout)
        if report.banking_error is None:
            duck.execute(f"CREATE OR REPLACE TABLE holdings_summary AS {sql.HOLDINGS_SUMMARY}")
        else:
            duck.execute(sql.EMPTY_HOLDINGS_SUMMARY)
        return
    try:
        summary = core.holdings_summary()
    except BankingUnavailable as error:
        report.banking_error = str(error)
        summary = banking.HOLDINGS_SUMMARY.empty_table()
    duck.register("holdings_summary_stream", summary)
    duck.execute("CREATE OR REPLACE TABLE holdings_summary AS SELECT * FROM holdings_summary_stream")
    duck.unregister("holdings_summary_stream")


def join_directory(duck: duckdb.DuckDBPyConnection, layout: Layout, report: Report) -> None:
    """The ``directory`` table: one row per profile with the products held, in name order."""
    duck.execute(sql.DIRECTORY, {"as_of": layout.today(), "banking_known": report.banking_error is None})


def directory_rows(
    duck: duckdb.DuckDBPyConnection, statement: str = sql.DIRECTORY_ROWS
) -> Iterator[list[tuple]]:
    """The directory table in name order, in batches of rows for the search index."""
    for batch in duck.sql(statement).to_arrow_reader(BATCH_ROWS):
        yield list(zip(*(column.to_pylist() for column in batch.columns), strict=True))


def attach_build(
    duck: duckdb.DuckDBPyConnection, build: Path, delta: Path | None, layout: Layout, parquet_banking: bool
) -> tuple[str | None, str | None]:
    """Make a server's engine read a build (and its delta): views named as the statements name the tables.

    Both files are attached read-only; the delta's rows replace the build's rows of the same customers.
    Returns why banking, and why the contact history, cannot answer when their Parquet files are missing.
    """
    duck.execute(f"ATTACH {sql.literal(str(build))} AS build (READ_ONLY)")
    if delta is None:
        for table in sql.BUILD_TABLES:
            duck.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM build.{table}")
    else:
        duck.execute(f"ATTACH {sql.literal(str(delta))} AS delta (READ_ONLY)")
        for statement in sql.DELTA_VIEWS:
            duck.execute(statement)
    duck.execute("CREATE OR REPLACE VIEW clicks AS SELECT * FROM build.clicks")
    if not parquet_banking:
        return None, None
    return open_parquet_banking(duck, layout), open_parquet_contacts(duck, layout)
