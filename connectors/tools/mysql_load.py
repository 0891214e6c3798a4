"""Load the sample data set's core-banking tables and the contact center's history into MySQL/MariaDB.

    python -m connectors.tools.mysql_load [--mysql-url mysql://user:password@host:port/database] [--data-dir DIR]

Creates ``accounts``, ``transactions`` and ``contacts`` (primary keys, and indexes on customer and date) in
the database of ``C360_MYSQL_URL`` and fills them from ``banking/*.parquet`` and
``contact_center/contacts.parquet``. Loading is idempotent: rows go into new tables
that replace the old ones in one atomic RENAME, so readers never see a half-loaded table and loading twice
leaves the same rows. Rows travel as CSV chunks through LOAD DATA LOCAL INFILE, the fast path; when the
server refuses local files they go as multi-row INSERTs instead.

The desk's tables (:mod:`connectors.desk.schema`) are created when missing and never replaced: what
representatives wrote survives every reload. The generator's simulated history of offers (``desk/desk.sqlite``,
source ``simulated``) replaces the simulated rows already there in one transaction, so loading twice leaves
the same rows and a regenerated data set brings its own history.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pymysql
from tqdm import tqdm

from connectors import config
from connectors import mysql as mysql_server
from connectors.config import MySQLTarget
from connectors.desk import schema
from connectors.directory import sql
from connectors.layout import Layout
from connectors.sample.offers import OUTCOME_COLUMNS, SHOWN_COLUMNS

CHUNK_ROWS = 250_000
INSERT_ROWS = 5_000
TABLES = ("accounts", "transactions", "contacts")
HISTORY = {"desk_offer_outcomes": OUTCOME_COLUMNS, "desk_offers_shown": SHOWN_COLUMNS}  # simulated rows
# The server said no to LOAD DATA LOCAL INFILE: disabled on the server (MySQL 1148, 3948; MariaDB 4166)
# or on the client (2068).
_LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 4166}


class LoadError(Exception):
    """Loading cannot go on; the message names the setting or file to fix."""


def _parquet_files(layout: Layout) -> dict[str, Path]:
    files = {"accounts": layout.accounts, "transactions": layout.transactions, "contacts": layout.contacts}
    for path in files.values():
        if not path.is_file():
            raise LoadError(
                f"{config.describe('data_dir')}: {path} is missing; generate the sample data with "
                "`python -m connectors.sample` or point the setting at a data folder with banking/*.parquet "
                "and contact_center/contacts.parquet"
            )
    return files


def _opened(path: Path, table: str) -> pq.ParquetFile:
    """The Parquet file, after checking it has the table's columns."""
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise LoadError(f"{path} is not a readable Parquet file: {error}") from None
    missing = [c for c in sql.MYSQL_COLUMNS[table] if c not in parquet.schema_arrow.names]
    if missing:
        raise LoadError(f"{path} lacks the column(s) {', '.join(missing)} of the {table} table")
    return parquet


def _for_csv(
    batch: pa.RecordBatch, path: Path, nullable: tuple[str, ...], dates: tuple[str, ...]
) -> pa.Table:
    """Plain columns MySQL reads back exactly (dates as YYYY-MM-DD, other times as YYYY-MM-DD HH:MM:SS,
    categories as text, flags as 0 or 1), none missing but in the ``nullable`` columns."""
    arrays = []
    for name in batch.schema.names:
        column = batch.column(name)
        if column.null_count and name not in nullable:
            raise LoadError(f"{path}: column {name} has missing values; the tables allow none there")
        if pa.types.is_dictionary(column.type):
            column = column.cast(pa.string())
        elif pa.types.is_timestamp(column.type):
            column = column.cast(pa.date32()) if name in dates else column.cast(pa.timestamp("s"))
        elif pa.types.is_boolean(column.type):
            column = column.cast(pa.int8())
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=batch.schema.names)


