"""Changes to the sources since a build, laid over it without a rebuild: new and changed customers are
searchable and shown within seconds.

A delta is a pair of files in a build's folder, written whole and named by the build's ``DELTA`` pointer (a
JSON file replaced in one rename):

- ``delta-<n>.duckdb``: the changed and new customers' profile documents, directory rows and products
  held, the survey answers of new or changed survey files, and the ids and survey files whose rows in the
  build they replace (``changed``, ``survey_files``);
- ``delta-<n>.sqlite``: a small search index of those customers, and the build's rows they replace
  (searches of the build leave them out, see :class:`connectors.directory.search.SearchIndex`).

Each delta holds every change since its build, so a reader only ever opens the build and the latest delta.

Incremental: lines appended to the profile documents (read on from where the last read ended, when a hash
of the bytes before that point is unchanged), a changed or removed profile anywhere in the file (the
documents are read again and compared with the build's by a hash of each), a new, changed or removed survey
file, changed banking tables (Parquet files or MySQL tables: the products per customer are summed again and
compared). A full rebuild: a change of the code or of the sources' shape (see
:func:`connectors.directory.artifact.shape`), or a delta grown past :data:`MAX_SHARE` of the build.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import orjson

from connectors import jsonlines
from connectors.config import Settings
from connectors.directory import integrate, search, sql
from connectors.directory.artifact import Build, Progress, sources, tail_hash
from connectors.directory.banking import CoreBanking
from connectors.files import replace_bytes
from connectors.layout import Layout

log = logging.getLogger(__name__)

DELTA = "DELTA"
MAX_SHARE = 0.05  # a delta of more customers than this share of its build: build anew instead
MIN_ROWS = 10_000  # ... unless it has fewer rows than this
CARRIED = ("documents", "removed", "product_changes")  # what a delta keeps for the next one to build on


def pointer(build: Build) -> dict | None:
    """What the build's current delta says of itself, or None when it has none."""
    try:
        return orjson.loads((build.folder / DELTA).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def paths(build: Build, found: dict) -> tuple[Path, Path]:
    """The DuckDB file and the search index of a delta."""
    return build.folder / f"{found['name']}.duckdb", build.folder / f"{found['name']}.sqlite"


def applied_sources(build: Build) -> dict:
    """The sources' signatures the build with its delta reflects."""
    found = pointer(build)
    return (found or build.meta)["sources"]


def update(settings: Settings, banking: CoreBanking | None, build: Build, progress: Progress) -> bool:
    """Bring ``build`` up to the sources with a new delta (the caller holds the lock).

    False when the change needs a full rebuild (the delta would be too large); True when the build with
    its delta reflects the sources.
    """
    now = sources(settings, banking)
    previous = pointer(build)
    applied = (previous or build.meta)["sources"]
    if now == applied:
        return True
    layout = Layout(Path(settings.data_dir).absolute())
    report = integrate.Report()
    duck = integrate.open_engine()
    try:
        duck.execute(f"ATTACH {sql.literal(str(build.duck))} AS base (READ_ONLY)")
        if previous:
            duck.execute(f"ATTACH {sql.literal(str(paths(build, previous)[0]))} AS last (READ_ONLY)")
        for table in CARRIED:
            carried = f"SELECT * FROM last.{table}" if previous else sql.DELTA_EMPTY[table]
            duck.execute(f"CREATE TABLE before_{table} AS {carried}")
        read, resumed = _documents(
            duck, layout, build, previous, now["profiles"] != applied["profiles"], report, progress
        )
        progress("delta: banking", 0)
        before = (previous or {}).get("banking_error", build.meta["report"]["banking_error"])
        _holdings(duck, layout, banking, now["banking"] != applied["banking"], report, before)
        if build.meta["report"]["banking_error"] and report.banking_error is None:
            log.info("core banking answers again: building the directory anew with every customer's products")
            return False  # every row of the build lacks its products
        progress("delta: surveys", 0)
        _surveys(duck, layout, build, report)
        for statement in sql.DELTA_CUSTOMERS:
            duck.execute(statement)
        rows = duck.execute("SELECT count(*) FROM profiles").fetchall()[0][0]
        if rows > max(MIN_ROWS, MAX_SHARE * build.customers):
            log.info("%s changed customers since the build: building the directory anew", f"{rows:,}")
            return False
        progress("delta: directory rows", 0)
        integrate.join_directory(duck, layout, report)
        number = (previous or {}).get("number", 0) + 1
        name = f"delta-{number}"
        replaced = _write(
            duck, (build.folder / f"{name}.duckdb", build.folder / f"{name}.sqlite"), build, progress
        )
    finally:
        duck.close()
    found = {
        "name": name,
        "number": number,
        "sources": now,
        "profiles_read": read,
        "customers": rows,
        "replaced": replaced,
        "banking_error": report.banking_error,
        "skipped_lines": _skips(layout, build, previous, report, resumed).as_dict(),
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    replace_bytes(build.folder / DELTA, orjson.dumps(found, option=orjson.OPT_INDENT_2))
    kept = {*paths(build, found), search.text_file(paths(build, found)[1])}
    for old in set(build.folder.glob("delta-*")) - kept:
        old.unlink(missing_ok=True)  # a process still reading it keeps its open files
    log.info(
        "directory %s: %s changed or new customers, %s rows of the build replaced",
        name,
        f"{rows:,}",
        f"{replaced:,}",
    )
    return True


def _documents(
    duck: duckdb.DuckDBPyConnection,
    layout: Layout,
    build: Build,
    previous: dict | None,
    changed: bool,
    report: integrate.Report,
    progress: Progress,
) -> tuple[dict, bool]:
    """Profiles changed or new since the build into ``documents``, the build's ids no longer in the file
    into ``removed``; returns how far the profiles were read and whether only appended lines were."""
    mark = (previous or build.meta)["profiles_read"]
    if not changed:
        duck.execute("CREATE TABLE documents AS SELECT * FROM before_documents")
        duck.execute("CREATE TABLE removed AS SELECT * FROM before_removed")
        return mark, False
    name = layout.relative(layout.profiles)
    resumed = mark["tail"] is not None and tail_hash(layout.profiles, mark["bytes"]) == mark["tail"]
    if resumed:
        progress("delta: appended profiles", 0)
        integrate.load_profiles(duck, layout, report, resume={name: (mark["bytes"], mark["lines"])})
        repeated = duck.execute(sql.DELTA_REPEATED).fetchall()
        report.skips.of(name, "id").add("duplicate_key", len(repeated), [line for (line,) in repeated])
        for statement in sql.DELTA_APPENDED:
            duck.execute(statement)
    else:
        progress("delta: profiles read again", 0)
        integrate.load_profiles(duck, layout, report)
        for statement in sql.DELTA_REREAD:
            duck.execute(statement)
    skips = report.skips.of(name, "id")
    read = {
        "bytes": skips.bytes_read,
        "lines": skips.lines_read,
        "tail": tail_hash(layout.profiles, skips.bytes_read),
    }
    return read, resumed


def _holdings(
    duck: duckdb.DuckDBPyConnection,
    layout: Layout,
    banking: CoreBanking | None,
    changed: bool,
    report: integrate.Report,
    before: str | None,
) -> None:
    """Products held now into ``current_summary``; the customers whose products differ from the build's
    into ``product_changes``. While banking cannot answer, the products known before stay."""
    if changed:
        integrate.load_holdings_summary(duck, layout, banking, report)
        if report.banking_error is None:
            for statement in sql.DELTA_HOLDINGS_CHANGED:
                duck.execute(statement)
            return
        duck.execute("DROP TABLE holdings_summary")
    elif banking is None:
        report.banking_error = integrate.open_parquet_banking(duck, layout)
    else:
        report.banking_error = before
    for statement in sql.DELTA_HOLDINGS_KEPT:
        duck.execute(statement)


def _surveys(duck: duckdb.DuckDBPyConnection, layout: Layout, build: Build, report: integrate.Report) -> None:
    """The answers of survey files new or changed since the build into ``surveys``; their names, and those
    of files since removed, into ``survey_files``."""
    built = {name: (size, mtime) for name, size, mtime in build.meta["sources"]["surveys"]}
    present = layout.survey_files()
    files = [path for path in present if tuple(layout.stat(path)[1:]) != built.get(layout.relative(path))]
    integrate.load_surveys(duck, layout, report, files)
    names = {layout.relative(path) for path in files} | (built.keys() - {layout.relative(p) for p in present})
    duck.execute("CREATE TABLE survey_files (file VARCHAR)")
    if names:
        duck.executemany("INSERT INTO survey_files VALUES (?)", [[name] for name in sorted(names)])


def _write(
    duck: duckdb.DuckDBPyConnection, files: tuple[Path, Path], build: Build, progress: Progress
) -> int:
    """The delta's two files; returns how many rows of the build it replaces."""
    tables, index = files
    for path in (tables, index, search.text_file(index)):
        path.unlink(missing_ok=True)
    duck.execute(f"ATTACH {sql.literal(str(tables))} AS out")
    for table in (*CARRIED, *sql.DELTA_TABLES):
        duck.execute(f"CREATE TABLE out.{table} AS SELECT * FROM {table}")
    duck.execute("DETACH out")
    search.SearchIndex.build(index, integrate.directory_rows(duck), progress, after=[sql.DELTA_SCHEMA])
    changed = duck.execute("SELECT id FROM changed").fetchall()
    db = sqlite3.connect(index, isolation_level=None)
    try:
        db.execute("ATTACH DATABASE ? AS base", (search.read_only(build.index),))
        db.execute("BEGIN")
        db.execute(sql.DELTA_MAIN_POSITIONS)
        db.executemany(sql.DELTA_REPLACED, changed)
        places = [
            (_anchor(db, build.customers, name_key, customer), customer)
            for customer, name_key in db.execute("SELECT id, name_key FROM directory").fetchall()
        ]
        db.executemany(sql.DELTA_ANCHOR, places)
        db.execute("COMMIT")
        replaced = db.execute("SELECT count(*) FROM replaced").fetchone()[0]
    finally:
        db.close()
    for path in (tables, index, search.text_file(index)):
        path.chmod(0o444)
    return replaced


def _key(name_key: str | None, customer: int) -> tuple:
    """A row's place in name order, as a build ranks its rows: by folded name (none last), then by id."""
    return (name_key is None, "" if name_key is None else name_key[1:-1], customer)


def _anchor(db: sqlite3.Connection, rows: int, name_key: str | None, customer: int) -> int:
    """The position of the build's last row before this one in name order (0: before every row)."""
    wanted = _key(name_key, customer)
    low, high = 0, rows
    while low < high:
        middle = (low + high + 1) // 2
        found = db.execute(sql.DELTA_PROBE, (middle,)).fetchone()
        if found is not None and _key(*found) < wanted:
            low = middle
        else:
            high = middle - 1
    return low


def _skips(
    layout: Layout, build: Build, previous: dict | None, report: integrate.Report, resumed: bool
) -> jsonlines.Skips:
    """Skipped lines as the build with this delta has them: the delta's for the files it read again, the
    earlier ones for the others, and for appended profiles the earlier ones and the new together."""
    earlier = (previous or {}).get("skipped_lines", build.meta["report"]["skipped_lines"])
    profiles = layout.relative(layout.profiles)
    merged = jsonlines.Skips.from_dict(earlier, {profiles: "id"})
    present = {layout.relative(path) for path in layout.survey_files()} | {profiles}
    merged.forget([name for name in merged.files if name not in present])
    for name, file_skips in report.skips.files.items():
        if name == profiles and resumed:
            for reason, count in file_skips.counts.items():
                merged.of(name, "id").add(reason, count, file_skips.lines[reason])
        else:
            merged.files[name] = file_skips
    return merged
