"""Next best action: churn risk, sentiment, persona, the top offers and lifetime value, each with its why."""

from __future__ import annotations

import time

import panel as pn
import param
from panel.viewable import Viewer

from dashboard.markup import HTMLText, escape, keeps_going, tip
from dashboard.services import live_key
from dashboard.store import CustomerStore
from dashboard.timer import SessionTimer
from models import nba


def _churn_reason(churn) -> str:
    parts = [
        f"{factor.name} {'raises' if factor.contribution > 0 else 'lowers'} it: {factor.detail}"
        for factor in churn.top_factors
    ]
    return "; ".join(parts)


def _persona_reason(persona) -> str:
    return (
        f"distance {persona.distance:.2f} to this persona's centre; "
        f"runner-up {persona.runner_up_name} at {persona.runner_up_distance:.2f}"
    )


OFFER_KINDS = {"service": "resolve first", "retention": "retention", "do-not-pitch": nba.DO_NOT_PITCH}


def _offer_html(offer, former: bool) -> str:
    """One offer: a step first (resolve, retain) is marked as such and its reason line gives how likely the
    reason for the call is; an upsell shows its propensity (a former customer's win-back its reason)."""
    kind = OFFER_KINDS.get(offer.kind)
    mark = f" <span class='c360-badge c360-offer-{offer.kind}'>{escape(kind)}</span>" if kind else ""
    score = "" if former or kind else f" {offer.score:.0%}"
    return (
        f"<li><b>{escape(offer.label)}</b>{score}{mark}<br>"
        f"<span class='c360-muted'>{escape(offer.reason)}</span></li>"
    )


def _offers_html(insights) -> str:
    """The top offers with their reasons; a former customer's are win-back offers, whose reason already
    gives the persona's share that is their score."""
    rows = "".join(_offer_html(offer, insights.former) for offer in insights.offers)
    none = (
        "nothing they held is open to them now"
        if insights.former
        else "holds every product they are eligible for"
    )
    return rows or f"<li class='c360-muted'>{none}</li>"


def insights_html(insights) -> str:
    """The table of predictions, every value with its reason on hover; all text escaped.

    A former customer has no churn risk or lifetime value left: churn says when they left, lifetime value
    its note, and the offers are win-back offers.
    """
    sentiment = insights.sentiment
    sentiment_text = (
        escape(sentiment.text)
        if sentiment.source == "survey"
        else f"<span class='c360-inferred'>{escape(sentiment.text)}</span>"
    )
    churn = insights.churn
    if insights.former:
        churn_row = f"<dt>Churn</dt><dd>Left on {churn.closed_on.isoformat()}</dd>"
        ltv = escape(insights.ltv.text)
        offers_title = "Win-back offers"
        why = ""
    else:
        churn_row = f"<dt>Churn risk</dt><dd>{tip(churn.text, _churn_reason(churn))}</dd>"
        ltv = tip(insights.ltv.text, insights.ltv.assumptions)
        offers_title = "Next best offers"
        factors = "".join(
            f"<li>{escape(f.name)}: {'+' if f.contribution > 0 else '−'}{abs(f.contribution):.2f} log-odds"
            f" <span class='c360-muted'>({escape(f.detail)})</span></li>"
            for f in churn.factors
        )
        why = f"<details><summary>Why this churn risk</summary><ul>{factors}</ul></details>"
    return f"""<dl class='c360-kpi'>
{churn_row}
<dt>Sentiment</dt><dd>{sentiment_text}</dd>
<dt>Persona</dt><dd>{tip(insights.persona.name, _persona_reason(insights.persona))}</dd>
<dt>Lifetime value</dt><dd>{ltv}</dd>
</dl>
<h4>{offers_title}</h4><ol class='c360-offers'>{_offers_html(insights)}</ol>
{why}
<p class='c360-muted'>customer #{insights.customer_id} · model {escape(insights.model_version)}</p>"""


class InsightsView(Viewer):
    """Predictions for the selected customer; offers re-rank as they browse."""

    store = param.ClassSelector(class_=CustomerStore)
    refresh_ms = param.Integer(default=5000, doc="how often live browsing re-ranks the offers")

    def __init__(self, **params):
        super().__init__(**params)
        self.body = HTMLText(sizing_mode="stretch_width")
        self._asked: tuple | None = None
        self._render()
        self._timer = SessionTimer(self._refresh, self.refresh_ms)

    @keeps_going
    def _refresh(self) -> None:
        """Ask again when the customer clicked since, or a minute on (the evidence says how long ago);
        update only when the answer changed."""
        customer_id = self.store.customer_id
        if customer_id is None or self.store.insights is None:
            return
        asked = (customer_id, live_key(self.store.services.stream, customer_id), int(time.time() // 60))
        if asked == self._asked:
            return
        self._asked = asked
        fresh = self.store.services.insights_for(customer_id, self.store.record)
        if fresh != self.store.insights:
            self.store.insights = fresh

    @param.depends("store.insights", "store.error", watch=True)
    @keeps_going
    def _render(self) -> None:
        insights = self.store.insights
        if insights is not None:
            self.body.object = insights_html(insights)
        elif self.store.services.models is None:
            self.body.object = f"<p class='c360-error'>{escape(self.store.services.models_error)}</p>"
        else:
            self.body.object = "<p class='c360-muted'>No customer selected.</p>"

    def __panel__(self):
        return pn.Column(
            "### Next best action", self.body, css_classes=["c360-insights"], sizing_mode="stretch_width"
        )