def _load_file(cursor, name: str, table: pa.Table, folder: Path, nullable: tuple[str, ...]) -> bool:
    """Send rows as a CSV file through LOAD DATA LOCAL INFILE; False when the server refuses local files.

    A missing value is an empty field in the CSV, read into a variable and stored as NULL.
    """
    path = folder / f"{name}.csv"
    pa_csv.write_csv(table, path)
    columns = ", ".join(f"@{c}" if c in nullable else c for c in table.column_names)
    nulls = ", ".join(f"{c} = NULLIF(@{c}, '')" for c in table.column_names if c in nullable)
    statement = sql.MYSQL_LOAD_FILE.format(name=name, columns=columns, nulls=f"SET {nulls}" if nulls else "")
    try:
        cursor.execute(statement, (str(path),))
    except pymysql.err.MySQLError as error:
        if error.args[0] not in _LOCAL_INFILE_REFUSED:
            raise
        tqdm.write("The server refuses LOAD DATA LOCAL INFILE: loading with multi-row INSERTs (slower).")
        return False
    finally:
        path.unlink()
    return True


def _insert(cursor, name: str, table: pa.Table) -> None:
    placeholders = ", ".join(["%s"] * table.num_columns)
    statement = sql.MYSQL_INSERT.format(
        name=name, columns=", ".join(table.column_names), placeholders=placeholders
    )
    for batch in table.to_batches(INSERT_ROWS):
        cursor.executemany(statement, list(zip(*(c.to_pylist() for c in batch.columns), strict=True)))


def _history_rows(layout: Layout) -> dict[str, int]:
    """The simulated rows of each desk table in the data folder's desk store (none without one)."""
    if not layout.desk.is_file():
        return dict.fromkeys(HISTORY, 0)
    with contextlib.closing(_read_only(layout.desk)) as store:
        return {
            table: store.execute(
                f"SELECT COUNT(*) FROM {table} WHERE source = ?", (schema.SIMULATED_SOURCE,)
            ).fetchone()[0]
            for table in HISTORY
        }


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)


def _history_batches(layout: Layout, table: str):
    """The simulated rows of one desk table, as Arrow tables of up to CHUNK_ROWS rows."""
    columns = HISTORY[table]
    store = _read_only(layout.desk)
    try:
        rows = store.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE source = ?", (schema.SIMULATED_SOURCE,)
        )
        while batch := rows.fetchmany(CHUNK_ROWS):
            yield pa.Table.from_arrays(
                [pa.array(list(values)) for values in zip(*batch, strict=True)], names=list(columns)
            )
    finally:
        store.close()


def _load_history(
    cursor, layout: Layout, expected: dict[str, int], folder: Path, local_infile: bool, bar: tqdm
) -> dict[str, int]:
    """Create the desk's tables when missing; replace their simulated rows with the data folder's
    (``expected`` of each), in one transaction, leaving every other row as it was."""
    for statement in schema.create_statements("mysql"):
        cursor.execute(statement)
    counts = {}
    cursor.connection.begin()
    try:
        for table in HISTORY:
            bar.set_description(f"Loading {table}")
            cursor.execute(f"DELETE FROM {table} WHERE source = %s", (schema.SIMULATED_SOURCE,))
            batches = _history_batches(layout, table) if layout.desk.is_file() else ()
            for rows in batches:
                if local_infile:
                    local_infile = _load_file(cursor, table, rows, folder, ())
                if not local_infile:
                    _insert(cursor, table, rows)
                bar.update(rows.num_rows)
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE source = %s", (schema.SIMULATED_SOURCE,))
            counts[table] = cursor.fetchone()[0]
            if counts[table] != expected[table]:
                raise LoadError(
                    f"{layout.desk}: {expected[table]:,} simulated rows of {table} but {counts[table]:,} "
                    "loaded; the desk's tables are left as they were"
                )
        cursor.connection.commit()
    except BaseException:
        cursor.connection.rollback()
        raise
    return counts


