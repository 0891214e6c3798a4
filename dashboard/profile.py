"""Selected customer: photo, name, needs, products held and masked contact details."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from connectors.catalog import CLOSED, MARKETING_OPT_IN, NEEDS, PREFERRED_CONTACT, label, opted_out
from dashboard.markup import HTMLText, JPGImage, escape, items, keeps_going, mask_email, mask_phone, mask_ssn
from dashboard.store import CustomerStore


def stated_needs(record) -> list[str]:
    """Needs the customer wrote in their surveys, newest first, without repeats."""
    needs: list[str] = []
    surveys = (
        record.surveys.sort_values("submitted", ascending=False) if len(record.surveys) else record.surveys
    )
    for answer in surveys.get("needs", []):
        for need in answer if answer is not None else []:
            if need not in needs:
                needs.append(need)
    return needs


def inferred_needs(insights) -> list[str]:
    """Needs read from the top offers when the customer never told us (labelled as such on screen)."""
    if insights is None:
        return []
    offered = {offer.product for offer in insights.offers}
    return [need for need, products in NEEDS.items() if offered & set(products)][:3]


def holding_labels(holdings: pd.DataFrame) -> list[str]:
    """Each account's product; a closed one says so, with the day it closed."""
    return [
        label(product) if status != CLOSED else f"{label(product)} (closed {pd.Timestamp(closed):%Y-%m-%d})"
        for product, status, closed in zip(
            holdings["product"], holdings["status"], holdings["closed_date"], strict=True
        )
    ]


def consent_html(profile: dict) -> str:
    """Marketing consent and the preferred channel, "not recorded" when the CRM document lacks them."""
    opt_in = profile.get(MARKETING_OPT_IN)
    marketing = "not recorded" if opt_in is None else "opted out" if opted_out(profile) else "opted in"
    css = "c360-consent c360-opted-out" if opted_out(profile) else "c360-consent"
    prefers = profile.get(PREFERRED_CONTACT) or "not recorded"
    return f"<span class='{css}'>Marketing: {escape(marketing)} · prefers {escape(prefers)}</span>"


class ProfileView(Viewer):
    """Who is on the line; personal data is masked and the SSN never reaches the browser (README
    "Privacy"). On a ``public`` screen (the kiosk) no phone, email, birth date or SSN digits are sent at all.
    """

    store = param.ClassSelector(class_=CustomerStore)
    public = param.Boolean(default=False, constant=True, doc="a screen others can see: no contact details")

    def __init__(self, **params):
        super().__init__(**params)
        self.photo = JPGImage(width=160, height=160, css_classes=["c360-photo"], fixed_aspect=True)
        self.details = HTMLText(sizing_mode="stretch_width")
        self._update()

    @param.depends("store.record", "store.insights", "store.error", watch=True)
    @keeps_going
    def _update(self) -> None:
        record = self.store.record
        if record is None:
            self.photo.object = None
            self.details.object = (
                f"<p class='c360-muted'>{escape(self.store.error or 'No customer selected.')}</p>"
            )
            return
        self.photo.object = record.photo if record.photo and record.photo.is_file() else None
        profile = record.profile
        address = profile.get("address") or {}
        left = record.left_on
        needs = stated_needs(record)
        inferred_from = "the products they held" if left else "browsing and persona"
        needs_note = "" if needs else f"<p class='c360-muted'>inferred from {inferred_from}</p>"
        needs = needs or inferred_needs(self.store.insights)
        badge = (
            "<p><span class='c360-badge c360-badge-away c360-former'>Former customer · left on {}</span></p>"
        )
        former = badge.format(left) if left else ""
        holdings = items(holding_labels(record.holdings), "no products")
        banking = f"<p class='c360-error'>{escape(record.banking_error)}</p>" if record.banking_error else ""
        place = f"{escape(address.get('city', ''))}, {escape(address.get('state', ''))}"
        since = f"customer since {escape(profile.get('first_visit', '—'))}"
        if self.public:
            contact = f"Customer #{escape(profile.get('id'))} · {place} · {since}"
        else:
            phone, email = profile.get("phone_number"), profile.get("email")
            contact = (
                f"Customer #{escape(profile.get('id'))} · {mask_phone(phone)} · {escape(mask_email(email))}"
                f"<br>{place} · SSN {mask_ssn(profile.get('ssn'))} · {since}<br>{consent_html(profile)}"
            )
        self.details.object = f"""
<h2 class='c360-name'>{escape(profile.get("name"))}</h2>{former}
<p class='c360-contact'>{contact}</p>
<div class='c360-columns'><div><h4>Needs</h4>{items(needs)}{needs_note}</div>
<div><h4>{"Had" if left else "Has"}</h4>{banking}{holdings}</div></div>"""

    def __panel__(self):
        return pn.Row(self.photo, self.details, css_classes=["c360-profile"], sizing_mode="stretch_width")
