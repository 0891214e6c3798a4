"""The customer directory and the 360 record: what the dashboard asks about customers, answered with SQL.

    directory = Directory(settings)
    result = directory.search("jose", sort="tenure", descending=True)   # a page, a count, the SQL, the time
    record = directory.customer(result.rows.id[0])                       # profile, holdings, transactions…

The sources are joined by DuckDB (see :mod:`connectors.directory.integrate`); search-as-you-type runs on an
SQLite FTS5 trigram index built from the joined directory (see :mod:`connectors.directory.search`); with
``C360_MYSQL_URL`` set, banking comes from MySQL (see :mod:`connectors.directory.banking`). Everything is built into a private temporary
folder at start. Every call first checks, at most twice a second and by file size and time only, whether a
source changed; if so a new copy is built in the background while the current one keeps answering, and
replaces it when ready. Presentation code calls these methods and never opens a database itself.
"""

from __future__ import annotations

import itertools
import logging
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import orjson
import pandas as pd
import pyarrow as pa

from connectors import layout
from connectors.config import Settings
from connectors.directory import integrate, search, sql
from connectors.directory.banking import HOLDINGS, TRANSACTIONS, BankingUnavailable, CoreBanking
from connectors.directory.search import SearchIndex, normalise_query
from connectors.layout import Layout

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500
MAX_TEXT = 200  # characters: longer than any name, email or phone number
CHECK_EVERY_S = 0.5  # how often calls look at the sources' sizes and times
QUIET_S = 1.0  # a changed file is reloaded once it has not changed for this long (a writer has finished)
MYSQL_CHECK_EVERY_S = 5.0  # how often the MySQL banking tables are checked for changes, in the background
FIELDS = tuple(sql.KEY_COLUMNS)
SORTS = tuple(sql.SORTS)
_SCORES_COLUMNS = ("customer_id", "churn_risk", "persona", "persona_name")


class UnknownCustomer(LookupError):
    """No customer has this id."""


@dataclass
class SearchResult:
    """One page of the directory: the rows, how many match in all, the SQL that ran and how long it took."""

    rows: pd.DataFrame
    total: int
    exact: bool
    total_label: str
    sql: str
    elapsed_ms: float


@dataclass
class CustomerRecord:
    """Everything known about one customer, from every source, for the views."""

    profile: dict
    holdings: pd.DataFrame
    transactions: pd.DataFrame
    surveys: pd.DataFrame
    photo: Path | None
    banking_error: str | None
    sql: str
    elapsed_ms: float
    left_on: date | None = None  # a former customer's last day (catalog.left_on_sql); None while active


def _show(title: str, statement: str, params: dict | tuple) -> str:
    """A statement as the "behind the scenes" panel shows it: what it is for, the SQL, the values bound."""
    if isinstance(params, dict):
        names = dict.fromkeys(re.findall(r"[:$](\w+)", statement))
        bound = ", ".join(f":{name} = {params[name]!r}" for name in names if name in params)
    else:
        bound = ", ".join(repr(p) for p in params)
    return (
        f"-- {title}\n{statement.strip()}\n-- bound: {bound}" if bound else f"-- {title}\n{statement.strip()}"
    )


class _Generation:
    """One complete load of the sources (a DuckDB database and a search index), shared by concurrent calls."""

    def __init__(self, signature, banking_signature, duck, index, report, seconds):
        self.signature, self.banking_signature = signature, banking_signature
        self.duck, self.index, self.report = duck, index, report
        self.built_at = datetime.now().astimezone()
        self.build_seconds = seconds
        self.scores_version = 0
        self._users = 0
        self._retired = False
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[_Generation]:
        with self._lock:
            self._users += 1
        try:
            yield self
        finally:
            with self._lock:
                self._users -= 1
                done = self._retired and self._users == 0
            if done:
                self._close()

    def retire(self) -> None:
        """Close once the last call using this generation returns."""
        with self._lock:
            self._retired = True
            done = self._users == 0
        if done:
            self._close()

    def _close(self) -> None:
        self.index.close()
        self.duck.close()
        for path in self.index.path.parent.glob(f"{self.index.path.stem}*"):
            path.unlink(missing_ok=True)