def load(target: MySQLTarget, layout: Layout, progress: bool = True) -> dict[str, int]:
    """Create and fill the banking and contact tables from ``layout``, and load the simulated offer history
    into the desk's tables; return the rows loaded per table."""
    paths = _parquet_files(layout)
    files = {table: _opened(path, table) for table, path in paths.items()}
    history = _history_rows(layout)
    total = sum(parquet.metadata.num_rows for parquet in files.values()) + sum(history.values())
    try:
        connection = mysql_server.connect(target, local_infile=True, read_timeout=3600, write_timeout=3600)
    except mysql_server.ERRORS as error:
        raise LoadError(mysql_server.describe_error(error, target)) from None
    counts: dict[str, int] = {}
    bar = tqdm(total=total, unit=" rows", unit_scale=True, desc="Loading tables", disable=not progress)
    try:
        with connection.cursor() as cursor, tempfile.TemporaryDirectory(prefix="c360-mysql-load-") as folder:
            local_infile = True
            for table, parquet in files.items():
                loading = f"{table}__loading"
                cursor.execute(f"DROP TABLE IF EXISTS {loading}")
                cursor.execute(sql.MYSQL_TABLES[table].format(name=loading))
                for batch in parquet.iter_batches(CHUNK_ROWS, columns=list(sql.MYSQL_COLUMNS[table])):
                    nullable = sql.MYSQL_NULLABLE[table]
                    rows = _for_csv(batch, paths[table], nullable, sql.MYSQL_DATES[table])
                    if local_infile:
                        local_infile = _load_file(cursor, loading, rows, Path(folder), nullable)
                    if not local_infile:
                        _insert(cursor, loading, rows)
                    bar.update(rows.num_rows)
                bar.set_description(f"Indexing {table}")
                cursor.execute(sql.MYSQL_INDEXES[table].format(name=loading))
                cursor.execute(f"SELECT COUNT(*) FROM {loading}")
                counts[table] = cursor.fetchone()[0]
                if (
                    counts[table] != parquet.metadata.num_rows
                ):  # LOAD DATA LOCAL skips bad rows with a warning
                    raise LoadError(
                        f"{paths[table]}: {parquet.metadata.num_rows:,} rows but {counts[table]:,} loaded; "
                        "the tables already in the database are left as they were"
                    )
            _swap(cursor)
            counts |= _load_history(cursor, layout, history, Path(folder), local_infile, bar)
    except mysql_server.ERRORS as error:
        raise LoadError(mysql_server.describe_error(error, target)) from None
    finally:
        bar.close()
        connection.close()
    return counts


def _swap(cursor) -> None:
    """Replace every table in one atomic RENAME, then drop the old ones."""
    cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
    existing = {row[0] for row in cursor.fetchall()}
    renames = []
    for table in TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {table}__old")
        if table in existing:
            renames.append(f"{table} TO {table}__old")
        renames.append(f"{table}__loading TO {table}")
    cursor.execute("RENAME TABLE " + ", ".join(renames))
    for table in TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {table}__old")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: load the banking tables, or say in one line what to fix."""
    parser = argparse.ArgumentParser(
        prog="python -m connectors.tools.mysql_load", description=__doc__.split("\n")[0]
    )
    config.add_arguments(parser, only=["mysql_url", "data_dir"])
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        settings = config.load(namespace=args)
        target = settings.mysql
        if target is None:
            raise LoadError(f"{config.describe('mysql_url')} is not set: where should the banking tables go?")
        counts = load(target, Layout(Path(settings.data_dir)), progress=not args.quiet)
    except (config.ConfigError, LoadError) as error:
        parser.exit(2, f"error: {error}\n")
    rows = ", ".join(f"{count:,} {table}" for table, count in counts.items())
    print(f"Loaded {rows} into {target.redacted()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
