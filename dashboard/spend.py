"""Spend rate: the customer's cumulative card spending, the fitted rate and where it is heading."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, NumeralTickFormatter
from bokeh.plotting import figure
from panel.viewable import Viewer

from dashboard.markup import HTMLText, escape, keeps_going
from dashboard.plots import add_hover, time_figure
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


def _layer_data(frame: pd.DataFrame) -> dict:
    return {"date": frame["date"].to_numpy(), "cumulative": frame["cumulative"].to_numpy()}


def _spend_figure(sources: dict[str, ColumnDataSource]) -> figure:
    """Spending as a line with its points, the fitted rate and its dashed projection; ranges follow the data."""
    plot = time_figure("Spend rate", height=250, y_axis_label="Spent ($)")
    plot.yaxis.formatter = NumeralTickFormatter(format="$0,0")
    spending = sources["spending"]
    line = plot.line(
        "date", "cumulative", source=spending, color="#1f77b4", line_width=2, legend_label="spending"
    )
    plot.scatter("date", "cumulative", source=spending, color="#1f77b4", size=3, legend_label="spending")
    plot.line(
        "date", "cumulative", source=sources["fitted rate"], color="#d62728", legend_label="fitted rate"
    )
    plot.line(
        "date",
        "cumulative",
        source=sources["projection"],
        color="#d62728",
        line_dash="dashed",
        legend_label="projection",
    )
    plot.legend.location = "top_left"
    add_hover(plot, line, [("date", "@date{%F}"), ("spent", "@cumulative{$0,0}")], "date", mode="vline")
    return plot


class SpendView(Viewer):
    """The original's Spend Rate plot, with the regression line and a projection.

    A Bokeh figure whose data sources take the selected customer's frames: a selection sends only the new
    points, where a HoloViews plot re-rendered its 90 models (about 140 ms of server time per page and a
    good part of each selection, profiled).
    """

    store = param.ClassSelector(class_=CustomerStore)

    def __init__(self, **params):
        super().__init__(**params)
        data, note = self._spending()
        self.sources = {name: ColumnDataSource(_layer_data(frame)) for name, frame in data.items()}
        self.plot = pn.pane.Bokeh(_spend_figure(self.sources), sizing_mode="stretch_width", height=260)
        self._plot_area = pn.Column(self.plot, visible=self._has_spending(data), sizing_mode="stretch_width")
        self.note = HTMLText(note)

    def layers(self) -> list[str]:
        """The layers drawn for the selected customer (the others are empty)."""
        return [name for name in LAYERS if len(self.sources[name].data["date"])]

    @staticmethod
    def _has_spending(data: dict[str, pd.DataFrame]) -> bool:
        return not data["spending"].empty

    def _spending(self) -> tuple[dict[str, pd.DataFrame], str]:
        """The plot's frames and the note under it, for the selected customer."""
        empty = dict.fromkeys(LAYERS, no_spending())
        record, models = self.store.record, self.store.services.models
        if record is None or models is None:
            return empty, ""
        if record.banking_error:  # no transactions came back: say why, never "not enough history"
            return empty, f"<p class='c360-error'>No spending to show: {escape(record.banking_error)}</p>"
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
            for name, frame in data.items():
                if len(frame) or len(self.sources[name].data["date"]):
                    self.sources[name].data = _layer_data(frame)
            self.note.object = note

    def __panel__(self):
        return pn.Column(self._plot_area, self.note, css_classes=["c360-spend"], sizing_mode="stretch_width")
