"""Spend rate: the customer's cumulative card spending, the fitted rate and where it is heading."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboard.markup import escape, keeps_going
from dashboard.store import CustomerStore
from models.ltv import SpendRate, no_spending


def spend_note(rate: SpendRate) -> str:
    """The rate in words under the plot; the model's note (not enough history, or a former customer's
    "left on ...: nothing projected") comes first, and a former customer's rate is the one they left with."""
    if not rate.enough_history:
        return rate.note
    when = "by then" if rate.note else "now"
    rates = f"${rate.monthly_rate:,.0f} a month {when} (${rate.average_monthly:,.0f} average over the window)"
    return f"{rate.note} · {rates}" if rate.note else rates


LAYERS = ("spending", "fitted rate", "projection")


def _spend_plot(data: dict[str, pd.DataFrame]) -> hv.Overlay:
    """The same four layers for every customer, so a new customer updates the plot instead of replacing it."""
    actual = hv.Curve(data["spending"], "date", ("cumulative", "Spent ($)"), label="spending")
    fitted = hv.Curve(data["fitted rate"], "date", "cumulative", label="fitted rate")
    projection = hv.Curve(data["projection"], "date", "cumulative", label="projection")
    return (
        actual.opts(color="#1f77b4", line_width=2)
        * hv.Scatter(actual).opts(color="#1f77b4", size=3)
        * fitted.opts(color="#d62728")
        * projection.opts(color="#d62728", line_dash="dashed")
    ).opts(
        title="Spend rate",
        responsive=True,
        height=250,
        legend_position="top_left",
        yformatter="$%d",
        show_grid=True,
        tools=["hover"],
        framewise=True,
    )


class SpendView(Viewer):
    """The original's Spend Rate plot, with the regression line and a projection.

    Selecting a customer sends their frames through a ``Pipe``: HoloViews updates the existing plot's data
    and ranges, about ten times cheaper for the server than building a new plot per selection.
    """

    store = param.ClassSelector(class_=CustomerStore)

    def __init__(self, **params):
        super().__init__(**params)
        data, note = self._spending()
        self.pipe = hv.streams.Pipe(data=data)
        self.plot = pn.pane.HoloViews(
            hv.DynamicMap(_spend_plot, streams=[self.pipe]), sizing_mode="stretch_width", height=260
        )
        self._plot_area = pn.Column(self.plot, visible=self._has_spending(data), sizing_mode="stretch_width")
        self.note = pn.pane.HTML(note)

    def layers(self) -> list[str]:
        """The layers drawn for the selected customer (the others are empty)."""
        return [name for name in LAYERS if not self.pipe.data[name].empty]

    @staticmethod
    def _has_spending(data: dict[str, pd.DataFrame]) -> bool:
        return not data["spending"].empty

    def _spending(self) -> tuple[dict[str, pd.DataFrame], str]:
        """The plot's frames and the note under it, for the selected customer."""
        empty = dict.fromkeys(LAYERS, no_spending())
        record, models = self.store.record, self.store.services.models
        if record is None or models is None:
            return empty, ""
        rate = models.spend_rate(record.transactions, customer_id=record.profile["id"])
        if rate.cumulative.empty:
            return empty, f"<p class='c360-muted'>{escape(rate.note)}</p>"
        data = {
            "spending": rate.cumulative,
            "fitted rate": rate.fitted,  # empty without enough history
            "projection": rate.projection,  # empty without enough history, and for a former customer
        }
        return data, f"<p class='c360-muted'>{escape(spend_note(rate))}</p>"

    @param.depends("store.record", watch=True)
    @keeps_going
    def _update(self) -> None:
        data, note = self._spending()
        with pn.io.hold():
            self._plot_area.visible = self._has_spending(data)
            if self._has_spending(data) or self._has_spending(self.pipe.data):
                self.pipe.send(data)
            self.note.object = note

    def __panel__(self):
        return pn.Column(self._plot_area, self.note, css_classes=["c360-spend"], sizing_mode="stretch_width")
