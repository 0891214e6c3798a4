"""Live click-stream views: the whole website's clicks per second, the selected customer's activity, health.

Every view pulls from the process-wide live state (a ``LiveState``: the process's own ``ClickStream``, or the
aggregators' state in Redis) on its own periodic callback, in its own session:
the consumer thread never touches a Bokeh model, each browser gets updates at the pace of its own timer,
and the live line receives only the rows that are new (``ColumnDataSource.stream`` with a rollover); the
customer's timeline is redrawn only when they click. When the session ends, the callbacks stop and the
buffers are emptied.

Each view also works alone, e.g. in a notebook: ``LiveClicks(stream=stream)`` or
``CustomerActivity(stream=stream, store=store)``, where ``store`` is a ``CustomerStore`` (or any
Parameterized with a ``customer_id`` parameter). Text from the web (page addresses) is always escaped.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, FixedTicker, Range1d
from bokeh.plotting import figure

from connectors.catalog import LABELS, PRODUCTS
from connectors.clickstream import (
    BUCKET_MS,
    HISTORY_BUCKETS,
    ONLINE_WITHIN,
    RATE_WINDOW_BUCKETS,
    LastSeen,
    LiveState,
    rates_frame,
)
from dashboard.markup import HTMLText, escape
from dashboard.plots import add_hover, time_figure
from dashboard.services import SharedResults, seen_key
from dashboard.timer import SessionTimer

PRODUCT_AVERAGE_ROWS = 100  # the bars average the last 10 s of 100 ms rows
LINE_STEP_MS = RATE_WINDOW_BUCKETS * BUCKET_MS  # the live line shows one row a second ...
LINE_ROWS = HISTORY_BUCKETS // RATE_WINDOW_BUCKETS  # ... for the last 5 minutes
TIMELINE_ROWS = 8  # clicks listed under the timeline plot
TIMELINE_MIN_MS = 3_600_000  # the timeline spans at least the hour up to the latest click
SHARED = SharedResults()  # a customer's latest clicks, for every session showing her
PAGE_CHARS = 80  # page addresses longer than this are shortened on screen (in full on hover)


class LiveView(pn.viewable.Viewer):
    """A view that pulls from the stream every ``period`` ms while its session lives."""

    stream = param.ClassSelector(class_=LiveState, constant=True, doc="the process-wide live click state")
    period = param.Integer(default=1000, bounds=(100, None), constant=True, doc="milliseconds between pulls")
    paused = param.Boolean(default=False, doc="skip pulls while hidden (in a collapsed card)")

    def __init__(self, **params):
        super().__init__(**params)
        self._timer: SessionTimer | None = None

    def _start_pulling(self) -> None:
        """Pull once the page is connected and then every ``period``; let go when the session ends."""
        self._timer = SessionTimer(self.refresh, self.period, at_start=True)
        self._timer.paused = self.paused
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(self._session_destroyed)

    @param.depends("paused", watch=True)
    def _follow_paused(self) -> None:
        if self._timer is not None:
            self._timer.paused = self.paused

    @property
    def running(self) -> bool:
        """Whether the periodic pull is scheduled."""
        return self._timer is not None and self._timer.running

    def refresh(self) -> None:
        """Pull what is new from the stream and show it."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop pulling and let go of the data this view holds (done when the session ends)."""
        if self._timer is not None:
            self._timer.stop()
        self._release()

    def _session_destroyed(self, session_context) -> None:
        self.close()

    def _release(self) -> None:
        """Empty the view's buffers."""


@dataclass(frozen=True)
class RatesSnapshot:
    """The whole website's rates up to one published 100 ms bucket, as every session shows them."""

    cursor: int | None  # the last published bucket
    end_ms: np.ndarray  # the line's rows: one a second (the clicks in that second), the last 5 minutes
    total: np.ndarray
    summary_html: str  # the rate right now and the product bars, one HTML update a second

    def line_after(self, cursor: int | None) -> dict[str, np.ndarray]:
        """The line's rows that a session which has seen up to ``cursor`` has not (all for None)."""
        keep = slice(None) if cursor is None else self.end_ms > (cursor + 1) * BUCKET_MS
        return {"time": self.end_ms[keep].astype("datetime64[ms]"), "total": self.total[keep]}


