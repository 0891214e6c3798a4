"""Behind the scenes: the SQL that last ran and its time, data freshness, skipped source lines, stream lag
and drops, how many representatives opened the customer's record today (the audit); and the header's red marker that says when a source lost lines."""

from __future__ import annotations

import os

import panel as pn
import param
from panel.viewable import Viewer

from connectors import jsonlines
from connectors.catalog import counted
from connectors.desk import DeskUnavailable
from dashboard.markup import HTMLText, escape, keeps_going
from dashboard.services import Services
from dashboard.store import CustomerStore
from dashboard.timer import SessionTimer

LISTED_LINES = 5  # line numbers shown per file and reason (the counts cover every line)
MARKER_REFRESH_MS = 10_000
# The behind-the-scenes card is the page's last part: once it has opened, bring it into view.
SCROLL_TO_END_JS = (
    "setTimeout(() => window.scrollTo({top: document.body.scrollHeight, behavior: 'smooth'}), 400)"
)


def source_skips(services: Services) -> dict[str, dict]:
    """The source lines skipped as unreadable, per file: what the directory's build (profiles, surveys and
    the click file, as read now) could not use."""
    return services.directory.health()["skipped_lines"]


def lost_lines(skipped: dict[str, dict]) -> int:
    """How many source lines were skipped in all."""
    return sum(detail["skipped"] for detail in skipped.values())


def skipped_lines_html(skipped: dict[str, dict]) -> str:
    """Per file: how many lines were skipped and why, with the first line numbers of each reason."""
    if not skipped:
        return "<p class='c360-skips'>Skipped source lines: none.</p>"
    rows = "".join(
        f"<li><b>{escape(name)}</b>: {counted(detail['skipped'], 'line')} skipped — "
        f"{escape(jsonlines.summary(detail, LISTED_LINES))}</li>"
        for name, detail in sorted(skipped.items())
    )
    return (
        f"<div class='c360-skips'><p class='c360-error'>{counted(lost_lines(skipped), 'source line')} "
        f"skipped as unreadable: what they hold is missing from the screen. Once they are fixed the "
        f"directory reads them again by itself; retrain the models too.</p><ul>{rows}</ul></div>"
    )


class BehindTheScenes(Viewer):
    """What the screen is built from, for the curious and for whoever is on call."""

    store = param.ClassSelector(class_=CustomerStore)
    refresh_ms = param.Integer(default=5000, doc="how often stream health is refreshed")
    paused = param.Boolean(default=False, doc="skip refreshes while hidden (in a collapsed card)")

    def __init__(self, **params):
        super().__init__(**params)
        self.sql = HTMLText(css_classes=["c360-sql"], sizing_mode="stretch_width")
        self.health = HTMLText(sizing_mode="stretch_width")
        self.skips = HTMLText(sizing_mode="stretch_width")
        self._show_sql()
        self._show_health()
        self._timer = SessionTimer(self._show_health, self.refresh_ms)
        self._timer.paused = self.paused

    @param.depends("paused", watch=True)
    def _follow_paused(self) -> None:
        self._timer.paused = self.paused  # resuming refreshes the health at once
        if not self.paused:
            self._show_sql()

    @param.depends("store.last_sql", "store.last_ms", watch=True)
    @keeps_going
    def _show_sql(self) -> None:
        if self.paused:
            return
        self.sql.object = (
            f"<p>Last query · {self.store.last_ms:.1f} ms</p><pre>{escape(self.store.last_sql)}</pre>"
        )

    @keeps_going
    def _show_health(self) -> None:
        services = self.store.services
        directory = services.directory.health()
        stream = services.stream.health()
        models = services.models
        model_line = (
            f"models {escape(models.version)} trained {escape(models.trained_at)} on "
            f"{counted(models.metrics['customers'], 'customer')}"
            if models is not None
            else f"<span class='c360-error'>{escape(services.models_error)}</span>"
        )
        dropped = stream.get("dropped", {}) or {}
        dropped_text = ", ".join(f"{escape(k)} {v:,}" for k, v in dropped.items() if v) or "none"
        customers = directory.get("customers")
        html = f"""<ul class='c360-health'>
<li>data: {counted(customers, "customer") if isinstance(customers, int) else "?"}
· banking {escape(directory.get("banking", "?"))} · refreshed {escape(directory.get("refreshed_at", "?"))}</li>
<li>stream: {escape(stream.get("source", "?"))} · {escape(stream.get("state", "?"))}
· {stream.get("messages_per_s", 0):,.0f} msg/s · lag {escape(stream.get("lag", "?"))} · dropped {dropped_text}</li>
<li>{model_line}</li>
<li class='c360-opened-by'>{escape(self._opened_by())}</li>
<li class='c360-served-by'>served by process {os.getpid()} on port {services.settings.port}</li></ul>"""
        if html != self.health.object:
            self.health.object = html
        skips = skipped_lines_html(source_skips(services))
        if skips != self.skips.object:
            self.skips.object = skips

    def _opened_by(self) -> str:
        """How many representatives opened the selected customer's record today (UTC), from the audit."""
        customer_id = self.store.customer_id
        if customer_id is None:
            return "no customer selected"
        try:
            count = self.store.services.desk.openers_today(customer_id)
        except DeskUnavailable as error:
            return f"opened by ? representatives today: {error}"
        return f"customer #{customer_id} opened by {counted(count, 'representative')} today · {self.store.services.desk.status}"

    def __panel__(self):
        return pn.Column(
            "### Behind the scenes", self.sql, self.health, self.skips, sizing_mode="stretch_width"
        )


class SkippedLinesMarker(Viewer):
    """A red marker for the page's header while any source has lost lines; a click opens ``card`` (the
    behind-the-scenes card that lists them). Hidden when nothing was skipped."""

    store = param.ClassSelector(class_=CustomerStore)
    card = param.ClassSelector(class_=pn.Card, default=None, allow_None=True)

    def __init__(self, **params):
        super().__init__(**params)
        self.button = pn.widgets.Button(
            color="danger", css_classes=["c360-skipped"], visible=False, align="center"
        )
        self.button.on_click(self._open)
        self.button.js_on_click(code=SCROLL_TO_END_JS)
        self.refresh()
        self._timer = SessionTimer(self.refresh, MARKER_REFRESH_MS)

    @keeps_going
    def refresh(self) -> None:
        lost = lost_lines(source_skips(self.store.services))
        label = f"⚠ {counted(lost, 'source line')} skipped"
        if (lost > 0, label) != (self.button.visible, self.button.label):
            self.button.param.update(visible=lost > 0, label=label)

    def _open(self, _event) -> None:
        if self.card is not None:
            self.card.collapsed = False

    def __panel__(self):
        return self.button
