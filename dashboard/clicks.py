"""Live click-stream views: the whole website's clicks per second, the selected customer's activity, health.

Every view pulls from the process-wide ``ClickStream`` on its own periodic callback, in its own session:
the consumer thread never touches a Bokeh model, each browser gets updates at the pace of its own timer,
and the live line receives only the rows that are new (``ColumnDataSource.stream`` with a rollover); the
customer's timeline is redrawn only when they click. When the session ends, the callbacks stop and the
buffers are emptied.

Each view also works alone, e.g. in a notebook: ``LiveClicks(stream=stream)`` or
``CustomerActivity(stream=stream, store=store)``, where ``store`` is a ``CustomerStore`` (or any
Parameterized with a ``customer_id`` parameter). Text from the web (page addresses) is always escaped.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from connectors.clicks_pipeline import HISTORY_BUCKETS, rates_frame
from connectors.clickstream import ONLINE_WITHIN, ClickStream, LastSeen
from connectors.products import LABELS, PRODUCTS
from dashboard.markup import escape
from dashboard.timer import SessionTimer

PRODUCT_AVERAGE_ROWS = 100  # the bars average the last 10 s of 100 ms rows
TIMELINE_ROWS = 8  # clicks listed under the timeline plot
PAGE_CHARS = 80  # page addresses longer than this are shortened on screen (in full on hover)


class LiveView(pn.viewable.Viewer):
    """A view that pulls from the stream every ``period`` ms while its session lives."""

    stream = param.ClassSelector(class_=ClickStream, constant=True, doc="the process-wide click stream")
    period = param.Integer(default=1000, bounds=(100, None), constant=True, doc="milliseconds between pulls")

    def __init__(self, **params):
        super().__init__(**params)
        self._timer: SessionTimer | None = None

    def _start_pulling(self) -> None:
        """Pull once the page is connected and then every ``period``; let go when the session ends."""
        self._timer = SessionTimer(self.refresh, self.period, at_start=True)
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(self._session_destroyed)

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


def _forget(stream: hv.streams.Pipe, empty: pd.DataFrame) -> None:
    """Replace a stream's data without redrawing: the session that showed it is gone."""
    with param.edit_constant(stream):
        stream.data = empty


class LiveClicks(LiveView):
    """Clicks per second on the whole website: the rate right now, a live line of it, and by product.

    The session pulls every ``period`` (1 s). The line is a Bokeh figure whose data source takes only the
    new rows (``ColumnDataSource.stream`` with a rollover of the last 5 minutes), which costs the server
    about 1 ms a session; a HoloViews ``Buffer`` re-render of the same line cost 15–20 ms (profiled with
    50 sessions open), most of it Bokeh re-walking the whole page's models. The per-product breakdown is
    HTML bars for the same reason (twelve lines or a Bars plot cost 15–40 ms an update).
    """

    period = param.Integer(default=1000, bounds=(100, None), constant=True)

    def __init__(self, **params):
        super().__init__(**params)
        self._cursor: int | None = None
        empty = rates_frame(np.empty(0, np.int64), np.empty((0, len(PRODUCTS))))
        self._recent = empty
        self.source = ColumnDataSource(_line_data(empty))
        self.now = pn.pane.HTML(_now_html(None), sizing_mode="stretch_width")
        self.by_product = pn.pane.HTML(_products_html(empty), sizing_mode="stretch_width")
        self._layout = pn.Column(
            self.now,
            pn.pane.Bokeh(_total_figure(self.source), sizing_mode="stretch_width"),
            self.by_product,
            css_classes=["c360-clicks"],
            sizing_mode="stretch_width",
        )
        self._start_pulling()

    def refresh(self) -> None:
        rows, self._cursor = self.stream.global_rates_since(self._cursor)
        if rows.empty:
            return
        self._recent = pd.concat([self._recent, rows], ignore_index=True).tail(PRODUCT_AVERAGE_ROWS)
        with pn.io.hold():
            self.now.object = _now_html(rows.iloc[-1])
            self.source.stream(_line_data(rows), rollover=HISTORY_BUCKETS)
            self.by_product.object = _products_html(self._recent)

    def _release(self) -> None:
        self._recent = self._recent.iloc[:0]
        self.source.data = _line_data(self._recent)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


