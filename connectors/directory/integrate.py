"""The embedded engine: DuckDB reads a data folder's sources where they lie and joins them into the directory.

Like Apache Drill in the original demo, DuckDB queries JSON documents without a declared schema. Profile and
survey documents and the click file are read once per load into tables (a look-up must not rescan a file of a
million lines), kept in memory unless the profiles outgrow :data:`IN_MEMORY_BYTES`; the banking and contact
Parquet tables stay files behind views, so every look-up sees their current contents.

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

from connectors import catalog, config, jsonlines
from connectors.directory import banking, sql
from connectors.directory.banking import BankingUnavailable, CoreBanking
from connectors.directory.search import fold
from connectors.layout import FileStat, Layout, SourceMissing

log = logging.getLogger(__name__)

BATCH_ROWS = 100_000
IN_MEMORY_BYTES = 1 << 30  # larger profile files are loaded into a DuckDB file instead of memory


def _fold_array(values: pa.Array) -> pa.Array:
    return pa.array([None if v is None else fold(v) for v in values.to_pylist()], pa.string())


def open_engine(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB database (in memory, or in the file ``path``) with fold() registered for SQL."""
    duck = duckdb.connect(path or ":memory:")
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
    contacts_error: str | None = None  # why the contact history is unavailable (embedded mode)
    clicks: int = 0


def file_signature(layout: Layout, parquet_banking: bool) -> dict[str, tuple[FileStat, ...]]:
    """The signatures of what the directory reads: the joined sources, and the survey files apart (a new
    survey file only reloads the survey table)."""
    parquet = (*layout.banking, layout.contacts) if parquet_banking else ()
    directory = [layout.profiles, *parquet, layout.clicks]
    return {"directory": layout.signature(directory), "surveys": layout.signature(layout.survey_files())}


def load(duck: duckdb.DuckDBPyConnection, layout: Layout, core: CoreBanking | None) -> Report:
    """Load profiles, surveys and clicks, open the banking and contact tables, and build the ``directory``
    table."""
    if not layout.profiles.is_file():
        raise SourceMissing(
            f"{config.describe('data_dir')}: no customer profiles at {layout.profiles}; generate sample data "
            "with `python -m connectors.sample` (or `make data`), or point the setting at your data folder"
        )
    report = Report()
    _load_profiles(duck, layout, report)
    load_surveys(duck, layout, report)
    if core is None:
        _open_parquet_banking(duck, layout, report)
        _open_parquet_contacts(duck, layout, report)
    else:
        _stream_banking_summary(duck, core, report)
    duck.execute(sql.DIRECTORY, {"as_of": layout.today(), "banking_known": report.banking_error is None})
    _load_clicks(duck, layout, report)
    return report


def directory_rows(duck: duckdb.DuckDBPyConnection) -> Iterator[list[tuple]]:
    """The directory table in name order, in batches of rows for the search index."""
    for batch in duck.sql(sql.DIRECTORY_ROWS).to_arrow_reader(BATCH_ROWS):
        yield list(zip(*(column.to_pylist() for column in batch.columns), strict=True))


def _load_profiles(duck: duckdb.DuckDBPyConnection, layout: Layout, report: Report) -> None:
    files = {layout.relative(layout.profiles): layout.profiles}
    report.profiles = jsonlines.load(duck, "profiles", files, "id", report.skips, keep_doc=True, unique=True)
    report.skips.log(log)


def load_surveys(duck: duckdb.DuckDBPyConnection, layout: Layout, report: Report) -> None:
    """(Re)load the survey files into the ``surveys`` table; readers see the old or the new table whole."""
    files = {layout.relative(path): path for path in layout.survey_files()}
    folder = layout.relative(layout.surveys)
    report.skips.forget(name for name in report.skips.files if name.startswith(folder))
    report.survey_files = len(files)
    report.surveys = _read_lines(
        duck, report, files, "survey_lines", "customer_id", catalog.SURVEY_FIELDS, sql.SURVEYS, "surveys"
    )


def _read_lines(
    duck: duckdb.DuckDBPyConnection,
    report: Report,
    files: dict[str, Path],
    lines: str,
    key: str,
    fields: dict,
    statement: str,
    table: str,
) -> int:
    """Read JSON-lines ``files`` into the table ``lines``, build the source's ``table`` from it with
    ``statement`` and drop it; log and record the skipped lines; return the rows of ``table``."""
    skips = jsonlines.Skips()
    jsonlines.load(duck, lines, files, key, skips, fields=fields)
    duck.execute(statement)
    duck.execute(f"DROP TABLE {lines}")
    skips.log(log)
    report.skips.files.update(skips.files)
    return duck.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def _open_parquet_banking(duck: duckdb.DuckDBPyConnection, layout: Layout, report: Report) -> None:
    missing = [p for p in layout.banking if not p.is_file()]
    for path in layout.banking:
        if path.is_file():
            duck.execute(sql.PARQUET_VIEW.format(name=path.stem, path=sql.literal(str(path))))
    if missing:
        report.banking_error = (
            f"{layout.relative(missing[0])} is missing from {config.describe('data_dir')} = {layout.root}"
        )
        duck.execute(sql.EMPTY_HOLDINGS_SUMMARY)
        return
    duck.execute(f"CREATE OR REPLACE TABLE holdings_summary AS {sql.HOLDINGS_SUMMARY}")


def _open_parquet_contacts(duck: duckdb.DuckDBPyConnection, layout: Layout, report: Report) -> None:
    """The contact center's table as a view over its Parquet file, like the banking tables."""
    if not layout.contacts.is_file():
        report.contacts_error = f"{layout.relative(layout.contacts)} is missing from {config.describe('data_dir')} = {layout.root}"
        return
    duck.execute(sql.PARQUET_VIEW.format(name="contacts", path=sql.literal(str(layout.contacts))))


def _load_clicks(duck: duckdb.DuckDBPyConnection, layout: Layout, report: Report) -> None:
    """The click file into the ``clicks`` table, by customer (the live stream keeps only the latest)."""
    files = {layout.relative(layout.clicks): layout.clicks} if layout.clicks.is_file() else {}
    report.clicks = _read_lines(
        duck, report, files, "click_lines", "user_id", catalog.CLICK_FIELDS, sql.CLICKS, "clicks"
    )


def _stream_banking_summary(duck: duckdb.DuckDBPyConnection, core: CoreBanking, report: Report) -> None:
    try:
        summary = core.holdings_summary()
    except BankingUnavailable as error:
        report.banking_error = str(error)
        summary = banking.HOLDINGS_SUMMARY.empty_table()
    duck.register("holdings_summary_stream", summary)
    duck.execute("CREATE OR REPLACE TABLE holdings_summary AS SELECT * FROM holdings_summary_stream")
    duck.unregister("holdings_summary_stream")