class Directory:
    """Search and 360 record over the sources of ``settings`` (see the module's docstring)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.layout = Layout(Path(settings.data_dir))
        target = settings.mysql
        self.banking = CoreBanking(target) if target is not None else None
        self._folder = Path(tempfile.mkdtemp(prefix="c360-directory-"))
        self._open: list[_Generation] = []  # closed and deleted even if close() is never called
        self._cleanup = weakref.finalize(self, _remove, self._folder, self._open)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._scores: pd.DataFrame | None = None
        self._scores_lock = threading.Lock()
        self._scores_version = 0
        self._refresher: threading.Thread | None = None
        self._refresh_error: str | None = None
        self._failed_signature: dict | None = (
            None  # a load that failed is not retried until files change again
        )
        self._checked_at = time.monotonic()
        self._banking_checked_at = time.monotonic()
        try:
            self._generation = self._build(self._signature(), self._banking_signature())
        except BaseException:
            self.close()
            raise

    # ── what the dashboard calls ────────────────────────────────────────────────────────────────────

    def search(
        self,
        text: str = "",
        field: str = "any",
        sort: str = "name",
        descending: bool = False,
        page: int = 1,
        page_size: int = 25,
        persona: int | None = None,
    ) -> SearchResult:
        """One page of customers whose name, phone or email contains ``text`` (see README "Directory")."""
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise ValueError(f"search text must be a string of up to {MAX_TEXT} characters")
        if field not in FIELDS:
            raise ValueError(f"field must be one of {', '.join(FIELDS)}; got {field!r}")
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}; got {sort!r}")
        if not isinstance(page, int) or page < 1:
            raise ValueError(f"page must be a whole number from 1, got {page!r}")
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
        if persona is not None and not isinstance(persona, int):
            raise ValueError(f"persona must be a whole number, got {persona!r}")
        self._watch()
        folded = normalise_query(text)
        started = time.perf_counter()
        with self._use() as generation:
            found = generation.index.search(
                folded, field, sort, bool(descending), (page - 1) * page_size, page_size, persona
            )
        elapsed_ms = (time.perf_counter() - started) * 1000
        label = f"{found.total:,}" if found.exact else f"{search.CAP:,}+"
        sql = "\n\n".join(
            _show(f"SQLite step {n}", statement, params)
            for n, (statement, params) in enumerate(found.statements, 1)
        )
        return SearchResult(found.rows, found.total, found.exact, label, sql, elapsed_ms)

    def customer(self, customer_id: int) -> CustomerRecord:
        """The 360 record: profile document, holdings, transactions, survey answers and photo."""
        try:
            customer_id = int(customer_id)
        except (TypeError, ValueError):
            raise UnknownCustomer(f"no customer with id {customer_id!r}") from None
        self._watch()
        started = time.perf_counter()
        shown: list[str] = []
        with self._use() as generation:
            cursor = generation.duck.cursor()
            try:
                rows = cursor.execute(sql.CUSTOMER_PROFILE, [customer_id]).fetchall()
                shown.append(
                    _show(
                        "DuckDB: profile document (crm/profiles.jsonl)",
                        sql.CUSTOMER_PROFILE,
                        (customer_id,),
                    )
                )
                if not rows:
                    raise UnknownCustomer(f"no customer with id {customer_id}")
                profile = orjson.loads(rows[0][0])
                surveys = cursor.sql(sql.CUSTOMER_SURVEYS, params=[customer_id]).df()
                surveys["needs"] = surveys["needs"].map(lambda needs: [] if needs is None else list(needs))
                shown.append(
                    _show("DuckDB: survey answers (surveys/*.json)", sql.CUSTOMER_SURVEYS, (customer_id,))
                )
                holdings, transactions, banking_error = self._banking(cursor, generation, customer_id, shown)
                cursor.register("record_holdings", holdings)
                left_on = cursor.execute(sql.RECORD_LEFT_ON).fetchall()[0][0]
                cursor.unregister("record_holdings")
            finally:
                cursor.close()
        photo = self.layout.photos / Path(str(profile.get("photo") or "")).name
        return CustomerRecord(
            profile=profile,
            holdings=holdings,
            transactions=transactions,
            surveys=surveys,
            photo=photo if photo.is_file() else None,
            banking_error=banking_error,
            sql="\n\n".join(shown),
            elapsed_ms=(time.perf_counter() - started) * 1000,
            left_on=left_on,
        )

    def attach_scores(self, scores: pd.DataFrame) -> None:
        """Model scores (customer_id, churn_risk 0..1, persona, persona_name): sort by risk, filter by persona."""
        missing = [c for c in _SCORES_COLUMNS if c not in scores.columns]
        if missing:
            raise ValueError(f"scores lack the column(s) {', '.join(missing)}")
        risk = pd.to_numeric(scores["churn_risk"], errors="coerce")
        if risk.isna().any() or not risk.between(0, 1).all():
            raise ValueError("churn_risk must be a probability from 0 to 1 for every customer")
        with self._lock:
            self._scores = scores[list(_SCORES_COLUMNS)].copy()
            self._scores_version += 1
            generation = self._generation
        self._apply_scores(generation)

    def web_users(self) -> pd.DataFrame:
        """Website user id -> customer id and name: how the click stream knows who is browsing."""
        return self._frame_of(sql.WEB_USERS)

    def map_points(self) -> pd.DataFrame:
        """Every placeable customer, in id order: id, latitude, longitude and tenure_years (float32), for the
        customer map; one scan of the profile documents."""
        return self._frame_of(sql.MAP_POINTS)

    def _frame_of(self, statement: str) -> pd.DataFrame:
        """A bulk DuckDB statement's rows over the current load of the sources."""
        self._watch()
        with self._use() as generation:
            cursor = generation.duck.cursor()
            try:
                return cursor.sql(statement).df()
            finally:
                cursor.close()

    def health(self) -> dict:
        """Counts, sources, banking status, skipped lines and freshness, for the status panel.

        ``malformed_lines`` counts the skipped lines per file; ``skipped_lines`` has, per file, the count
        of each reason with its text and first line numbers (see :class:`connectors.jsonlines.Skips`).
        """
        self._watch()
        generation = self._generation
        report = generation.report
        banking_source = self.banking.target.redacted() if self.banking else "Parquet files in banking/"
        return {
            "customers": generation.index.customers,
            "sources": {
                "profiles": f"{self.layout.profiles}: {report.profiles:,} documents",
                "surveys": f"{self.layout.surveys}: {report.survey_files} files, {report.surveys:,} answers",
                "banking": banking_source,
            },
            "banking": self._banking_status(generation),
            "malformed_lines": report.skips.counts(),
            "skipped_lines": report.skips.as_dict(),
            "refreshed_at": generation.built_at.isoformat(timespec="seconds"),
            "build_seconds": round(generation.build_seconds, 2),
            "refreshing": self._refresher is not None and self._refresher.is_alive(),
            "refresh_error": self._refresh_error,
            "scores": self._scores is not None,
        }

    def close(self) -> None:
        """Close the databases and delete the temporary folder."""
        if self.banking is not None:
            self.banking.close()
        self._cleanup()

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ── banking ───────────────────────────────────────────────────────────────────────────────────────

    def _banking(
        self, cursor: duckdb.DuckDBPyConnection, generation: _Generation, customer_id: int, shown: list[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
        """Holdings and transactions from MySQL or the Parquet files, or why core banking cannot answer."""
        holdings_sql = sql.CUSTOMER_HOLDINGS
        transactions_sql = sql.CUSTOMER_TRANSACTIONS
        try:
            if self.banking is None:
                if generation.report.banking_error:
                    raise BankingUnavailable(generation.report.banking_error)
                holdings = cursor.sql(holdings_sql.format(param="?"), params=[customer_id]).to_arrow_table()
                transactions = cursor.sql(
                    transactions_sql.format(param="?"), params=[customer_id]
                ).to_arrow_table()
                engine, param = "DuckDB (banking/*.parquet)", "?"
            else:
                holdings = self.banking.holdings(customer_id)
                transactions = self.banking.transactions(customer_id)
                engine, param = f"MySQL {self.banking.target.redacted()}", "%s"
            error = None
        except (BankingUnavailable, duckdb.Error) as failure:
            holdings, transactions = HOLDINGS.empty_table(), TRANSACTIONS.empty_table()
            engine, param = "core banking", "?"
            error = f"core banking unavailable: {failure}"
        shown.append(_show(f"{engine}: holdings", holdings_sql.format(param=param), (customer_id,)))
        shown.append(_show(f"{engine}: transactions", transactions_sql.format(param=param), (customer_id,)))
        return _frame(holdings, HOLDINGS), _frame(transactions, TRANSACTIONS), error

    def _banking_status(self, generation: _Generation) -> str:
        if self.banking is not None:
            return self.banking.status
        error = generation.report.banking_error
        return f"core banking unavailable: {error}" if error else "embedded"

    def _banking_signature(self) -> tuple | None:
        if self.banking is None:
            return None
        try:
            return self.banking.signature()
        except BankingUnavailable:
            return None

    # ── loading and refreshing ────────────────────────────────────────────────────────────────────────

    def _signature(self) -> dict[str, tuple]:
        return integrate.file_signature(self.layout, parquet_banking=self.banking is None)

    def _build(self, signature: dict, banking_signature: tuple | None) -> _Generation:
        started = time.perf_counter()
        name = self._folder / f"generation-{next(self._numbers)}"
        big = (
            self.layout.profiles.is_file() and self.layout.profiles.stat().st_size > integrate.IN_MEMORY_BYTES
        )
        duck = integrate.open_engine(name.with_suffix(".duckdb") if big else None)
        try:
            report = integrate.load(duck, self.layout, self.banking)
            loaded = time.perf_counter()
            index = SearchIndex.build(name.with_suffix(".sqlite"), integrate.directory_rows(duck))
        except BaseException:
            duck.close()
            raise
        log.info(
            "sources read and joined in %.1f s, search index built in %.1f s",
            loaded - started,
            time.perf_counter() - loaded,
        )
        generation = _Generation(
            signature, banking_signature, duck, index, report, time.perf_counter() - started
        )
        self._open.append(generation)
        self._apply_scores(generation)
        log.info(
            "directory of %s customers loaded in %.1f s", f"{index.customers:,}", generation.build_seconds
        )
        return generation

    def _apply_scores(self, generation: _Generation) -> None:
        """Bring a generation's scores up to date (one writer at a time; the version avoids repeating work)."""
        with self._scores_lock:
            with self._lock:
                scores, version = self._scores, self._scores_version
            if generation.scores_version != version:
                with generation.use():
                    generation.index.attach_scores(scores)
                generation.scores_version = version

    @contextmanager
    def _use(self) -> Iterator[_Generation]:
        with self._lock:
            generation = self._generation
        with generation.use():
            yield generation

    def _watch(self) -> None:
        """Start a background refresh when a source changed (cheap: a few stat calls, twice a second)."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at < CHECK_EVERY_S or (self._refresher and self._refresher.is_alive()):
                return
            self._checked_at = now
            check_banking = self.banking is not None and now - self._banking_checked_at >= MYSQL_CHECK_EVERY_S
            signature = self._signature()
            changed = signature not in (self._generation.signature, self._failed_signature)
            if (
                changed
                and time.time_ns() - layout.newest_change(itertools.chain(*signature.values()))
                < QUIET_S * 1e9
            ):
                return  # still being written: look again on a later call
            if not (changed or check_banking):
                return
            if check_banking:
                self._banking_checked_at = now
            self._refresher = threading.Thread(
                target=self._refresh, args=(signature, check_banking), name="directory-refresh", daemon=True
            )
            self._refresher.start()

    def _refresh(self, signature: dict, check_banking: bool) -> None:
        current = self._generation
        try:
            banking_signature = current.banking_signature
            if check_banking:
                # While MySQL is down the current load stays: its product counts beat none at all.
                banking_signature = self._banking_signature() or banking_signature
            if (banking_signature, signature["directory"]) != (
                current.banking_signature,
                current.signature["directory"],
            ):
                generation = self._build(signature, banking_signature)
                with self._lock:
                    old, self._generation = self._generation, generation
                self._apply_scores(generation)  # scores attached while it was being built
                self._open.remove(old)
                old.retire()
            elif signature["surveys"] != current.signature["surveys"]:
                self._reload_surveys(current, signature)
            self._refresh_error = self._failed_signature = None
        except Exception as error:  # keep answering from the current load; say why it could not refresh
            log.exception("refreshing the directory failed; still serving the previous load")
            self._refresh_error = f"refresh failed: {error}"
            self._failed_signature = signature

    def _reload_surveys(self, generation: _Generation, signature: dict) -> None:
        """Surveys are not in the search index: reloading their table is enough."""
        with generation.use():
            cursor = generation.duck.cursor()
            try:
                integrate.load_surveys(cursor, self.layout, generation.report)
            finally:
                cursor.close()
            generation.signature = signature
            generation.built_at = datetime.now().astimezone()


def _remove(folder: Path, generations: list[_Generation]) -> None:
    for generation in generations:
        generation.retire()
    shutil.rmtree(folder, ignore_errors=True)


def _frame(table: pa.Table, schema: pa.Schema) -> pd.DataFrame:
    """The same columns and types whichever engine answered (dates as datetime64, money as float)."""
    columns = [table.column(name).cast(schema.field(name).type, safe=False) for name in schema.names]
    return pa.Table.from_arrays(columns, schema=schema).to_pandas(date_as_object=False)
