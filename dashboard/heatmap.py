"""Customer profiles: persona × product adoption; clicking a cell lists that persona in the directory."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import param
from panel.viewable import Viewer

from dashboard.markup import HTMLText, keeps_going
from dashboard.store import CustomerStore
from models.heatmap import highlighting


def persona_from_label(label: str | None) -> int | None:
    """The persona id of a heatmap row label such as "2 · Families and homeowners"."""
    head = (label or "").split("·", 1)[0].strip()
    return int(head) if head.isdigit() else None


class HeatmapView(Viewer):
    """Upsell and cross-sell chances by persona, the selected customer's persona highlighted.

    The heatmap is drawn once per page; a new persona changes the cells' alpha and the title in the
    drawn figure (``_keep_figure``), where a redraw by HoloViews took 90 ms of every selection (profiled).
    """

    store = param.ClassSelector(class_=CustomerStore)
    highlight = param.Integer(default=None, allow_None=True, doc="the selected customer's persona")

    def __init__(self, **params):
        super().__init__(**params)
        models = self.store.services.models
        if models is None:
            self.pane = HTMLText("<p class='c360-muted'>The heatmap appears once models are trained.</p>")
            return
        self._drawn: dict = {}  # cells' data source id -> (source, title), of each figure drawn of this view
        self._follow_persona()
        plot = models.heatmap(highlight_persona=self.highlight).opts(hooks=[self._keep_figure])
        self.tap = hv.streams.Tap(source=plot, x=None, y=None)
        self.tap.param.watch(self._clicked, ["y"])
        self.pane = pn.pane.HoloViews(plot, sizing_mode="stretch_width", height=340)

    @param.depends("store.insights", watch=True)
    def _follow_persona(self) -> None:
        """Redraw only when the persona changes, not on every re-ranking of the same customer's offers."""
        insights = self.store.insights
        self.highlight = insights.persona.id if insights is not None else None

    def _keep_figure(self, plot, element) -> None:
        source = plot.handles["glyph_renderer"].data_source
        self._drawn[source.id] = (source, plot.state.title)  # the hook runs again when a plot updates
        self._relight(source, plot.state.title)

    @param.depends("highlight", watch=True)
    def _highlight(self) -> None:
        for source, title in self._drawn.values():
            self._relight(source, title)

    def _relight(self, source, title) -> None:
        alpha, text = highlighting(source.data["persona_label"], self.highlight)
        if list(source.data["alpha"]) != list(alpha):
            source.data = {**source.data, "alpha": alpha}
        if title.text != text:
            title.text = text

    @keeps_going
    def _clicked(self, event) -> None:
        persona = persona_from_label(event.new)
        if persona is not None:
            self.store.persona = persona

    def __panel__(self):
        return pn.Column(self.pane, css_classes=["c360-heatmap"], sizing_mode="stretch_width")