class SharedRates:
    """The website's rates, computed once per published bucket for every session of the process.

    Each session used to pull its own rows, keep its own frame and format its own HTML every second: with
    50 sessions open that was most of the server's steady work (profiled), all of it identical.
    """

    def __init__(self, stream: LiveState):
        self._stream = weakref.ref(stream)  # the registry below is keyed on the stream: do not keep it alive
        self._rows = rates_frame(np.empty(0, np.int64), np.empty((0, len(PRODUCTS))))
        self._snapshot = RatesSnapshot(None, np.empty(0, np.int64), np.empty(0), _summary_html(self._rows))
        self._lock = threading.Lock()
        self._asked_at = -math.inf

    def latest(self) -> RatesSnapshot:
        """The newest snapshot; the stream is asked for new rows at most once per 100 ms bucket."""
        with self._lock:
            now = time.monotonic()
            if now - self._asked_at < BUCKET_MS / 1000:
                return self._snapshot
            self._asked_at = now
            stream = self._stream()
            if stream is None:
                return self._snapshot
            rows, cursor = stream.global_rates_since(self._snapshot.cursor)
            if rows.empty:
                return self._snapshot
            self._rows = pd.concat([self._rows, rows], ignore_index=True).tail(HISTORY_BUCKETS)
            end_ms = self._rows["time"].to_numpy().astype("datetime64[ms]").astype(np.int64)
            whole_seconds = end_ms % LINE_STEP_MS == 0
            self._snapshot = RatesSnapshot(
                cursor=cursor,
                end_ms=end_ms[whole_seconds],
                total=self._rows["total"].to_numpy()[whole_seconds],
                summary_html=_summary_html(self._rows),
            )
            return self._snapshot


_SHARED_RATES: weakref.WeakKeyDictionary[LiveState, SharedRates] = weakref.WeakKeyDictionary()


def shared_rates(stream: LiveState) -> SharedRates:
    """The process's ``SharedRates`` for a stream, made on first use."""
    if stream not in _SHARED_RATES:
        _SHARED_RATES[stream] = SharedRates(stream)
    return _SHARED_RATES[stream]


class LiveClicks(LiveView):
    """Clicks per second on the whole website: the rate right now, a live line of it, and by product.

    The session pulls every ``period`` (1 s) from the process's ``SharedRates``. The line is a Bokeh figure
    whose data source takes only the new rows (``ColumnDataSource.stream`` with a rollover of the last 5
    minutes at one row a second: 300 rows, where 100 ms rows sent 3,000 to every new page); a HoloViews
    ``Buffer`` re-render of the same line cost 15–20 ms (profiled with 50 sessions open), most of it Bokeh
    re-walking the whole page's models. The per-product breakdown is HTML bars for the same reason (twelve
    lines or a Bars plot cost 15–40 ms an update).
    """

    period = param.Integer(default=1000, bounds=(100, None), constant=True)

    def __init__(self, **params):
        super().__init__(**params)
        self._rates = shared_rates(self.stream)
        snapshot = self._rates.latest()
        self._cursor = snapshot.cursor
        self.source = ColumnDataSource(snapshot.line_after(None))
        self.summary = HTMLText(snapshot.summary_html, sizing_mode="stretch_width")
        self._layout = pn.Column(
            pn.pane.Bokeh(_total_figure(self.source), sizing_mode="stretch_width"),
            self.summary,
            css_classes=["c360-clicks"],
            sizing_mode="stretch_width",
        )
        self._start_pulling()

    def refresh(self) -> None:
        snapshot = self._rates.latest()
        if snapshot.cursor == self._cursor:
            return
        line = snapshot.line_after(self._cursor)
        self._cursor = snapshot.cursor
        with pn.io.hold():
            if len(line["time"]):
                self.source.stream(line, rollover=LINE_ROWS)
            if snapshot.summary_html != self.summary.object:
                self.summary.object = snapshot.summary_html

    def _release(self) -> None:
        self._cursor = None
        self.source.data = {"time": np.empty(0, "datetime64[ms]"), "total": np.empty(0)}

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


