"""The Bokeh figures of the views that change often: time on x, the screen's tools, one hover.

Spend rate, the live line and the customer's clicks are Bokeh figures fed by data sources, so a new
customer or a new second sends only data (HoloViews re-rendered each plot); this keeps the three alike.
"""

from __future__ import annotations

from bokeh.models import HoverTool, Renderer
from bokeh.plotting import figure


def time_figure(title: str, height: int, **options) -> figure:
    """A figure with time on x that stretches to its column's width, with pan, zoom and reset."""
    return figure(
        title=title,
        x_axis_type="datetime",
        height=height,
        sizing_mode="stretch_width",
        tools="pan,wheel_zoom,reset",
        toolbar_location="above",
        **options,
    )


def add_hover(
    plot: figure, renderer: Renderer, tooltips: list[tuple[str, str]], time_field: str, **options
) -> None:
    """Hover on one renderer, its ``time_field`` formatted as a date in the tooltips."""
    plot.add_tools(
        HoverTool(
            renderers=[renderer], tooltips=tooltips, formatters={f"@{time_field}": "datetime"}, **options
        )
    )
