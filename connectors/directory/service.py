"""The customer directory and the 360 record: what the dashboard asks about customers, answered with SQL.

    directory = Directory(settings)
    result = directory.search("jose", sort="tenure", descending=True)   # a page, a count, the SQL, the time
    record = directory.customer(result.rows.id[0])                       # profile, holdings, transactions…

The sources are joined by DuckDB (see :mod:`connectors.directory.integrate`) into a build that every process
shares read-only (see :mod:`connectors.directory.build`): search-as-you-type runs on its SQLite FTS5 trigram
index (see :mod:`connectors.directory.search`); with ``C360_MYSQL_URL`` set, banking comes from MySQL (see
:mod:`connectors.directory.banking`). A process opens the current build, or builds one when none of this
code and shape exists (one process builds, the others wait for it). Every call first checks, at most twice
a second and by file size and time only, whether a source changed; if so one process brings the build up to
date in the background (a delta, see :mod:`connectors.directory.delta`, or a new build) while the current one
keeps answering, and every process opens the result when it is published. Presentation code calls these
methods and never opens a database itself.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from connectors import catalog, layout
from connectors.config import Settings
from connectors.directory import artifact, builder, delta, integrate, search, sql
from connectors.directory.artifact import Build, Lock
from connectors.directory.banking import CONTACTS, HOLDINGS, TRANSACTIONS, BankingUnavailable, CoreBanking
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
CLICKS = pa.schema([("time", pa.timestamp("us")), ("product", pa.string()), ("url", pa.string())])


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
    contacts: pd.DataFrame = field(default_factory=lambda: _frame(CONTACTS.empty_table(), CONTACTS))
    contacts_error: str | None = None  # why the contact history is missing, as banking_error says for banking
    clicks: pd.DataFrame = field(default_factory=lambda: _frame(CLICKS.empty_table(), CLICKS))  # last 30 days
    # Equal versions, equal content, so sessions may share what is computed from it; set by the directory
    # only, so a copy changed by hand (dataclasses.replace) has none and shares nothing.
    version: str = field(default="", init=False)


def record_version(
    generation: str, customer_id: int, holdings, transactions, contacts, banking: CoreBanking | None
) -> str:
    """Names a 360 record's content: the build and delta it was read from, and in MySQL mode (where a row
    may change at any moment) a digest of what MySQL answered."""
    if banking is None:
        return f"{generation}/{customer_id}"
    digest = hashlib.sha256()
    for table in (holdings, transactions, contacts):
        digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return f"{generation}/{customer_id}/{digest.hexdigest()[:16]}"


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
    """One build (with its delta) opened for reading, shared by concurrent calls."""

    def __init__(self, made: Build, found: dict | None, duck, index: SearchIndex, errors: tuple):
        self.build, self.delta = made, found
        self.duck, self.index = duck, index
        self.banking_error, self.contacts_error = errors  # why the Parquet tables cannot answer
        self.sources = (found or made.meta)["sources"]
        self.pointers = _pointers(made)
        self.name = f"{made.folder}/{(found or {}).get('name', 'build')}"  # names what it holds
        self._users = 0
        self._retired = False
        self._lock = threading.Lock()

    @property
    def skipped_lines(self) -> dict:
        return (self.delta or {}).get("skipped_lines", self.build.meta["report"]["skipped_lines"])

    def enter(self) -> None:
        """A call starts using it (while the directory's lock makes it current: it cannot close meanwhile)."""
        with self._lock:
            self._users += 1

    def leave(self) -> None:
        """The call is done; the last one out closes a retired generation."""
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


def _pointers(made: Build) -> tuple:
    """What says a newer build or delta is out: the index folder's CURRENT and the build's DELTA."""
    stat = layout.Layout(made.folder).stat
    return (stat(made.folder.parent / artifact.CURRENT), stat(made.folder / delta.DELTA))


class Directory:
    """Search and 360 record over the sources of ``settings`` (see the module's docstring)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.layout = Layout(Path(settings.data_dir).absolute())
        target = settings.mysql
        self.banking = CoreBanking(target) if target is not None else None
        self._open: list[_Generation] = []  # closed even if close() is never called
        self._cleanup = weakref.finalize(self, _retire_all, self._open)
        self._lock = threading.Lock()
        self._scores: tuple[str, Callable[[], pd.DataFrame]] | None = None
        self._refresher: threading.Thread | None = None
        self._refresh_error: str | None = None
        self._failed: tuple | None = None  # a refresh that failed is not retried until something changes
        self._checked_at = time.monotonic()
        self._mysql: list | str | None = None
        self._mysql_checked_at = -MYSQL_CHECK_EVERY_S
        try:
            integrate.require_profiles(self.layout)
            self._generation = self._opened(builder.ensure(settings, self.banking))
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
        """The 360 record: profile document, holdings, transactions, survey answers, contact history, the
        last 30 days of clicks (of the click file as of the build) and photo."""
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
                surveys["needs"] = surveys["needs"].map(
                    lambda needs: list(needs) if isinstance(needs, list | tuple | np.ndarray) else []
                )
                shown.append(
                    _show("DuckDB: survey answers (surveys/*.json)", sql.CUSTOMER_SURVEYS, (customer_id,))
                )
                holdings, transactions, banking_error = self._banking(cursor, generation, customer_id, shown)
                contacts, contacts_error = self._contacts(cursor, generation, customer_id, shown)
                clicks = cursor.sql(sql.CUSTOMER_CLICKS, params=[customer_id]).to_arrow_table()
                shown.append(
                    _show("DuckDB: clicks (clicks/clickstream.jsonl)", sql.CUSTOMER_CLICKS, (customer_id,))
                )
                cursor.register("record_holdings", holdings)
                left_on = cursor.execute(sql.RECORD_LEFT_ON).fetchall()[0][0]
                cursor.unregister("record_holdings")
            finally:
                cursor.close()
        photo = self.layout.photos / Path(str(profile.get("photo") or "")).name
        record = CustomerRecord(
            profile=profile,
            holdings=holdings,
            transactions=transactions,
            surveys=surveys,
            photo=photo if photo.is_file() else None,
            banking_error=banking_error,
            sql="\n\n".join(shown),
            elapsed_ms=(time.perf_counter() - started) * 1000,
            left_on=left_on,
            contacts=contacts,
            contacts_error=contacts_error,
            clicks=_frame(clicks, CLICKS),
        )
        record.version = record_version(
            generation.name, customer_id, holdings, transactions, contacts, self.banking
        )
        return record

    def attach_scores(
        self, scores: pd.DataFrame | Callable[[], pd.DataFrame], version: str | None = None
    ) -> None:
        """Model scores (customer_id, churn_risk 0..1, persona, persona_name): sort by risk, filter by persona.

        They are written once per build and model ``version`` into a file beside the build, by the first
        process that needs them (under the build's lock), and then opened read-only by every process;
        ``scores`` may be a function returning the frame, called only then. Without a version, the frame's
        content names it.
        """
        if version is None:
            frame = _checked_scores(scores() if callable(scores) else scores)
            version = hashlib.sha256(
                pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
            ).hexdigest()[:12]

            def source() -> pd.DataFrame:
                return frame

        else:

            def source() -> pd.DataFrame:
                return _checked_scores(scores() if callable(scores) else scores)

        with self._lock:
            self._scores = (version, source)
            generation = self._generation
        generation.index.attach_scores(self._scores_file(generation.build))

    def opted_out(self, customer_ids: Sequence[int]) -> set[int]:
        """Which of these customers refused marketing (``catalog.opted_out``): the kiosk never shows them."""
        ids = [int(customer_id) for customer_id in customer_ids]
        if not ids:
            return set()
        self._watch()
        with self._use() as generation:
            cursor = generation.duck.cursor()
            try:
                rows = cursor.execute(sql.PROFILE_DOCUMENTS, [ids]).fetchall()
            finally:
                cursor.close()
        return {int(customer_id) for customer_id, doc in rows if catalog.opted_out(orjson.loads(doc))}

    def web_users(self) -> pd.DataFrame:
        """Website user id -> customer id: how the click stream knows who is browsing (ids only: the
        names cost 200 MB of Python strings in every process at 1M customers, and nothing read them)."""
        return self._frame_of(sql.WEB_USERS)

    def map_points(self) -> pd.DataFrame:
        """Every placeable customer, in id order: id, latitude, longitude and tenure_years (float32), for the
        customer map; columns of the built directory, so every process reads them cheaply."""
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
        made, found = generation.build, generation.delta
        report = made.meta["report"]
        banking_source = self.banking.target.redacted() if self.banking else "Parquet files in banking/"
        skipped = generation.skipped_lines
        return {
            "customers": generation.index.visible,
            "sources": {
                "profiles": f"{self.layout.profiles}: {generation.index.visible:,} customers",
                "surveys": f"{self.layout.surveys}: {len(generation.sources['surveys'])} files, "
                f"{report['surveys']:,} answers when built",
                "banking": banking_source,
            },
            "banking": self._banking_status(generation),
            "contacts": self._contacts_status(generation),
            "malformed_lines": {name: detail["skipped"] for name, detail in skipped.items()},
            "skipped_lines": skipped,
            "build": made.id,
            "built_at": made.meta["built_at"],
            "build_seconds": made.meta["build_seconds"],
            "delta": None
            if found is None
            else {k: found[k] for k in ("name", "customers", "replaced", "written_at")},
            "refreshed_at": (found or {}).get("written_at", made.meta["built_at"]),
            "refreshing": self._refresher is not None and self._refresher.is_alive(),
            "refresh_error": self._refresh_error,
            "scores": self._scores is not None,
        }

    def close(self) -> None:
        """Close the databases (the build stays for the next process).

        A refresh under way is waited for first: DuckDB aborts the process (``terminate called``) when a
        connection a thread is using is closed, or when the interpreter exits with that thread inside it.
        """
        if self._refresher is not None:
            self._refresher.join()
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
                if generation.banking_error:
                    raise BankingUnavailable(generation.banking_error)
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

    def _contacts(
        self, cursor: duckdb.DuckDBPyConnection, generation: _Generation, customer_id: int, shown: list[str]
    ) -> tuple[pd.DataFrame, str | None]:
        """The contact center's history from MySQL or the Parquet file, or why it cannot answer."""
        statement = sql.CUSTOMER_CONTACTS
        try:
            if self.banking is None:
                if generation.contacts_error:
                    raise BankingUnavailable(generation.contacts_error)
                contacts = cursor.sql(statement.format(param="?"), params=[customer_id]).to_arrow_table()
                engine, param = "DuckDB (contact_center/contacts.parquet)", "?"
            else:
                contacts = self.banking.contacts(customer_id)
                engine, param = f"MySQL {self.banking.target.redacted()}", "%s"
            error = None
        except (BankingUnavailable, duckdb.Error) as failure:
            contacts, engine, param = CONTACTS.empty_table(), "contact center", "?"
            error = f"contact history unavailable: {failure}"
        shown.append(_show(f"{engine}: contacts", statement.format(param=param), (customer_id,)))
        return _frame(contacts, CONTACTS), error

    def _contacts_status(self, generation: _Generation) -> str:
        if self.banking is not None:
            return "mysql"
        error = generation.contacts_error
        return f"contact history unavailable: {error}" if error else "embedded"

    def _banking_status(self, generation: _Generation) -> str:
        if self.banking is not None:
            return self.banking.status
        error = generation.banking_error
        return f"core banking unavailable: {error}" if error else "embedded"

    # ── opening and refreshing ────────────────────────────────────────────────────────────────────────

    def _opened(self, made: Build, attempts: int = 3) -> _Generation:
        """Open a build with its current delta; a file removed meanwhile (a newer one was published) means
        looking again."""
        for attempt in range(attempts):
            found = delta.pointer(made)
            files = delta.paths(made, found) if found else None
            duck = integrate.open_engine()
            try:
                errors = integrate.attach_build(
                    duck, made.duck, files[0] if files else None, self.layout, self.banking is None
                )
                index = SearchIndex(made.index, made.customers)
                if files:
                    index.attach_delta(
                        SearchIndex(files[1], found["customers"], small=True), found["replaced"]
                    )
                if self._scores is not None:
                    index.attach_scores(self._scores_file(made))
            except (duckdb.Error, OSError, sqlite3.Error):
                duck.close()
                newer = artifact.current(self.settings.index_folder)
                if attempt == attempts - 1 or newer is None:
                    raise
                made = newer
                continue
            generation = _Generation(made, found, duck, index, errors)
            self._open.append(generation)
            if self._mysql is None and self.banking is not None:
                self._mysql = generation.sources["banking"]
            return generation
        raise AssertionError("unreachable")

    def _scores_file(self, made: Build) -> Path:
        """The build's file of the attached scores, written first when no process has yet."""
        version, source = self._scores
        path = made.scores_file(version)
        if not path.exists():
            with Lock(self.settings.index_folder).held():
                if not path.exists():
                    started = time.perf_counter()
                    search.write_scores(made.index, source(), path)
                    log.info(
                        "model scores %s written beside build %s in %.1f s",
                        version,
                        made.id,
                        time.perf_counter() - started,
                    )
        return path

    @contextmanager
    def _use(self) -> Iterator[_Generation]:
        with self._lock:  # a refresh swaps generations under this lock, so this one cannot be closed yet
            generation = self._generation
            generation.enter()
        try:
            yield generation
        finally:
            generation.leave()

    def _watch(self) -> None:
        """Start a background refresh when a source changed or a newer build or delta was published (cheap:
        a few stat calls, at most twice a second)."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at < CHECK_EVERY_S or (self._refresher and self._refresher.is_alive()):
                return
            self._checked_at = now
            generation = self._generation
            check_mysql = self.banking is not None and now - self._mysql_checked_at >= MYSQL_CHECK_EVERY_S
            signature = artifact.sources(self.settings, self.banking, mysql=self._mysql)
            pointers = _pointers(generation.build)
            if (signature, pointers) == self._failed and not check_mysql:
                return
            changed = signature != generation.sources
            files = [entry for part in ("profiles", "surveys") for entry in signature[part]]
            if changed and time.time_ns() - layout.newest_change(files) < QUIET_S * 1e9:
                changed = False  # still being written: look again on a later call
            published = pointers != generation.pointers
            if not (changed or published or check_mysql):
                return
            if check_mysql:
                self._mysql_checked_at = now
            self._refresher = threading.Thread(
                target=self._refresh, args=(check_mysql,), name="directory-refresh", daemon=True
            )
            self._refresher.start()

    def _refresh(self, check_mysql: bool) -> None:
        """Bring the build up to date when no other process is doing it, then open what is current."""
        signature = None
        try:
            if check_mysql:
                self._mysql = artifact.mysql_signature(self.banking)
            signature = artifact.sources(self.settings, self.banking, mysql=self._mysql)
            folder = self.settings.index_folder
            made = artifact.current(folder)
            if not artifact.usable(made, self.settings):
                made = builder.ensure(self.settings, self.banking)
            if delta.applied_sources(made) != signature:
                lock = Lock(folder)
                if lock.acquire(wait=False):  # otherwise another process is at it: its result comes later
                    try:
                        made = artifact.current(folder)
                        if delta.applied_sources(made) != signature and not delta.update(
                            self.settings, self.banking, made, builder.log_progress()
                        ):
                            made = builder.build(self.settings, self.banking)
                    finally:
                        lock.release()
            made = artifact.current(folder)
            generation = self._generation
            if made.folder != generation.build.folder or _pointers(made) != generation.pointers:
                opened = self._opened(made)
                with self._lock:
                    old, self._generation = self._generation, opened
                self._open.remove(old)
                old.retire()
            self._refresh_error = self._failed = None
        except Exception as error:  # keep answering from the current build; say why it could not refresh
            log.exception("refreshing the directory failed; still serving the previous build")
            self._refresh_error = f"refresh failed: {error}"
            self._failed = (signature, _pointers(self._generation.build))


def _checked_scores(scores: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _SCORES_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lack the column(s) {', '.join(missing)}")
    risk = pd.to_numeric(scores["churn_risk"], errors="coerce")
    if risk.isna().any() or not risk.between(0, 1).all():
        raise ValueError("churn_risk must be a probability from 0 to 1 for every customer")
    return scores[list(_SCORES_COLUMNS)]


def _retire_all(generations: list[_Generation]) -> None:
    for generation in generations:
        generation.retire()


def _frame(table: pa.Table, schema: pa.Schema) -> pd.DataFrame:
    """The same columns and types whichever engine answered (dates as datetime64, money as float)."""
    columns = [table.column(name).cast(schema.field(name).type, safe=False) for name in schema.names]
    return pa.Table.from_arrays(columns, schema=schema).to_pandas(date_as_object=False)