def _total_figure(source: ColumnDataSource) -> figure:
    """The live line: the last 5 minutes of clicks per second, ranges following the data."""
    plot = time_figure(
        "Clicks per second, whole website", height=200, x_axis_label="time (UTC)", y_axis_label="clicks/s"
    )
    plot.y_range.start = 0
    line = plot.line("time", "total", source=source, line_width=2, color="#0b3d91")
    add_hover(plot, line, [("time", "@time{%H:%M:%S}"), ("clicks/s", "@total{0,0}")], "time", mode="vline")
    return plot


def _summary_html(rows: pd.DataFrame) -> str:
    """The latest row's rate in words over the product bars of the last 10 s."""
    latest = rows.iloc[-1] if len(rows) else None
    return _now_html(latest) + _products_html(rows.tail(PRODUCT_AVERAGE_ROWS))


def _now_html(row: pd.Series | None) -> str:
    """The latest rate row as a sentence: total clicks per second and the busiest product."""
    if row is None:
        return "<div class='c360-clicks-now c360-muted'>Waiting for clicks…</div>"
    busiest = max(PRODUCTS, key=lambda product: row[product])
    top = f" · busiest: {escape(LABELS[busiest])} {row[busiest]:,.0f}/s" if row[busiest] > 0 else ""
    return (
        f"<div class='c360-clicks-now'><b>{row['total']:,.0f}</b> clicks/s right now"
        f"<span class='c360-muted'>{top}</span></div>"
    )


_BAR_STYLE = "display:inline-block;height:0.8em;background:#0b3d91;"


def _products_html(rows: pd.DataFrame) -> str:
    """Mean clicks per second per product over ``rows`` as bars, in catalogue order."""
    means = rows[list(PRODUCTS)].mean().fillna(0.0) if len(rows) else pd.Series(0.0, index=list(PRODUCTS))
    scale = max(means.max(), 1e-9)
    bars = "".join(
        f"<tr><td>{escape(LABELS[product])}</td>"
        f"<td style='width:50%'><span class='c360-bar' style='{_BAR_STYLE}width:{100 * rate / scale:.0f}%'>"
        f"</span></td><td style='text-align:right'>{rate:,.1f}</td></tr>"
        for product, rate in means.items()
    )
    return (
        "<table class='c360-clicks-by-product' style='width:100%'>"
        f"<caption style='text-align:left'>clicks/s by product, last 10 s</caption>{bars}</table>"
    )


