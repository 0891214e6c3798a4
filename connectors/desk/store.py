"""The desk's store: what the dashboard writes during and after a call, and reads back, on either engine.

    store = open_store(settings)          # MySQL when C360_MYSQL_URL is set, else <data>/desk/desk.sqlite
    saved = store.save_wrapup(wrapup, agent="jdoe", verified=True)   # one transaction, idempotent by key
    store.contacts(customer_id)           # the wrap-ups, in the contact center's columns, for the timeline

Every statement is written once here, with ``?`` for its parameters (the MySQL backend turns them into
``%s``), and every value is bound, never formatted in. A backend supplies a transaction, its times and its
errors. A write returns only once it is committed (SQLite: the WAL synced to disk, ``synchronous=FULL``;
InnoDB: the redo log flushed at commit), so a confirmation on screen means the record survives a crash. The
audit is append-only: no method here or in a backend updates or deletes a row of any desk table.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pandas as pd

from connectors.catalog import (
    CONTACT_CHANNELS,
    CONTACT_COLUMNS,
    CONTACT_OUTCOMES,
    CONTACT_REASONS,
    OFFER_RESPONSES,
    PRODUCTS,
)
from connectors.desk.schema import DESK_SOURCE, KEY_MAX, NOTE_MAX

WHO_MAX = 64  # characters of a representative's name or a session id (the tables' VARCHAR(64))
SAVE_ATTEMPTS = 3  # a wrap-up racing another submit of the same key reads the winner's row on a retry

# The wrap-ups in the contact center's columns (catalog.CONTACT_COLUMNS): a wrap-up has no contact id and no
# measured duration (None), and keeps its key, whether the caller was verified, and its source.
CONTACT_FRAME = (*CONTACT_COLUMNS, "contact_key", "verified", "source")
AUDIT_COLUMNS = ("id", "opened_at", "agent", "session", "customer_id", "private_shown")

SELECT_CONTACT = """
SELECT contact_key, customer_id, started_at, channel, reason, outcome, note, agent, verified, source
FROM desk_contacts WHERE contact_key = ?"""
SELECT_OUTCOMES = """
SELECT product, offer_rank, model_version, response
FROM desk_offer_outcomes WHERE contact_key = ? ORDER BY offer_rank, product"""
INSERT_CONTACT = """
INSERT INTO desk_contacts
    (contact_key, customer_id, started_at, channel, reason, outcome, note, agent, verified, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_OUTCOME = """
INSERT INTO desk_offer_outcomes
    (contact_key, product, customer_id, offer_rank, model_version, response, recorded_at, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_SHOWN = """
INSERT INTO desk_offers_shown (customer_id, product, offer_rank, model_version, shown_at, agent, session, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_AUDIT = """
INSERT INTO desk_audit (opened_at, agent, session, customer_id, private_shown) VALUES (?, ?, ?, ?, ?)"""
INSERT_VERIFICATION = """
INSERT INTO desk_verifications (attempted_at, customer_id, agent, session, passed) VALUES (?, ?, ?, ?, ?)"""
CUSTOMER_CONTACTS = """
SELECT contact_key, customer_id, started_at, channel, reason, outcome, note, agent, verified, source
FROM desk_contacts WHERE customer_id = ? ORDER BY started_at DESC, contact_key"""
OPENERS = """
SELECT count(DISTINCT agent) FROM desk_audit WHERE customer_id = ? AND opened_at >= ? AND opened_at < ?"""
RECENT_VERIFICATIONS = """
SELECT attempted_at, passed FROM desk_verifications
WHERE customer_id = ? AND attempted_at >= ? ORDER BY attempted_at, id"""
AUDIT = """
SELECT id, opened_at, agent, session, customer_id, private_shown FROM desk_audit
WHERE customer_id = ? AND opened_at >= ? AND opened_at < ? ORDER BY opened_at, id"""

Run = Callable[[str, tuple], list[tuple]]  # runs one statement in the open transaction, returns its rows


class DeskUnavailable(Exception):
    """The desk's store cannot answer now; the message says why (and which setting to fix, if one is wrong)."""


class DuplicateKey(Exception):
    """A backend's answer to an insert whose key exists (another submit of the same wrap-up won the race)."""


def utc_now() -> datetime:
    """The time every desk row is stamped with: UTC, naive, to the microsecond (both engines' columns)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _who(value: str, what: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise ValueError(f"the {what} is empty")
    return text[:WHO_MAX]


@dataclass(frozen=True)
class OfferResponse:
    """How the customer answered one offer presented in the call."""

    product: str
    rank: int  # its place in the list on screen, from 1
    model_version: str  # the models' run that ranked it
    response: str  # a key of catalog.OFFER_RESPONSES


@dataclass(frozen=True)
class WrapUp:
    """One call's wrap-up as the page submits it; who wrote it is added by the server (``save_wrapup``)."""

    contact_key: str  # the form's idempotency key: a second submit with it writes nothing
    customer_id: int
    started_at: datetime  # UTC, naive: when the representative opened the record
    reason: str
    outcome: str
    note: str = ""
    channel: str = "phone"
    offers: tuple[OfferResponse, ...] = ()

    def problems(self) -> list[str]:
        """What is wrong with it, in words for the form (empty when it can be saved)."""
        found = []
        if not self.contact_key or len(self.contact_key) > KEY_MAX:
            found.append(f"the form's key must have 1 to {KEY_MAX} characters")
        if self.reason not in CONTACT_REASONS:
            found.append("choose a reason")
        if self.outcome not in CONTACT_OUTCOMES:
            found.append("choose an outcome")
        if self.channel not in CONTACT_CHANNELS:
            found.append(f"the channel must be one of {', '.join(CONTACT_CHANNELS)}")
        if len(self.note) > NOTE_MAX:
            found.append(f"the note has {len(self.note):,} characters; at most {NOTE_MAX:,} are kept")
        products = [offer.product for offer in self.offers]
        if len(set(products)) != len(products) or not set(products) <= set(PRODUCTS):
            found.append("each offer must be a product, once")
        if any(offer.response not in OFFER_RESPONSES for offer in self.offers):
            found.append("answer each offer: accepted, declined or not discussed")
        return found


@dataclass(frozen=True)
class SavedWrapUp:
    """A wrap-up as the store holds it; ``written`` is False when an earlier submit had saved it."""

    wrapup: WrapUp
    agent: str
    verified: bool
    written: bool


@dataclass(frozen=True)
class ShownOffer:
    """One offer as a screen showed it."""

    product: str
    rank: int
    model_version: str


@dataclass(frozen=True)
class Attempt:
    """The store's answer to a verification attempt: ``passed`` is None when the customer is locked (the
    attempt was not compared or logged); ``locked_until`` (UTC) is set while locked, this attempt included."""

    passed: bool | None
    failures: int  # failed attempts in the window since the last pass, this one included
    locked_until: datetime | None = None


class DeskStore(abc.ABC):
    """The API the dashboard calls; a backend (``SQLiteDesk``, ``MySQLDesk``) supplies the engine."""

    def __init__(self, where: str):
        self.where = where  # the store's place, as messages show it (the file, or the redacted MySQL URL)
        self._failure: str | None = None

    # ── what a backend supplies ──────────────────────────────────────────────────────────────────────

    @abc.abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Run]:
        """A transaction that commits durably when the block ends and rolls back if it raises; a failure
        of the engine raises :class:`DeskUnavailable`, an existing key :class:`DuplicateKey`."""

    @abc.abstractmethod
    def _time(self, value: datetime):
        """A naive UTC time as the engine's columns take it."""

    @abc.abstractmethod
    def _locking(self, statement: str) -> str:
        """A read that the transaction must hold until it commits (MySQL: ``FOR UPDATE``)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection (a later call opens a new one)."""

    # ── status ───────────────────────────────────────────────────────────────────────────────────────

    @property
    def status(self) -> str:
        """ "desk ok (<where>)", or why the last call failed."""
        return f"desk ok ({self.where})" if self._failure is None else f"desk unavailable: {self._failure}"

    @contextlib.contextmanager
    def _call(self) -> Iterator[Run]:
        """One transaction of the API: remembers whether the store answered, for ``status``."""
        try:
            with self._transaction() as run:
                yield run
        except DeskUnavailable as error:
            self._failure = str(error)
            raise
        self._failure = None

    # ── writes ───────────────────────────────────────────────────────────────────────────────────────

    def save_wrapup(self, wrapup: WrapUp, agent: str, verified: bool) -> SavedWrapUp:
        """Write the wrap-up and its offers' answers in one transaction, once per ``contact_key``: a second
        submit writes nothing and returns what the first saved. ValueError names what is wrong with it."""
        problems = wrapup.problems()
        if problems:
            raise ValueError("; ".join(problems))
        agent = _who(agent, "representative")
        for _ in range(SAVE_ATTEMPTS):
            try:
                with self._call() as run:
                    saved = self._saved(run, wrapup.contact_key, locking=True)
                    if saved is not None:
                        return saved
                    self._insert(run, wrapup, agent, verified)
                return SavedWrapUp(wrapup, agent, bool(verified), written=True)
            except DuplicateKey:
                continue  # another submit of this form committed first: read what it saved
        with self._call() as run:
            saved = self._saved(run, wrapup.contact_key, locking=False)
        if saved is None:
            raise DeskUnavailable(f"the wrap-up {wrapup.contact_key} could not be saved or read back")
        return saved

    def _insert(self, run: Run, wrapup: WrapUp, agent: str, verified: bool) -> None:
        now = self._time(utc_now())
        run(
            INSERT_CONTACT,
            (
                wrapup.contact_key,
                int(wrapup.customer_id),
                self._time(wrapup.started_at),
                wrapup.channel,
                wrapup.reason,
                wrapup.outcome,
                wrapup.note,
                agent,
                bool(verified),
                DESK_SOURCE,
            ),
        )
        for offer in wrapup.offers:
            run(
                INSERT_OUTCOME,
                (
                    wrapup.contact_key,
                    offer.product,
                    int(wrapup.customer_id),
                    int(offer.rank),
                    offer.model_version[:WHO_MAX],
                    offer.response,
                    now,
                    DESK_SOURCE,
                ),
            )

    def _saved(self, run: Run, key: str, locking: bool) -> SavedWrapUp | None:
        rows = run(self._locking(SELECT_CONTACT) if locking else SELECT_CONTACT, (key,))
        if not rows:
            return None
        key, customer, started, channel, reason, outcome, note, agent, verified, _source = rows[0]
        offers = tuple(
            OfferResponse(product, int(rank), version, response)
            for product, rank, version, response in run(SELECT_OUTCOMES, (key,))
        )
        wrapup = WrapUp(
            key, int(customer), pd.Timestamp(started).to_pydatetime(), reason, outcome, note, channel, offers
        )
        return SavedWrapUp(wrapup, agent, bool(verified), written=False)

    def log_offers_shown(
        self, customer_id: int, offers: Sequence[ShownOffer], agent: str, session: str
    ) -> None:
        """Log the offers a screen showed the customer (one row each, in one transaction)."""
        if not offers:
            return
        agent, session = _who(agent, "representative"), _who(session, "session")
        now = self._time(utc_now())
        with self._call() as run:
            for offer in offers:
                row = (int(customer_id), offer.product, int(offer.rank), offer.model_version[:WHO_MAX])
                run(INSERT_SHOWN, (*row, now, agent, session, DESK_SOURCE))

    def log_opening(self, customer_id: int, agent: str, session: str, private_shown: bool) -> None:
        """Append an audit entry: who opened the customer's record, now, and whether private details showed."""
        agent, session = _who(agent, "representative"), _who(session, "session")
        with self._call() as run:
            run(INSERT_AUDIT, (self._time(utc_now()), agent, session, int(customer_id), bool(private_shown)))

    def verification_attempt(
        self, customer_id: int, agent: str, session: str, passed: bool, window: timedelta, limit: int
    ) -> Attempt:
        """Log one attempt's result unless the customer is locked: ``limit`` failed attempts within
        ``window`` since their last pass lock them until the oldest of those is ``window`` old. The count and
        the log are one transaction, so processes on several machines share the limit."""
        agent, session = _who(agent, "representative"), _who(session, "session")
        now = utc_now()
        with self._call() as run:
            rows = run(self._locking(RECENT_VERIFICATIONS), (int(customer_id), self._time(now - window)))
            failures: list[datetime] = []
            for at, ok in rows:
                failures = [] if ok else [*failures, pd.Timestamp(at).to_pydatetime()]
            if len(failures) >= limit:
                return Attempt(None, len(failures), failures[-limit] + window)
            run(INSERT_VERIFICATION, (self._time(now), int(customer_id), agent, session, bool(passed)))
        if passed:
            return Attempt(True, 0)
        failures.append(now)
        locked = failures[-limit] + window if len(failures) >= limit else None
        return Attempt(False, len(failures), locked)

    # ── reads ────────────────────────────────────────────────────────────────────────────────────────

    def contacts(self, customer_id: int) -> pd.DataFrame:
        """The customer's wrap-ups, newest first, in the contact center's columns (``CONTACT_FRAME``)."""
        with self._call() as run:
            rows = run(CUSTOMER_CONTACTS, (int(customer_id),))
        frame = pd.DataFrame(
            rows,
            columns=[
                "contact_key",
                "customer_id",
                "started_at",
                "channel",
                "reason",
                "outcome",
                "note",
                "agent",
                "verified",
                "source",
            ],
        )
        frame["started_at"] = pd.to_datetime(frame["started_at"])
        frame["verified"] = frame["verified"].astype(bool)
        return frame.assign(contact_id=None, duration_s=None)[list(CONTACT_FRAME)]

    def openers_today(self, customer_id: int, today: date | None = None) -> int:
        """How many representatives (distinct users or sessions) opened the record on ``today`` (UTC)."""
        day = today or utc_now().date()
        start = datetime.combine(day, datetime.min.time())
        with self._call() as run:
            rows = run(OPENERS, (int(customer_id), self._time(start), self._time(start + timedelta(days=1))))
        return int(rows[0][0])

    def audit(self, customer_id: int, since: datetime, until: datetime) -> pd.DataFrame:
        """The audit entries of a customer from ``since`` up to ``until`` (UTC, naive), oldest first."""
        with self._call() as run:
            rows = run(AUDIT, (int(customer_id), self._time(since), self._time(until)))
        frame = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
        frame["opened_at"] = pd.to_datetime(frame["opened_at"])
        frame["private_shown"] = frame["private_shown"].astype(bool)
        return frame
