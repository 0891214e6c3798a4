"""The call desk: verify the caller (``c360-verify``), show only what is safe to say until then, and wrap
the call up (``c360-wrapup``).

``Private`` holds the views with private details and puts them in the page only while the store's
``private`` is set (the caller verified, or verification off): until then
their content is never sent to the browser, and ``CallerView`` shows what is safe to say to anyone (the
first name, whether they are online now, the likely reasons for the call without their evidence). The
wrap-up's idempotency key is made here, on the server, once per form: a double click or a retry after a
failure submits the same key, so the store writes one record.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import panel as pn
import param
from panel.viewable import Viewer

from connectors.catalog import CONTACT_OUTCOMES, CONTACT_REASONS, OFFER_RESPONSES
from connectors.desk import NOTE_MAX, Answers, DeskUnavailable
from dashboard.clicks import presence
from dashboard.markup import HTMLText, escape, keeps_going
from dashboard.store import CustomerStore, presented_offers
from dashboard.timer import SessionTimer

LOCKED = "Verify the caller to see {}."
VERIFY_OFF = (
    "Caller verification is off (C360_VERIFY=off, for demos): private details show without it, and every "
    "opening is in the audit."
)
NOT_SAVED = "Not saved: {}. Everything you typed is kept: press Save again."


def first_name(profile: dict) -> str:
    """The name to greet the caller by: the document's first name, else the first word of the name."""
    name = profile.get("first_name") or str(profile.get("name") or "").split(" ")[0]
    return str(name or "the caller")


def caller_html(record, insights, seen, now: datetime) -> str:
    """What is safe to say to anyone: the first name, online now or not, the likely reasons (labels only)."""
    reasons = "".join(f"<li>{escape(likely.label)}</li>" for likely in (insights.reasons if insights else ()))
    listed = f"<h4>Likely calling about</h4><ol class='c360-reasons'>{reasons}</ol>" if reasons else ""
    online = "online" if presence(seen, now) == "online now" else "away"
    return (
        f"<h2 class='c360-name'>{escape(first_name(record.profile))}</h2>"
        f"<p><span class='c360-badge c360-badge-{online}'>{escape(presence(seen, now))}</span></p>{listed}"
        f"<p class='c360-muted'>{escape(LOCKED.format('their record'))}</p>"
    )


class Private(Viewer):
    """``objects`` in the page only while the store's ``private`` is set; ``public`` (or a line saying to
    verify the caller) otherwise. What is left out is not in the page at all, so nothing of it is sent."""

    store = param.ClassSelector(class_=CustomerStore)
    objects = param.List(default=[], constant=True, doc="the views with private details")
    public = param.Parameter(default=None, constant=True, doc="what shows instead until then")
    what = param.String(default="this", constant=True, doc="what the line says is hidden")

    def __init__(self, **params):
        super().__init__(**params)
        placeholder = HTMLText(
            f"<p class='c360-muted c360-locked'>{escape(LOCKED.format(self.what))}</p>",
            sizing_mode="stretch_width",
        )
        self._public = [self.public if self.public is not None else placeholder]
        self._layout = pn.Column(sizing_mode="stretch_width")
        self.showing = False  # whether the private views are in the page
        self._follow()

    @param.depends("store.private", watch=True)
    def _follow(self) -> None:
        if self.showing != self.store.private or not self._layout.objects:
            self.showing = self.store.private
            self._layout.objects = list(self.objects) if self.showing else self._public

    def __panel__(self):
        return self._layout


class CallerView(Viewer):
    """The caller before verification: only what is safe to say to anyone."""

    store = param.ClassSelector(class_=CustomerStore)
    refresh_ms = param.Integer(default=5000, doc="how often 'online now' is looked at again")

    def __init__(self, **params):
        super().__init__(**params)
        self.body = HTMLText(sizing_mode="stretch_width")
        self._render()
        self._timer = SessionTimer(self._render, self.refresh_ms)

    @param.depends("store.record", "store.insights", watch=True)
    @keeps_going
    def _render(self) -> None:
        record = self.store.record
        if record is None:
            html = f"<p class='c360-muted'>{escape(self.store.error or 'No customer selected.')}</p>"
        else:
            seen = self.store.services.stream.last_seen(self.store.customer_id)
            html = caller_html(record, self.store.insights, seen, datetime.now(timezone.utc))
        if html != self.body.object:
            self.body.object = html

    def __panel__(self):
        return pn.Column(self.body, css_classes=["c360-caller"], sizing_mode="stretch_width")


