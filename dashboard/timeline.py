"""The timeline: one list of everything that happened with the customer, newest first, paged, by kind.

Past contacts (reason, outcome, agent note), accounts opened and closed, notable card charges (large,
unusual, declined, disputed, with a fee: :func:`connectors.catalog.notable_charges`), survey answers, and
web sessions: clicks more than 30 minutes apart start a new session, which lists the products seen and the
pages that matter (apply, close, transfer-out). The clicks are the record's last 30 days and the live
stream's latest, so a new click of the customer's extends the current session within a pull (2 s); while
she clicks within 5 s of the last, within the next 5-second window (``dashboard.services.live_key``: every
session on her shares one timeline per window).

Contacts come as a list of frames in the contact center's columns (``catalog.CONTACT_COLUMNS``): the contact
center's history from the record and the desk's wrap-ups from the store (``store.desk_contacts``, read on
every selection, after every save and with the ↻ button, so other sessions' and processes' wrap-ups show).
Every text is escaped; the kiosk leaves out agent notes and survey comments, which may hold private details.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import panel as pn
import param

from connectors.catalog import (
    CONTACT_OUTCOMES,
    CONTACT_REASONS,
    NOTABLE_PAGES,
    SESSION_GAP_MINUTES,
    label,
    notable_charges,
    page_of,
)
from dashboard.clicks import LiveView
from dashboard.markup import HTMLText, escape, keeps_going
from dashboard.services import SharedResults, live_key, record_key

KINDS: dict[str, str] = {
    "contact": "Contacts",
    "account": "Accounts",
    "transaction": "Charges",
    "survey": "Surveys",
    "web": "Web sessions",
}
PAGE_SIZE = 8
KIOSK_ROWS = 5
SHARED = SharedResults()  # a customer's timeline, built once per record version and click for every session


@dataclass(frozen=True)
class Entry:
    """One thing that happened: when (UTC), what kind, in a line, with details and an agent note."""

    at: pd.Timestamp
    kind: str
    title: str
    detail: str = ""
    note: str = ""  # an agent's note or a survey comment: private, left out of the kiosk
    dated: bool = False  # known to the day only (accounts, charges)
    flags: tuple[str, ...] = ()


def _minutes(seconds: float) -> str:
    return f"{max(round(seconds / 60), 1)} min"


def contact_entries(frames: Sequence[pd.DataFrame]) -> list[Entry]:
    """Contacts from every source's frame (the contact center's columns; a wrap-up has no duration)."""
    entries = []
    for frame in frames:
        for row in frame.itertuples():
            entries.append(
                Entry(
                    pd.Timestamp(row.started_at),
                    "contact",
                    f"{str(row.channel).capitalize()} · {CONTACT_REASONS.get(str(row.reason), str(row.reason))}",
                    " · ".join(
                        part
                        for part in (
                            CONTACT_OUTCOMES.get(str(row.outcome), str(row.outcome)),
                            _minutes(row.duration_s) if pd.notna(row.duration_s) else "",
                            str(row.agent),
                        )
                        if part
                    ),
                    str(row.note or ""),
                )
            )
    return entries


def account_entries(holdings: pd.DataFrame) -> list[Entry]:
    entries = []
    for row in holdings.itertuples():
        entries.append(
            Entry(pd.Timestamp(row.opened_date), "account", f"Opened {label(row.product)}", dated=True)
        )
        if pd.notna(row.closed_date):
            entries.append(
                Entry(pd.Timestamp(row.closed_date), "account", f"Closed {label(row.product)}", dated=True)
            )
    return entries


def charge_entries(transactions: pd.DataFrame, customer_id: int) -> list[Entry]:
    """The notable charges: large or unusual ones, declined, disputed, or with a fee."""
    entries = []
    for row in notable_charges(transactions.assign(customer_id=customer_id)).itertuples():
        flags = [
            name
            for name, on in (
                ("unusual", row.unusual),
                ("large", row.large and not row.unusual),
                ("declined", row.declined),
                ("disputed", row.disputed),
                (f"fee ${row.fee:,.2f}", row.fee > 0),
            )
            if on
        ]
        entries.append(
            Entry(
                pd.Timestamp(row.date),
                "transaction",
                f"${row.amount:,.2f} at {row.payee}",
                str(row.category),
                dated=True,
                flags=tuple(flags),
            )
        )
    return entries


def survey_entries(surveys: pd.DataFrame) -> list[Entry]:
    return [
        Entry(
            pd.Timestamp(row.submitted),
            "survey",
            f"Survey answer: rated {row.rating}/5",
            note=str(row.comment or ""),
        )
        for row in surveys.itertuples()
        if pd.notna(row.submitted)
    ]


def sessions(clicks: pd.DataFrame) -> list[Entry]:
    """Clicks (time, product, url) grouped into web sessions at a 30-minute gap; each entry is dated by its
    latest click, and lists the products seen (most clicked first) and the pages that matter."""
    if clicks.empty:
        return []
    ordered = clicks.assign(time=pd.to_datetime(clicks["time"])).sort_values("time", kind="stable")
    gap = ordered["time"].diff() > pd.Timedelta(minutes=SESSION_GAP_MINUTES)
    entries = []
    for _, session in ordered.groupby(gap.cumsum().to_numpy()):
        start, end = session["time"].iloc[0], session["time"].iloc[-1]
        products = session["product"].astype(str).value_counts(sort=True)
        seen = ", ".join(label(product) for product in products.index)
        notable = []
        for product, url in zip(session["product"].astype(str), session["url"], strict=True):
            page = page_of(url)
            mark = f"{label(product)} › {page}"
            if page in NOTABLE_PAGES and mark not in notable:
                notable.append(mark)
        clicks_text = f"{len(session)} click{'' if len(session) == 1 else 's'}"
        entries.append(
            Entry(
                end,
                "web",
                f"Web session · {clicks_text} · {_minutes((end - start).total_seconds())}",
                f"seen: {seen}",
                flags=tuple(notable),
            )
        )
    return entries


def timeline(
    contacts: Sequence[pd.DataFrame],
    holdings: pd.DataFrame,
    transactions: pd.DataFrame,
    surveys: pd.DataFrame,
    clicks: Sequence[pd.DataFrame],
    customer_id: int,
) -> list[Entry]:
    """Everything, newest first (a day-dated entry counts from the start of its day)."""
    frames = [frame[["time", "product", "url"]] for frame in clicks if len(frame)]
    all_clicks = (
        pd.concat(frames, ignore_index=True).drop_duplicates()
        if frames
        else pd.DataFrame({"time": [], "product": [], "url": []})
    )
    entries = [
        *contact_entries(contacts),
        *account_entries(holdings),
        *charge_entries(transactions, customer_id),
        *survey_entries(surveys),
        *sessions(all_clicks),
    ]
    return newest_first(entries)


def newest_first(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def page_of_entries(
    entries: list[Entry], kinds: Sequence[str], number: int, size: int
) -> tuple[list[Entry], int]:
    """One page (from 1) of the entries of ``kinds``, and how many pages there are (at least 1)."""
    chosen = [entry for entry in entries if entry.kind in kinds]
    pages = max(-(-len(chosen) // size), 1)
    number = min(max(number, 1), pages)
    return chosen[(number - 1) * size : number * size], pages


def entries_html(entries: list[Entry], private: bool) -> str:
    """The entries as a list, every text escaped; notes and comments only when ``private`` is allowed."""
    if not entries:
        return "<p class='c360-muted'>Nothing to show.</p>"
    rows = []
    for entry in entries:
        when = f"{entry.at:%Y-%m-%d}" if entry.dated else f"{entry.at:%Y-%m-%d %H:%M} UTC"
        flags = "".join(f"<span class='c360-flag'>{escape(flag)}</span>" for flag in entry.flags)
        detail = f" <span class='c360-muted'>{escape(entry.detail)}</span>" if entry.detail else ""
        note = f"<div class='c360-note'>{escape(entry.note)}</div>" if private and entry.note else ""
        rows.append(
            f"<li class='c360-tl-{entry.kind}'><span class='c360-when'>{escape(when)}</span>"
            f"<span class='c360-kind'>{escape(KINDS[entry.kind])}</span> <b>{escape(entry.title)}</b>"
            f"{flags}{detail}{note}</li>"
        )
    return f"<ol class='c360-timeline-list'>{''.join(rows)}</ol>"


class TimelineView(LiveView):
    """The selected customer's timeline; filters by kind and pages (none of it in the ``kiosk``, which
    shows the newest entries without notes)."""

    store = param.ClassSelector(class_=param.Parameterized, constant=True, doc="the session's CustomerStore")
    period = param.Integer(default=2000, bounds=(100, None), constant=True)
    kiosk = param.Boolean(default=False, constant=True, doc="read-only, no private text")
    page_size = param.Integer(default=PAGE_SIZE, bounds=(1, 100))

    def __init__(self, **params):
        super().__init__(**params)
        self.kinds = pn.widgets.CheckBoxGroup(
            options={text: kind for kind, text in KINDS.items()}, value=list(KINDS), inline=True
        )
        self.previous = pn.widgets.Button(label="‹ Newer", width=90)
        self.next = pn.widgets.Button(label="Older ›", width=90)
        self.status = HTMLText("", sizing_mode="stretch_width")
        self.body = HTMLText("", sizing_mode="stretch_width")
        self.number = 1
        self.entries: list[Entry] = []
        self._shown: tuple | None = None
        self.kinds.param.watch(lambda _: self._turn(1), "value")
        self.previous.on_click(lambda _: self._turn(self.number - 1))
        self.next.on_click(lambda _: self._turn(self.number + 1))
        self.reload = pn.widgets.Button(label="↻", width=40, description="read the desk's wrap-ups again")
        self.reload.on_click(lambda _: self._reload())
        controls = (
            [] if self.kiosk else [pn.Row(self.kinds, self.previous, self.next, self.reload), self.status]
        )
        self._layout = pn.Column(
            "### Timeline", *controls, self.body, css_classes=["c360-timeline"], sizing_mode="stretch_width"
        )
        if "desk_contacts" in self.store.param:  # a CustomerStore: the desk's wrap-ups join the contacts
            self.store.param.watch(self._new_wrapups, "desk_contacts")
        self.refresh()
        self._start_pulling()

    @param.depends("store.record", watch=True)
    @keeps_going
    def _new_customer(self) -> None:
        self.number, self._shown = 1, None
        self.refresh()

    @keeps_going
    def _new_wrapups(self, _event=None) -> None:
        self._shown = None
        self.refresh()

    def _reload(self) -> None:
        """Read the desk's wrap-ups again: other sessions' and processes' new ones appear."""
        if hasattr(self.store, "refresh_desk"):
            self.store.refresh_desk()

    @keeps_going
    def refresh(self) -> None:
        """Rebuild when the record changed or the customer clicked since the last pull."""
        record = getattr(self.store, "record", None)
        if record is None:
            self.entries, self._shown = [], None
            self.body.object = "<p class='c360-muted'>No customer selected.</p>"
            return
        customer_id = int(record.profile["id"])
        live = live_key(self.stream, customer_id)
        shown = (id(record), live)
        if shown == self._shown:
            return
        self._shown = shown
        entries = SHARED.get(
            record_key(record, live, id(self.stream)), lambda: self._record_entries(record, customer_id)
        )
        desk = getattr(self.store, "desk_contacts", None)
        self.entries = newest_first([*entries, *contact_entries([desk])]) if desk is not None else entries
        self._show()

    def _record_entries(self, record, customer_id: int) -> list[Entry]:
        """The timeline from the record and the live clicks: the same for every session on this customer."""
        live = self.stream.customer_activity(customer_id)
        return timeline(
            [record.contacts],
            record.holdings,
            record.transactions,
            record.surveys,
            [record.clicks, live],
            customer_id,
        )

    def _turn(self, number: int) -> None:
        self.number = number
        self._show()

    def _show(self) -> None:
        kinds = list(KINDS) if self.kiosk else self.kinds.value
        size = KIOSK_ROWS if self.kiosk else self.page_size
        shown, pages = page_of_entries(self.entries, kinds, self.number, size)
        self.number = min(max(self.number, 1), pages)
        record = self.store.record
        errors = [record.contacts_error, getattr(self.store, "desk_error", "")]
        error = "".join(f"<p class='c360-error'>{escape(text)}</p>" for text in errors if text)
        self.previous.disabled, self.next.disabled = self.number <= 1, self.number >= pages
        count = sum(entry.kind in kinds for entry in self.entries)
        self.status.object = (
            f"<span class='c360-muted'>page {self.number} of {pages} · {count:,} entries</span>"
        )
        self.body.object = error + entries_html(shown, private=not self.kiosk)

    def _release(self) -> None:
        self.entries, self._shown = [], None

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
