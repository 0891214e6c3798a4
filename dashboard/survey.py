"""Survey feedback: the customer's own answers, or their persona's, labelled as inferred."""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewer

from dashboard.markup import HTMLText, escape, keeps_going
from dashboard.store import CustomerStore


def answers_html(surveys) -> str:
    """The customer's answers, newest first; comments are customer text, so escaped."""
    rows = []
    for answer in surveys.sort_values("submitted", ascending=False).itertuples():
        stars = "★" * int(answer.rating) + "☆" * (5 - int(answer.rating))
        rows.append(
            f"<li><span title='{int(answer.rating)} of 5'>{stars}</span> "
            f"<span class='c360-muted'>{escape(str(answer.submitted)[:10])}</span><br>"
            f"“{escape(answer.comment)}”</li>"
        )
    return f"<ul class='c360-answers'>{''.join(rows)}</ul>"


class SurveyView(Viewer):
    """What the customer told us, or what their persona tells us when they never answered."""

    store = param.ClassSelector(class_=CustomerStore)

    def __init__(self, **params):
        super().__init__(**params)
        self.body = HTMLText(sizing_mode="stretch_width")
        self._update()

    @param.depends("store.record", "store.insights", watch=True)
    @keeps_going
    def _update(self) -> None:
        record, insights = self.store.record, self.store.insights
        if record is None:
            self.body.object = ""
            return
        if len(record.surveys):
            sentiment = f"<p>Sentiment: <b>{escape(insights.sentiment.text)}</b></p>" if insights else ""
            self.body.object = sentiment + answers_html(record.surveys)
        elif insights is not None:
            self.body.object = (
                "<p class='c360-inferred'>No survey answers from this customer. Inferred from their persona "
                f"({escape(insights.persona.name)}):</p><p>{escape(insights.sentiment.text)}</p>"
            )
        else:
            self.body.object = "<p class='c360-muted'>No survey answers from this customer.</p>"

    def __panel__(self):
        return pn.Column(
            "### Survey feedback", self.body, css_classes=["c360-survey"], sizing_mode="stretch_width"
        )
