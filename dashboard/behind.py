"""Behind the scenes: the SQL that last ran and its time, data freshness, stream lag and drops."""

from __future__ import annotations

import os

import panel as pn
import param
from panel.viewable import Viewer

from dashboard.markup import HTMLText, escape, keeps_going
from dashboard.store import CustomerStore
from dashboard.timer import SessionTimer


class BehindTheScenes(Viewer):
    """What the screen is built from, for the curious and for whoever is on call."""

    store = param.ClassSelector(class_=CustomerStore)
    refresh_ms = param.Integer(default=5000, doc="how often stream health is refreshed")
    paused = param.Boolean(default=False, doc="skip refreshes while hidden (in a collapsed card)")

    def __init__(self, **params):
        super().__init__(**params)
        self.sql = HTMLText(css_classes=["c360-sql"], sizing_mode="stretch_width")
        self.health = HTMLText(sizing_mode="stretch_width")
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
            f"models {escape(models.version)} trained {escape(models.trained_at)}"
            if models is not None
            else f"<span class='c360-error'>{escape(services.models_error)}</span>"
        )
        dropped = stream.get("dropped", {}) or {}
        dropped_text = ", ".join(f"{escape(k)} {v:,}" for k, v in dropped.items() if v) or "none"
        html = f"""<ul class='c360-health'>
<li>data: {escape(directory.get("customers", "?"))} customers · banking {escape(directory.get("banking", "?"))}
· refreshed {escape(directory.get("refreshed_at", "?"))}</li>
<li>stream: {escape(stream.get("source", "?"))} · {escape(stream.get("state", "?"))}
· {stream.get("messages_per_s", 0):,.0f} msg/s · lag {escape(stream.get("lag", "?"))} · dropped {dropped_text}</li>
<li>{model_line}</li>
<li class='c360-served-by'>served by process {os.getpid()} on port {services.settings.port}</li></ul>"""
        if html != self.health.object:
            self.health.object = html

    def __panel__(self):
        return pn.Column("### Behind the scenes", self.sql, self.health, sizing_mode="stretch_width")