class VerifyView(Viewer):
    """The caller's answers (date of birth, ZIP, last four of the SSN), checked by the server: pass or fail
    only. The fields are emptied after every attempt, so the answers do not stay in the page."""

    store = param.ClassSelector(class_=CustomerStore)

    def __init__(self, **params):
        super().__init__(**params)
        self.birth_date = pn.widgets.TextInput(label="Date of birth", placeholder="MM/DD/YYYY", width=130)
        self.zip_code = pn.widgets.TextInput(label="ZIP code", width=90)
        self.ssn_last4 = pn.widgets.PasswordInput(label="SSN, last four", width=100)
        self.button = pn.widgets.Button(label="Verify", color="primary", align="end")
        self.reopen = pn.widgets.Button(label="Try the audit again", visible=False)
        self.message = HTMLText(sizing_mode="stretch_width")
        self.form = pn.FlexBox(
            self.birth_date,
            self.zip_code,
            self.ssn_last4,
            self.button,
            flex_wrap="wrap",
            sizing_mode="stretch_width",
        )
        self.button.on_click(self._verify)
        self.reopen.on_click(self._reopen)
        self._verdict = ""
        self._render()

    @param.depends("store.record", watch=True)
    def _new_caller(self) -> None:
        self._verdict = ""
        self._render()

    @param.depends("store.private", "store.desk_error", watch=True)
    @keeps_going
    def _render(self) -> None:
        store = self.store
        error = f"<p class='c360-error'>{escape(store.desk_error)}</p>" if store.desk_error else ""
        if store.record is None:
            state = ""
        elif not store.verification_on:
            state = f"<p class='c360-verify-off'>{escape(VERIFY_OFF)}</p>"
        elif store.verified:
            state = "<p class='c360-verified'>Caller verified: private details are shown.</p>"
        else:
            state = self._verdict or (
                "<p class='c360-muted'>Ask the caller for their date of birth, ZIP code and the last four "
                "digits of their SSN; two must match.</p>"
            )
        self.form.visible = store.record is not None and store.verification_on and not store.verified
        self.reopen.visible = bool(store.desk_error) and store.private
        self.message.object = error + state

    def _verify(self, _event) -> None:
        answers = Answers(self.birth_date.value, self.zip_code.value, self.ssn_last4.value)
        self.birth_date.value = self.zip_code.value = self.ssn_last4.value = ""
        try:
            verdict = self.store.verify(answers)
        except (DeskUnavailable, LookupError) as error:
            self._verdict = f"<p class='c360-error'>Cannot verify now: {escape(error)}</p>"
        else:
            css = "c360-verified" if verdict.passed else "c360-error c360-not-verified"
            self._verdict = f"<p class='{css}'>{escape(verdict.message)}</p>"
        self._render()

    def _reopen(self, _event) -> None:
        self.store.open_private()

    def __panel__(self):
        return pn.Column(
            "### Caller",
            self.message,
            self.form,
            self.reopen,
            css_classes=["c360-verify"],
            sizing_mode="stretch_width",
        )