class CustomerActivity(LiveView):
    """The selected customer on the website: online badge, latest clicks, products of the last hour."""

    store = param.ClassSelector(
        class_=param.Parameterized, constant=True, doc="the session's CustomerStore (needs customer_id)"
    )
    period = param.Integer(default=2000, bounds=(100, None), constant=True)
    limit = param.Integer(default=50, bounds=(1, None), doc="latest clicks shown on the timeline")

    def __init__(self, **params):
        super().__init__(**params)
        if self.store is None:
            raise ValueError("CustomerActivity needs store=, a CustomerStore or anything with customer_id")
        self._shown: tuple | None = None
        self.badge = HTMLText("", sizing_mode="stretch_width")
        self.timeline = ColumnDataSource(_timeline_data(_EMPTY_ACTIVITY))
        self.window = Range1d(*timeline_window(_EMPTY_ACTIVITY, datetime.now(timezone.utc)))
        self._clicks = HTMLText("", sizing_mode="stretch_width")
        self._interest = HTMLText("", sizing_mode="stretch_width")
        self._layout = pn.Column(
            self.badge,
            pn.pane.Bokeh(_timeline_figure(self.timeline, self.window), sizing_mode="stretch_width"),
            self._clicks,
            self._interest,
            css_classes=["c360-activity"],
            sizing_mode="stretch_width",
        )
        self._start_pulling()

    @param.depends("store.customer_id", watch=True)
    def refresh(self) -> None:
        """The badge on every pull; her clicks and the hour's products once per click of hers (per
        ``CLICKING_S`` window while she clicks) and per minute, computed once for every session."""
        customer_id = self.store.customer_id
        now = datetime.now(timezone.utc)
        seen = None if customer_id is None else self.stream.last_seen(customer_id)
        badge = _presence_html(seen, now)
        if badge != self.badge.object:
            self.badge.object = badge
        shown = (self.stream, customer_id, self.limit, seen_key(seen), int(now.timestamp() // 60))
        if shown == self._shown:
            return
        self._shown = shown
        activity, clicks, interest = SHARED.get(shown, lambda: self._activity(customer_id, seen))
        with pn.io.hold():
            self.timeline.data = _timeline_data(activity)
            self.window.start, self.window.end = timeline_window(activity, now)
            self._clicks.object = clicks
            self._interest.object = interest

    def _activity(self, customer_id: int | None, seen: LastSeen | None) -> tuple[pd.DataFrame, str, str]:
        """Her latest clicks, their table, and the products she viewed in the last hour."""
        if customer_id is None:
            return _EMPTY_ACTIVITY, _recent_clicks_html(_EMPTY_ACTIVITY), _interest_html({})
        activity = _EMPTY_ACTIVITY if seen is None else self.stream.customer_activity(customer_id, self.limit)
        return (
            activity,
            _recent_clicks_html(activity),
            _interest_html(self.stream.recent_interest(customer_id)),
        )

    def _release(self) -> None:
        self.timeline.data = _timeline_data(_EMPTY_ACTIVITY)
        self._shown = None

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


_EMPTY_ACTIVITY = pd.DataFrame(
    {
        "time": pd.Series([], dtype="datetime64[ms]"),
        "product": pd.Series([], dtype=object),
        "label": pd.Series([], dtype=object),
        "url": pd.Series([], dtype=object),
    }
)


def _timeline_data(activity: pd.DataFrame) -> dict[str, np.ndarray]:
    """The clicks as columns for the timeline, with each product's lane."""
    lanes = np.array([PRODUCTS.index(product) for product in activity["product"]], dtype=np.int64)
    columns = {name: activity[name].to_numpy() for name in ("time", "label", "url")}
    return {**columns, "lane": lanes}


def timeline_window(activity: pd.DataFrame, now: datetime) -> tuple[float, float]:
    """The timeline's x range in epoch milliseconds: every click shown and at least the hour up to the
    latest (up to now without clicks), with a margin, so that one click reads against a clock time rather
    than microsecond ticks around a single point."""
    end = activity["time"].max().timestamp() * 1000 if len(activity) else now.timestamp() * 1000
    start = min(activity["time"].min().timestamp() * 1000 if len(activity) else end, end - TIMELINE_MIN_MS)
    margin = (end - start) * 0.03
    return start - margin, end + margin


def _timeline_figure(source: ColumnDataSource, window: Range1d) -> figure:
    """One lane per product, a dot per click; the x range (``window``) follows the clicks shown."""
    plot = time_figure(
        "Latest clicks",
        height=260,
        x_axis_label="time (UTC)",
        x_range=window,
        y_range=(-0.5, len(PRODUCTS) - 0.5),
    )
    plot.yaxis.ticker = FixedTicker(ticks=list(range(len(PRODUCTS))))
    plot.yaxis.major_label_overrides = {lane: LABELS[product] for lane, product in enumerate(PRODUCTS)}
    dots = plot.scatter("time", "lane", source=source, size=9, color="#0b3d91")
    add_hover(plot, dots, [("time", "@time{%H:%M:%S}"), ("product", "@label"), ("page", "@url")], "time")
    return plot


def presence(seen: LastSeen | None, now: datetime) -> str:
    """'online now', 'last seen 12 min ago' or 'not seen on the website'."""
    if seen is None:
        return "not seen on the website"
    if seen.online(ONLINE_WITHIN, now):
        return "online now"
    age = seen.age(now)
    if age < timedelta(hours=1):
        return f"last seen {int(age.total_seconds() // 60)} min ago"
    if age < timedelta(days=2):
        return f"last seen {int(age.total_seconds() // 3600)} h ago"
    return f"last seen {age.days} days ago"


def _presence_html(seen: LastSeen | None, now: datetime) -> str:
    text = presence(seen, now)
    kind = "online" if seen is not None and seen.online(ONLINE_WITHIN, now) else "away"
    badge = f"<span class='c360-badge c360-badge-{kind}'>{escape(text)}</span>"
    if seen is not None:
        badge += (
            f" <span class='c360-muted'>on</span> <b>{escape(seen.product_label)}</b>"
            f"<div class='c360-page'>{_page_html(seen.url)}</div>"
        )
    return f"<div class='c360-online'>{badge}</div>"


def _page_html(url: str) -> str:
    short = url if len(url) <= PAGE_CHARS else url[: PAGE_CHARS - 1] + "…"
    return f"<span title='{escape(url)}'>{escape(short)}</span>"


def _recent_clicks_html(activity: pd.DataFrame) -> str:
    if activity.empty:
        return "<p class='c360-recent-clicks c360-muted'>No clicks from this customer in the stream.</p>"
    rows = "".join(
        f"<tr><td>{escape(click.time.strftime('%H:%M:%S'))}</td><td>{escape(click.label)}</td>"
        f"<td>{_page_html(click.url)}</td></tr>"
        for click in activity.tail(TIMELINE_ROWS).iloc[::-1].itertuples()
    )
    header = "<tr><th>UTC</th><th>product</th><th>page</th></tr>"
    return f"<table class='c360-recent-clicks'>{header}{rows}</table>"


def _interest_html(interest: dict[str, int]) -> str:
    if not interest:
        return "<p class='c360-interest c360-muted'>No products viewed in the last hour.</p>"
    items = "".join(
        f"<li>{escape(LABELS.get(product, product))} <span class='c360-muted'>×{count}</span></li>"
        for product, count in interest.items()
    )
    return f"<div class='c360-interest'><b>Viewed in the last hour</b><ul>{items}</ul></div>"


class StreamHealth(LiveView):
    """Where the clicks come from and how the stream is doing: state, lag, messages/s, drops by reason."""

    period = param.Integer(default=5000, bounds=(100, None), constant=True)

    def __init__(self, **params):
        super().__init__(**params)
        self.panel = HTMLText("", sizing_mode="stretch_width")
        self._start_pulling()

    def refresh(self) -> None:
        html = health_html(self.stream.health())
        if html != self.panel.object:
            self.panel.object = html

    def __panel__(self) -> pn.viewable.Viewable:
        return self.panel


def health_html(health: dict) -> str:
    """The health dictionary as a short list; an offline stream says so first.

    A shared state (Redis) also lists the aggregators alive and each partition's lag behind its committed
    offset; its drops are summed over the aggregators.
    """
    state = "offline" if health["state"] == "offline" else "ok" if health["state"] == "live" else "other"
    dropped = ", ".join(
        f"{reason.replace('_', ' ')} {count:,}" for reason, count in health["dropped"].items() if count
    )
    lag = "—" if health["lag"] is None else f"{health['lag']:,} messages"
    return (
        "<div class='c360-stream-health'>"
        f"<p class='c360-stream-{state}'><b>Click stream: {escape(health['status'])}</b>"
        f" <span class='c360-muted'>({escape(health['source'])}: {escape(health['detail'])})</span></p>"
        "<ul class='c360-health'>"
        f"<li>consumer lag: {lag}</li>"
        f"<li>messages/s: {health['messages_per_s']:,.0f} (accepted clicks/s: {health['clicks_per_s']:,.0f})</li>"
        f"<li>dropped: {dropped or 'none'}"
        f" <span class='c360-muted'>of {health['received']:,} received</span></li>"
        f"{_aggregators_html(health)}</ul></div>"
    )


def _aggregators_html(health: dict) -> str:
    """The aggregators alive and the lag per partition, for a state the aggregators share."""
    if "aggregators" not in health:
        return ""
    alive = "".join(
        f"<li>{escape(a['id'])}: partitions {escape(_partition_list(a.get('partitions', [])))}"
        f" · {a.get('clicks_per_s', 0):,.0f} clicks/s · {escape(a.get('state', ''))}</li>"
        for a in health["aggregators"]
    )
    lags = " · ".join(
        f"{row['partition']}: {'—' if row['lag'] is None else format(row['lag'], ',')}"
        + ("" if row["owner"] else " (no aggregator)")
        for row in health.get("partitions", [])
    )
    return (
        f"<li>aggregators alive: {len(health['aggregators'])}<ul class='c360-aggregators'>{alive}</ul></li>"
        f"<li>lag per partition (behind its committed offset): {escape(lags) or '—'}</li>"
    )


def _partition_list(partitions: list[int]) -> str:
    return ", ".join(str(p) for p in partitions) or "none"
