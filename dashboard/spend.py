"""Spend rate: the customer's cumulative card spending, the fitted rate and where it is heading."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import param
from panel.viewable import Viewer

from dashboard.markup import escape, keeps_going
from dashboard.store import CustomerStore
from models.ltv import SpendRate


def spend_note(rate: SpendRate) -> str:
    """The rate in words under the plot; the model's note (not enough history, or a former customer's
    "left on ...: nothing projected") comes first, and a former customer's rate is the one they left with."""
    if not rate.enough_history:
        return rate.note
    when = "by then" if rate.note else "now"
    rates = f"${rate.monthly_rate:,.0f} a month {when} (${rate.average_monthly:,.0f} average over the window)"
    return f"{rate.note} · {rates}" if rate.note else rates


class SpendView(Viewer):
    """The original's Spend Rate plot, with the regression line and a projection."""

    store = param.ClassSelector(class_=CustomerStore)

    def __init__(self, **params):
        super().__init__(**params)
        self.plot = pn.pane.HoloViews(sizing_mode="stretch_width", height=260)
        self.note = pn.pane.HTML()
        self._update()

    @param.depends("store.record", watch=True)
    @keeps_going
    def _update(self) -> None:
        record, models = self.store.record, self.store.services.models
        if record is None or models is None:
            self.plot.object, self.note.object = None, ""
            return
        rate = models.spend_rate(record.transactions, customer_id=record.profile["id"])
        if rate.cumulative.empty:
            self.plot.object, self.note.object = None, f"<p class='c360-muted'>{escape(rate.note)}</p>"
            return
        actual = hv.Curve(rate.cumulative, "date", ("cumulative", "Spent ($)"), label="spending").opts(
            color="#1f77b4", line_width=2
        )
        layers = [actual * hv.Scatter(actual).opts(color="#1f77b4", size=3)]
        if rate.enough_history:
            layers.append(
                hv.Curve(rate.fitted, "date", "cumulative", label="fitted rate").opts(color="#d62728")
            )
        if not rate.projection.empty:  # empty without enough history, and for a former customer
            layers.append(
                hv.Curve(rate.projection, "date", "cumulative", label="projection").opts(
                    color="#d62728", line_dash="dashed"
                )
            )
        self.plot.object = hv.Overlay(layers).opts(
            title="Spend rate",
            responsive=True,
            height=250,
            legend_position="top_left",
            yformatter="$%d",
            show_grid=True,
            tools=["hover"],
        )
        self.note.object = f"<p class='c360-muted'>{escape(spend_note(rate))}</p>"

    def __panel__(self):
        return pn.Column(self.plot, self.note, css_classes=["c360-spend"], sizing_mode="stretch_width")