class WrapUpView(Viewer):
    """The call's wrap-up: reason (the likely one first), outcome, each presented offer's answer, a note.

    One form has one idempotency key; ``c360-saved`` shows only once the store has committed the record. A
    failed write says why and keeps every field as it was; "New wrap-up" starts another form (a new key).
    """

    store = param.ClassSelector(class_=CustomerStore)

    def __init__(self, **params):
        super().__init__(**params)
        reasons = {label: key for key, label in CONTACT_REASONS.items()}
        self.reason = pn.widgets.Select(label="Reason", options=reasons, width=240)
        self.outcome = pn.widgets.RadioButtonGroup(
            label="Outcome", options={label: key for key, label in CONTACT_OUTCOMES.items()}, value="resolved"
        )
        self.note = pn.widgets.TextAreaInput(
            label=f"Note (up to {NOTE_MAX:,} characters)",
            max_length=NOTE_MAX,
            height=90,
            sizing_mode="stretch_width",
        )
        self.offers = pn.Column(sizing_mode="stretch_width")
        self.save = pn.widgets.Button(label="Save wrap-up", color="primary", css_classes=["c360-save"])
        self.new = pn.widgets.Button(label="New wrap-up", visible=False)
        self.status = HTMLText(sizing_mode="stretch_width")
        self.save.on_click(self._save)
        self.new.on_click(lambda _event: self._new_form())
        self._responses: list[tuple[str, int, pn.widgets.Select]] = []
        self._selects: list[pn.widgets.Select] = []  # one per offer of the most offers shown so far
        self._offers_title = HTMLText("<h4>Offers presented</h4>", visible=False)
        self._new_form()

    @param.depends("store.record", watch=True)
    def _new_form(self) -> None:
        """A blank form with a new key for the selected customer, the likely reason chosen."""
        self.key = uuid.uuid4().hex
        self.saved = None
        insights = self.store.insights
        likely = insights.reasons[0].reason if insights is not None and insights.reasons else None
        self.reason.value = likely or next(iter(CONTACT_REASONS))
        self.outcome.value = "resolved"
        self.note.value = ""
        self.status.object = ""
        self._fill_offers()
        self._editable(True)

    @param.depends("store.private", watch=True)
    def _fill_offers(self) -> None:
        """One answer per offer the screen presented (none before private details show).

        The answers' widgets are kept and relabelled from one customer to the next: new widgets on every
        selection were a third of a selection's server time (profiled).
        """
        if self.saved is not None:
            return
        offers = presented_offers(self.store.insights) if self.store.private else []
        options = {label: key for key, label in OFFER_RESPONSES.items()}
        while len(self._selects) < len(offers):
            self._selects.append(pn.widgets.Select(options=options, value="not_discussed", width=240))
        self._responses = []
        for rank, (offer, select) in enumerate(zip(offers, self._selects, strict=False), 1):
            select.param.update(label=f"{rank}. {offer.label}", value="not_discussed", visible=True)
            self._responses.append((offer.product, rank, select))
        for select in self._selects[len(offers) :]:
            select.visible = False
        self._offers_title.visible = bool(offers)
        shown = [self._offers_title, *self._selects]
        if self.offers.objects != shown:
            self.offers.objects = shown

    def _editable(self, editable: bool) -> None:
        for widget in (self.reason, self.outcome, self.note, self.save, *(s for _, _, s in self._responses)):
            widget.disabled = not editable
        self.new.visible = not editable

    def _save(self, _event) -> None:
        if self.saved is not None:  # a click after the confirmation: the same record, nothing written
            return
        responses = [(product, rank, select.value) for product, rank, select in self._responses]
        try:
            saved = self.store.save_wrapup(
                self.key, self.reason.value, self.outcome.value, self.note.value, responses
            )
        except (DeskUnavailable, ValueError, LookupError) as error:
            self.status.object = f"<p class='c360-error c360-unsaved'>{escape(NOT_SAVED.format(error))}</p>"
            return
        self.saved = saved
        self._editable(False)
        again = "" if saved.written else " (an earlier submit of this form had saved it)"
        self.status.object = (
            f"<p class='c360-saved'>Saved at {datetime.now(timezone.utc):%H:%M:%S} UTC{escape(again)}: it is in the "
            "customer's timeline.</p>"
        )

    def __panel__(self):
        return pn.Column(
            "### Wrap-up",
            pn.Row(self.reason, self.outcome),
            self.offers,
            self.note,
            pn.Row(self.save, self.new),
            self.status,
            css_classes=["c360-wrapup"],
            sizing_mode="stretch_width",
        )
