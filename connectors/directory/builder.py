"""Building the directory: one process at a time reads and joins the sources into a new build and publishes it.

What a build holds and where it lives: :mod:`connectors.directory.artifact`; the command that builds one:
``python -m connectors.directory.build`` (:mod:`connectors.directory.build`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import orjson

from connectors.config import Settings
from connectors.directory import integrate, search, sql
from connectors.directory.artifact import (
    DUCK,
    FORMAT,
    INDEX,
    META,
    Build,
    Lock,
    Progress,
    current,
    digest,
    publish,
    shape,
    sources,
    tail_hash,
    usable,
)
from connectors.directory.banking import CoreBanking
from connectors.layout import Layout

log = logging.getLogger(__name__)

STAGING = ".building-"


def ensure(settings: Settings, banking: CoreBanking | None = None, progress: Progress | None = None) -> Build:
    """The current build for these settings, building one when there is none of this code and shape.

    Only one process builds: the others wait for it and then use its build.
    """
    index_folder = settings.index_folder
    found = current(index_folder)
    if usable(found, settings):
        return found
    with Lock(index_folder).held():
        found = current(index_folder)  # perhaps another process built it while this one waited
        if usable(found, settings):
            return found
        return build(settings, banking, progress)


def build(settings: Settings, banking: CoreBanking | None = None, progress: Progress | None = None) -> Build:
    """Build the directory from the sources and make it current (the caller holds the lock)."""
    progress = progress or log_progress()
    layout = Layout(Path(settings.data_dir).absolute())
    integrate.require_profiles(layout)
    index_folder = settings.index_folder
    index_folder.mkdir(parents=True, exist_ok=True)
    _remove_staging(index_folder)
    started = time.perf_counter()
    kind, signature = shape(settings), sources(settings, banking)
    name = f"{digest(kind)}-{digest(signature)}"
    staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=index_folder))
    try:
        report = _write(staging, layout, banking, progress)
        meta = {
            "format": FORMAT,
            "family": digest(kind),
            "shape": kind,
            "sources": signature,
            "profiles_read": _read_mark(layout, report),
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 1),
            "customers": report.profiles,
            "report": report.as_dict(),
        }
        (staging / META).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
        for path in staging.iterdir():
            path.chmod(0o444)
        target = index_folder / name
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish(index_folder, target)
    log.info(
        "directory of %s customers built in %.1f s into %s",
        f"{report.profiles:,}",
        meta["build_seconds"],
        target,
    )
    return Build(target, meta)


def _write(
    staging: Path, layout: Layout, banking: CoreBanking | None, progress: Progress
) -> integrate.Report:
    """The DuckDB file and the search index of a build, into ``staging``."""
    report = integrate.Report()
    duck = integrate.open_engine()
    try:
        duck.execute(f"ATTACH {sql.literal(str(staging / DUCK))} AS build")
        duck.execute("USE build")
        progress("reading profiles", 0)
        integrate.load_profiles(duck, layout, report)
        progress("reading surveys", 0)
        integrate.load_surveys(duck, layout, report, layout.survey_files())
        progress("banking summary", 0)
        integrate.load_holdings_summary(duck, layout, banking, report)
        progress("joining the directory", 0)
        integrate.join_directory(duck, layout, report)
        for view in ("accounts", "transactions"):
            duck.execute(f"DROP VIEW IF EXISTS {view}")
        with ThreadPoolExecutor(1, thread_name_prefix="build-clicks") as beside:
            clicks = beside.submit(_load_clicks, duck.cursor(), layout, report)
            rows = search.SearchIndex.build(staging / INDEX, integrate.directory_rows(duck), progress)
            progress("reading clicks", 0)
            clicks.result()
        progress("rank arrays", 0)
        orders = {
            column: (
                duck.execute(statement).fetchnumpy()["position"],
                duck.execute(sql.RANK_VALUED.format(column=column)).fetchall()[0][0],
            )
            for column, statement in sql.RANK_ORDERS.items()
        }
        search.write_ranks(staging / INDEX, orders, rows)
        progress("finished", 0)
        duck.execute("USE memory")
        duck.execute("DETACH build")
    finally:
        duck.close()
    report.skips.log(log)
    return report


def _load_clicks(cursor: duckdb.DuckDBPyConnection, layout: Layout, report: integrate.Report) -> None:
    """The click file into the build, on a thread of its own beside the search index: DuckDB reads it on
    every core it is given while SQLite writes the index outside Python's lock, so the two overlap."""
    try:
        cursor.execute("USE build")
        integrate.load_clicks(cursor, layout, report)
    finally:
        cursor.close()


def _read_mark(layout: Layout, report: integrate.Report) -> dict:
    """How far the profiles were read, and a hash of their last bytes: lines appended since are found by
    reading on from there (connectors.directory.delta)."""
    skips = report.skips.of(layout.relative(layout.profiles), "id")
    return {
        "bytes": skips.bytes_read,
        "lines": skips.lines_read,
        "tail": tail_hash(layout.profiles, skips.bytes_read),
    }


def _remove_staging(index_folder: Path) -> None:
    """Staging folders of builders that died (the lock is held: nobody else is building)."""
    for path in index_folder.glob(f"{STAGING}*"):
        shutil.rmtree(path, ignore_errors=True)


def log_progress() -> Progress:
    """Progress for a server's log: each step once, and how long it took."""
    state = {"step": None, "at": time.perf_counter(), "rows": 0}

    def report(step: str, rows: int) -> None:
        if step != state["step"]:
            if state["step"] is not None:
                log.info(
                    "building the directory: %s done in %.1f s%s",
                    state["step"],
                    time.perf_counter() - state["at"],
                    f" ({state['rows']:,} rows)" if state["rows"] else "",
                )
            state.update(step=step, at=time.perf_counter(), rows=0)
        state["rows"] += rows

    return report
