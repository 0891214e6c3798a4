"""Likely calling about: the top three reasons for the customer's call, how likely, and why, before hello."""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewer

from dashboard.markup import HTMLText, escape, keeps_going
from dashboard.store import CustomerStore


def reasons_html(insights, as_of) -> str:
    """The likely reasons with their probability and evidence, every text escaped; what the reasons could
    not use (the contact history unavailable) is said first."""
    note = f"<p class='c360-error'>{escape(insights.reasons_note)}</p>" if insights.reasons_note else ""
    rows = "".join(
        f"<li><b>{escape(likely.label)}</b>"
        f"<span class='c360-reason-bar' style='width:{100 * likely.probability:.0f}px'></span>"
        f"{likely.probability:.0%}"
        f"<ul class='c360-evidence'>{''.join(f'<li>{escape(text)}</li>' for text in likely.evidence)}</ul></li>"
        for likely in insights.reasons
    )
    since = (
        f"<p class='c360-muted'>from their activity up to {escape(as_of.isoformat())} (the data's today) "
        "and their live browsing of the last hour</p>"
    )
    return f"{note}<ol class='c360-reasons'>{rows}</ol>{since}"


class ReasonView(Viewer):
    """The likely reasons for the selected customer's call; they follow the live browsing with the
    insights (``InsightsView`` asks again when the customer clicks)."""

    store = param.ClassSelector(class_=CustomerStore)

    def __init__(self, **params):
        super().__init__(**params)
        self.body = HTMLText(sizing_mode="stretch_width")
        self._render()

    @param.depends("store.insights", "store.error", watch=True)
    @keeps_going
    def _render(self) -> None:
        insights, models = self.store.insights, self.store.services.models
        if insights is not None and insights.reasons:
            self.body.object = reasons_html(insights, models.as_of)
        elif models is None:
            self.body.object = f"<p class='c360-error'>{escape(self.store.services.models_error)}</p>"
        else:
            self.body.object = (
                f"<p class='c360-muted'>{escape(self.store.error or 'No customer selected.')}</p>"
            )

    def __panel__(self):
        return pn.Column(
            "### Likely calling about", self.body, css_classes=["c360-reason"], sizing_mode="stretch_width"
        )