def _line_data(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"time": rows["time"].to_numpy(), "total": rows["total"].to_numpy()}


def _total_figure(source: ColumnDataSource) -> figure:
    """The live line: the last 5 minutes of clicks per second, ranges following the data."""
    plot = figure(
        title="Clicks per second, whole website",
        x_axis_type="datetime",
        x_axis_label="time (UTC)",
        y_axis_label="clicks/s",
        height=200,
        sizing_mode="stretch_width",
        tools="pan,wheel_zoom,reset",
        toolbar_location="above",
    )
    plot.y_range.start = 0
    line = plot.line("time", "total", source=source, line_width=2, color="#0b3d91")
    plot.add_tools(
        HoverTool(
            renderers=[line],
            tooltips=[("time", "@time{%H:%M:%S}"), ("clicks/s", "@total{0,0}")],
            formatters={"@time": "datetime"},
            mode="vline",
        )
    )
    return plot


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
        self.badge = pn.pane.HTML("", sizing_mode="stretch_width")
        self.timeline = hv.streams.Pipe(data=_EMPTY_ACTIVITY)
        self._clicks = pn.pane.HTML("", sizing_mode="stretch_width")
        self._interest = pn.pane.HTML("", sizing_mode="stretch_width")
        self._layout = pn.Column(
            self.badge,
            pn.pane.HoloViews(
                hv.DynamicMap(_timeline_plot, streams=[self.timeline]), sizing_mode="stretch_width"
            ),
            self._clicks,
            self._interest,
            css_classes=["c360-activity"],
            sizing_mode="stretch_width",
        )
        self._start_pulling()

    @param.depends("store.customer_id", watch=True)
    def refresh(self) -> None:
        customer_id = self.store.customer_id
        now = datetime.now(timezone.utc)
        seen = None if customer_id is None else self.stream.last_seen(customer_id)
        badge = _presence_html(seen, now)
        if badge != self.badge.object:
            self.badge.object = badge
        shown = (customer_id, seen)
        if shown != self._shown:  # a new customer or a new click: redraw the timeline
            self._shown = shown
            activity = (
                _EMPTY_ACTIVITY if seen is None else self.stream.customer_activity(customer_id, self.limit)
            )
            with pn.io.hold():
                self.timeline.send(activity)
                self._clicks.object = _recent_clicks_html(activity)
        interest = _interest_html({} if customer_id is None else self.stream.recent_interest(customer_id))
        if interest != self._interest.object:  # the last hour moves on even without clicks
            self._interest.object = interest

    def _release(self) -> None:
        _forget(self.timeline, _EMPTY_ACTIVITY)
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


def _timeline_plot(data: pd.DataFrame) -> hv.Scatter:
    """One lane per product, a dot per click."""
    lanes = data.assign(lane=[PRODUCTS.index(p) for p in data["product"]])
    return hv.Scatter(lanes, "time", ["lane", "label", "url"]).opts(
        title="Latest clicks",
        xlabel="time (UTC)",
        ylabel="",
        yticks=list(enumerate(LABELS[p] for p in PRODUCTS)),
        ylim=(-0.5, len(PRODUCTS) - 0.5),
        responsive=True,
        height=260,
        size=9,
        framewise=True,
        tools=["hover"],
        hover_tooltips=[("time", "@time{%H:%M:%S}"), ("product", "@label"), ("page", "@url")],
        hover_formatters={"@time": "datetime"},
    )


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
        self.panel = pn.pane.HTML("", sizing_mode="stretch_width")
        self._start_pulling()

    def refresh(self) -> None:
        html = health_html(self.stream.health())
        if html != self.panel.object:
            self.panel.object = html

    def __panel__(self) -> pn.viewable.Viewable:
        return self.panel


def health_html(health: dict) -> str:
    """The health dictionary as a short list; an offline stream says so first."""
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
        "</ul></div>"
    )
