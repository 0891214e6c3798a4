"""Customer location, tenure and sentiment: every customer on a map of the US, drawn by Datashader.

The browser receives an image, not a million points: HoloViews' ``datashade`` aggregates the customers
into the pixels of the current view on the server (again after every pan or zoom), colours each pixel by
the mix of categories in it, and ``dynspread`` enlarges the dots where customers are sparse. There are no
map tiles: the density of customers draws the country by itself, as in Datashader's census example, so
the page loads nothing from outside. The selected customer is a marker sized by their tenure, with their
details on hover; the view moves to them on selection, and the heatmap's persona filter filters the map.

Where customers are comes from ``connectors`` (``Directory.map_points``), their colours from ``models``
(``Insights.segments``); both are read once per process and joined here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import datashader as ds
import datashader.transfer_functions as tf
import holoviews as hv
import holoviews.plotting.bokeh  # registers the Bokeh options the view sets
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.palettes import Category10_10
from holoviews.operation.datashader import datashade, dynspread
from panel.viewable import Viewer

from dashboard.markup import HTMLText, escape, keeps_going
from dashboard.services import Services, SharedResults
from dashboard.store import CustomerStore

NOT_SCORED = "not scored yet"
TENURE_BANDS = ((0, "under 2 years"), (2, "2–5 years"), (5, "5–10 years"), (10, "10 years or more"))
COLOURINGS = {"Sentiment": "sentiment", "Churn risk": "churn", "Persona": "persona", "Tenure": "tenure"}
FIXED_COLOURS = {
    "sentiment": {"NEGATIVE": "#d62728", "NEUTRAL": "#e6a700", "POSITIVE": "#2ca02c", "UNKNOWN": "#9ca3af"},
    "churn": {"Low": "#2ca02c", "Medium": "#ff7f0e", "High": "#d62728", "Left": "#6b7280"},
    "tenure": {
        "under 2 years": "#9ecae1",
        "2–5 years": "#4292c6",
        "5–10 years": "#2171b5",
        "10 years or more": "#08306b",
    },
}
NOT_SCORED_COLOUR = "#c4c4c4"
US_VIEW = ((-125.0, -66.5), (24.0, 49.8))  # the contiguous states, longitude and latitude
REGION_DEGREES = 8.0  # the widest view (longitude) a selection zooms to
ASPECT = 1 / np.cos(np.radians(38.0))  # degrees of latitude look as long as longitude's at 38°N
_build_lock = threading.Lock()


@dataclass(frozen=True)
class CustomerMap:
    """Every placeable customer with one category column per colouring, and the colours of each category.

    Category names are prefixed with their colouring ("sentiment:POSITIVE"), so one colour key serves
    every colouring and a persona can be called anything.
    """

    frame: pd.DataFrame  # id, longitude, latitude, tenure_years, persona_id, and a column per colouring
    colours: dict[str, str]  # "colouring:category" -> colour
    compiled: threading.Event = field(default_factory=threading.Event)  # set once Numba has compiled
    subsets: SharedResults = field(default_factory=lambda: SharedResults(size=32))

    def shown(self, colouring: str, persona: int | None) -> pd.DataFrame:
        """The customers on the map (the persona's, when filtered) with the colouring as ``category``: one
        frame per choice for every session (a copy per session was 2.4 MB at 100k customers)."""

        def subset() -> pd.DataFrame:
            column = COLOURINGS[colouring]
            frame = self.frame if persona is None else self.frame[self.frame["persona_id"] == persona]
            return frame[["longitude", "latitude", column]].rename(columns={column: "category"})

        return self.subsets.get((colouring, persona), subset)

    def legend(self, colouring: str, counts: pd.Series) -> list[tuple[str, str, int]]:
        """(label, colour, customers shown) of each category of a colouring, in its order."""
        return [
            (key.split(":", 1)[1], self.colours[key], int(counts.get(key, 0)))
            for key in self.frame[colouring].cat.categories
        ]


def _categories(colouring: str, codes: np.ndarray, known: list[str]) -> pd.Categorical:
    """One colouring's column from category codes (-1: the models do not know the customer, "not scored
    yet"), its categories prefixed; built from the codes, as a million strings cost half a gigabyte."""
    names = [f"{colouring}:{label}" for label in (*known, NOT_SCORED)]
    return pd.Categorical.from_codes(np.where(codes < 0, len(known), codes), categories=names)


def build_customer_map(services: Services) -> CustomerMap:
    """Join the customers' places (connectors) with their categories (models); once per process."""
    points = services.directory.map_points()
    frame = pd.DataFrame(
        {
            "id": points["id"].to_numpy(),
            "longitude": points["longitude"].to_numpy(),
            "latitude": points["latitude"].to_numpy(),
            "tenure_years": points["tenure_years"].to_numpy(),
        }
    )
    bands = [band for _, band in TENURE_BANDS]
    tenure = pd.cut(
        frame["tenure_years"], [at for at, _ in TENURE_BANDS] + [np.inf], right=False, labels=bands
    )
    frame["tenure"] = _categories("tenure", tenure.cat.codes.to_numpy(), bands)
    colours = {f"tenure:{band}": colour for band, colour in FIXED_COLOURS["tenure"].items()}
    persona_names: list[str] = []
    if services.models is not None:
        segments = services.models.segments().set_index("customer_id").reindex(frame["id"])
        persona_names = list(segments["persona"].cat.categories)
        for colouring in ("sentiment", "churn", "persona"):
            known = list(segments[colouring].cat.categories)
            frame[colouring] = _categories(colouring, segments[colouring].cat.codes.to_numpy(), known)
        frame["persona_id"] = segments["persona_id"].fillna(-1).astype(np.int64).to_numpy()
    else:
        for colouring in ("sentiment", "churn", "persona"):
            frame[colouring] = _categories(colouring, np.full(len(frame), -1), [])
        frame["persona_id"] = -1
    for colouring in ("sentiment", "churn"):
        colours |= {f"{colouring}:{label}": colour for label, colour in FIXED_COLOURS[colouring].items()}
    colours |= {f"persona:{name}": Category10_10[n % 10] for n, name in enumerate(persona_names)}
    colours |= {f"{colouring}:{NOT_SCORED}": NOT_SCORED_COLOUR for colouring in COLOURINGS.values()}
    customers = CustomerMap(frame, colours)
    threading.Thread(target=_compile, args=(customers,), name="map-compile", daemon=True).start()
    return customers


def _compile(customers: CustomerMap) -> None:
    """Let Numba compile Datashader's spreading and each colouring's aggregation on a few customers, in
    the background as the process starts, rather than during a representative's first zoom or change of
    colours (3 s of compiling for the first zoom, measured at 100,000 customers)."""
    canvas = ds.Canvas(plot_width=8, plot_height=8)
    few = customers.frame.head(50)
    try:
        for column in COLOURINGS.values():
            points = few[["longitude", "latitude", column]].rename(columns={column: "category"})
            image = tf.shade(
                canvas.points(points, "longitude", "latitude", ds.count_cat("category")),
                color_key=customers.colours,
            )
            tf.spread(image, px=2, shape="circle")
    finally:
        customers.compiled.set()


def customer_map(services: Services) -> CustomerMap:
    """The process's customer map data, built on first use."""
    with _build_lock:
        return pn.state.as_cached(f"customer360-map-{id(services)}", lambda: build_customer_map(services))


class MapView(Viewer):
    """Where customers are, coloured by sentiment, churn risk, persona or tenure; follows the selection."""

    store = param.ClassSelector(class_=CustomerStore)
    colour_by = param.Selector(objects=list(COLOURINGS), default="Sentiment", doc="what the colours show")
    spread = param.Integer(default=4, bounds=(0, 8), doc="how far sparse dots are enlarged, in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        self.data = customer_map(self.store.services)
        self.legend = HTMLText(css_classes=["c360-legend"], sizing_mode="stretch_width")
        self.note = HTMLText(css_classes=["c360-map-note"], sizing_mode="stretch_width")
        self.title = pn.pane.Markdown(margin=(0, 10))
        self._figure = None
        self._pending: tuple | None = None  # the view a selection moved to, until its image is drawn
        if self.store.services.models is None:  # after the attributes: the change runs the watchers
            self.param.colour_by.objects = ["Tenure"]
            self.colour_by = "Tenure"
        self._describe()
        customers = hv.DynamicMap(
            pn.bind(self._customers, colour_by=self.param.colour_by, persona=self.store.param.persona)
        )
        self.view = hv.streams.RangeXY()  # the view's ranges, which a selection moves
        self.size = hv.streams.PlotSize()  # the plot's size in pixels, as the browser reports it
        shaded = datashade(
            customers,
            streams=[self.size, self.view],
            aggregator=ds.count_cat("category"),
            color_key=self.data.colours,
            min_alpha=90,
            x_range=US_VIEW[0],
            y_range=US_VIEW[1],
        )
        spread = dynspread(shaded, max_px=self.param.spread, threshold=0.8)
        marker = hv.DynamicMap(pn.bind(self._marker, record=self.store.param.record))
        spread = spread.opts(
            responsive=True,
            data_aspect=ASPECT,
            max_height=560,
            xaxis=None,
            yaxis=None,
            bgcolor="#f8fafc",
            show_legend=False,  # the legend above names the categories and counts them
            active_tools=["wheel_zoom", "pan"],
            hooks=[self._keep_figure],
        )
        marker = marker.opts(
            size="size",
            color="#111827",
            fill_alpha=0.15,
            line_color="#111827",
            line_width=2,
            tools=["hover"],
            hover_tooltips=[("customer", "@name"), ("lives in", "@place"), ("customer for", "@tenure")],
        )
        self.plot = spread * marker
        self.pane = pn.pane.HoloViews(self.plot, sizing_mode="stretch_width", linked_axes=False)
        self.store.param.watch(self._move_to_customer, "record")

    def _customers(self, colour_by: str, persona: int | None) -> hv.Points:
        return hv.Points(
            self.data.shown(colour_by, persona), kdims=["longitude", "latitude"], vdims=["category"]
        )

    @param.depends("colour_by", "store.persona", watch=True)
    @keeps_going
    def _describe(self) -> None:
        """Title, legend (with how many customers each colour stands for) and note, before any drawing."""
        colour_by, persona = self.colour_by, self.store.persona
        column = COLOURINGS[colour_by]
        counts = self.data.shown(colour_by, persona)["category"].value_counts()
        entries = "".join(
            f"<span class='c360-key'><span class='c360-swatch' style='background:{colour}'></span>"
            f"{escape(label)} <span class='c360-muted'>{count:,}</span></span>"
            for label, colour, count in self.data.legend(column, counts)
            if count or label != NOT_SCORED
        )
        self.title.object = f"### Customer location, tenure and {colour_by.lower()}"
        self.legend.object = f"<div class='c360-legend-keys'><b>{escape(colour_by)}</b> {entries}</div>"
        names = self.store.services.persona_names
        self.note.object = (
            f"<p class='c360-muted'>{int(counts.sum()):,} customers"
            + (f" of persona <b>{escape(names.get(persona, persona))}</b>" if persona is not None else "")
            + " · scroll to zoom, drag to pan</p>"
        )

    def _marker(self, record) -> hv.Points:
        columns = ["longitude", "latitude", "name", "place", "tenure", "size"]
        place = self._place(record)
        if place is None:
            return hv.Points(pd.DataFrame(columns=columns), kdims=columns[:2], vdims=columns[2:])
        return hv.Points(pd.DataFrame([place]), kdims=columns[:2], vdims=columns[2:])

    def _place(self, record) -> dict | None:
        """The selected customer's marker: where the map has them, with their address and tenure."""
        if record is None:
            return None
        frame = self.data.frame
        row = int(np.searchsorted(frame["id"].to_numpy(), record.profile.get("id", -1)))
        if row >= len(frame) or frame["id"].iat[row] != record.profile.get("id"):
            return None  # not placeable: no coordinates in their profile
        address = record.profile.get("address") or {}
        where = ", ".join(str(part) for part in (address.get("city"), address.get("state")) if part)
        tenure = float(frame["tenure_years"].iat[row])
        return {
            "longitude": float(frame["longitude"].iat[row]),
            "latitude": float(frame["latitude"].iat[row]),
            "name": str(record.profile.get("name") or ""),
            "place": f"{where} {address.get('zip') or ''}".strip(),
            "tenure": f"{tenure:.1f} years",
            "size": 10 + 1.2 * min(max(tenure, 0), 20),
        }

    def _keep_figure(self, plot, element) -> None:
        """The Bokeh figure this view draws into, so a selection can move its ranges."""
        self._figure = plot.state

    @keeps_going
    def _move_to_customer(self, event) -> None:
        place = self._place(event.new)
        figure = self._figure
        if place is None or figure is None:
            return
        x, y = figure.x_range, figure.y_range
        width = min(REGION_DEGREES, (x.end - x.start) if x.end is not None else REGION_DEGREES)
        height = width * ((y.end - y.start) / (x.end - x.start) if x.end and y.end else 1 / ASPECT)
        x_range = (place["longitude"] - width / 2, place["longitude"] + width / 2)
        y_range = (place["latitude"] - height / 2, place["latitude"] + height / 2)
        x.update(start=x_range[0], end=x_range[1])  # the browser's view moves with the selection…
        y.update(start=y_range[0], end=y_range[1])
        self._pending = (x_range, y_range)  # …and the image is drawn again for it right after
        pn.state.execute(self._redraw, schedule=True)

    @keeps_going
    def _redraw(self) -> None:
        """Draw the image for the latest selection's view, on the server's next tick: the selection's other
        views reach the browser first, without waiting for the map (the slowest of them, profiled)."""
        if self._pending is None:
            return  # a quicker selection after it has drawn already
        (x_range, y_range), self._pending = self._pending, None
        self.view.event(x_range=x_range, y_range=y_range)

    def __panel__(self):
        choice = pn.widgets.RadioButtonGroup.from_param(
            self.param.colour_by, name="", description=None, color="light"
        )
        return pn.Column(
            self.title,  # above the choice, which a long title pushed out of a half-screen column
            choice,
            self.legend,
            self.pane,
            self.note,
            css_classes=["c360-map"],
            sizing_mode="stretch_width",
        )
