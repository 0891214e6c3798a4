"""The state one browser session shares between its views: which customer is on the line.

Views take a ``CustomerStore`` and depend on its parameters, as in Panel's intermediate tutorials, so
selecting a customer anywhere updates every view together, and each view also works alone (in a notebook,
give it a store of its own). The store loads the selected customer's 360 record and insights once per
selection, so views never query anything themselves.

On a representative's screen (``desk``, the default) it also keeps the call: whether the caller passed
verification (reset with every selection), whether private details may show (``private``: verified, or
verification off; the opening goes to the audit, or to the server's log while the desk's store is down), the
customer's wrap-ups from the desk's store, and who is working (Panel's login user, else the session): every
write names them from here, never from the page.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import panel as pn
import param

from connectors.desk import (
    Answers,
    DeskUnavailable,
    OfferResponse,
    SavedWrapUp,
    ShownOffer,
    Verdict,
    WrapUp,
    utc_now,
    verify,
)
from dashboard.services import Services

log = logging.getLogger(__name__)
AUDIT_DOWN = "This opening is not in the audit, only in the server's log: {}"


def session_identity() -> tuple[str, str]:
    """(who, session): the login's user when Panel's login is on, else the session; both from the server."""
    context = pn.state.curdoc.session_context if pn.state.curdoc is not None else None
    session = context.id if context is not None else f"notebook-{uuid.uuid4().hex[:12]}"
    user = pn.state.user if context is not None else None
    return (user or f"session {session}"), session


def presented_offers(insights) -> list:
    """The offers a screen shows that are products (a service step is no offer), in their order."""
    return [] if insights is None else [offer for offer in insights.offers if offer.product]


class CustomerStore(param.Parameterized):
    """Per-session selection state over the process-wide services."""

    services = param.ClassSelector(class_=Services, constant=True, doc="directory, stream and models")
    customer_id = param.Integer(default=None, allow_None=True, doc="the selected customer's id")
    persona = param.Integer(default=None, allow_None=True, doc="persona filter chosen on the heatmap")
    record = param.Parameter(default=None, doc="the selected customer's CustomerRecord")
    insights = param.Parameter(default=None, doc="the selected customer's CustomerInsights, or None")
    error = param.String(default="", doc="why the selected customer could not be loaded")
    last_sql = param.String(default="", doc="the SQL that last ran for this session")
    last_ms = param.Number(default=0.0, doc="how long it took, in milliseconds")
    desk = param.Boolean(default=True, constant=True, doc="a representative's screen: verify, audit, wrap up")
    verified = param.Boolean(default=False, doc="the caller passed verification for the selected customer")
    private = param.Boolean(
        default=False, doc="private details may show (verified or verification off, audited)"
    )
    desk_contacts = param.Parameter(default=None, doc="the selected customer's wrap-ups (desk store's frame)")
    desk_error = param.String(default="", doc="why the desk's store could not answer for this customer")

    def __init__(self, services: Services, **params):
        super().__init__(services=services, **params)
        self.who, self.session = session_identity()
        self.opened_at: datetime = utc_now()
        self._offers_logged: set[int] = set()
        if self.customer_id is None and services.featured:
            self.customer_id = services.featured[0]
        else:
            self._load()

    @property
    def verification_on(self) -> bool:
        """Whether callers must be verified before private details show (``C360_VERIFY``)."""
        return bool(self.services.settings.verify)

    def select(self, customer_id: int) -> None:
        """Put a customer on screen; every view's update goes out as one batch.

        Panel's ``hold(freeze=True)`` sends the views' changes together and lets Bokeh walk the page's
        model graph once, where each plot update would walk it on its own (most of a selection's server
        time, profiled). Setting ``customer_id`` directly works too, without the batching.
        """
        with pn.io.hold(freeze=True):
            self.customer_id = customer_id

    def record_query(self, sql: str, elapsed_ms: float) -> None:
        """Remember the SQL a view ran, for the behind-the-scenes panel."""
        self.param.update(last_sql=sql, last_ms=elapsed_ms)

    @param.depends("customer_id", watch=True)
    def _load(self) -> None:
        self.param.update(verified=False, desk_error="")  # a new caller proves it again
        if self.verification_on:  # off, private views stay in the page: no swap out and in per selection
            self.private = False
        if self.customer_id is None:
            self.param.update(record=None, insights=None, error="", desk_contacts=None)
            return
        started = time.perf_counter()
        try:
            record = self.services.directory.customer(self.customer_id)
        except LookupError:
            self.param.update(record=None, insights=None, error=f"No customer with id {self.customer_id}.")
            return
        insights = self.services.insights_for(self.customer_id, record)
        self.opened_at = utc_now()
        self.param.update(record=record, insights=insights, error="", desk_contacts=self._desk_contacts())
        self.record_query(record.sql, (time.perf_counter() - started) * 1000)
        if self.desk and not self.verification_on:
            self.open_private()
        elif self.desk:
            self._audit(private_shown=False)

    # ── the call ─────────────────────────────────────────────────────────────────────────────────────

    def _desk_contacts(self) -> pd.DataFrame | None:
        if not self.desk or self.customer_id is None:
            return None
        try:
            return self.services.desk.contacts(self.customer_id)
        except DeskUnavailable as error:
            self.desk_error = f"Wrap-ups from the desk are missing: {error}"
            return None

    def _audit(self, private_shown: bool) -> None:
        """Append this opening to the audit; when the store is down, the server's log has it instead and
        ``desk_error`` says so (verification cannot pass then, so only with it off do details show)."""
        try:
            self.services.desk.log_opening(self.customer_id, self.who, self.session, private_shown)
        except DeskUnavailable as error:
            log.warning(
                "opening not in the audit: customer %s by %s (session %s) at %s UTC, private details %s: %s",
                self.customer_id,
                self.who,
                self.session,
                utc_now().isoformat(sep=" ", timespec="seconds"),
                "shown" if private_shown else "hidden",
                error,
            )
            self.desk_error = AUDIT_DOWN.format(error)
        else:
            if self.desk_error.startswith(AUDIT_DOWN.format("")):
                self.desk_error = ""

    def open_private(self) -> None:
        """Show private details, with the opening in the audit (or, while the store is down, in the log);
        log the offers shown, once per customer. Called again, it retries the audit."""
        if self.record is None or (self.verification_on and not self.verified):
            return
        self._audit(private_shown=True)
        self.private = True
        offers = presented_offers(self.insights)
        if self.customer_id in self._offers_logged or not offers:
            return
        shown = [ShownOffer(o.product, rank, self.insights.model_version) for rank, o in enumerate(offers, 1)]
        try:
            self.services.desk.log_offers_shown(self.customer_id, shown, self.who, self.session)
        except DeskUnavailable as error:
            log.warning("offers shown to customer %s not logged: %s", self.customer_id, error)
            return
        self._offers_logged.add(self.customer_id)

    def verify(self, answers: Answers) -> Verdict:
        """Check the caller's answers against the selected customer's profile; a pass shows private details.
        Raises DeskUnavailable when the attempt cannot be logged (no attempt without its log)."""
        if self.record is None:
            raise LookupError("no customer selected")
        verdict = verify(self.services.desk, self.record.profile, answers, self.who, self.session)
        if verdict.passed:
            self.verified = True
            self.open_private()
        return verdict

    def save_wrapup(
        self,
        key: str,
        reason: str,
        outcome: str,
        note: str,
        responses: Sequence[tuple[str, int, str]] = (),
        channel: str = "phone",
    ) -> SavedWrapUp:
        """Write the call's wrap-up (``responses``: product, rank, answer), then read the customer's wrap-ups
        again for the timeline. Raises DeskUnavailable (nothing written) or ValueError (what is wrong)."""
        if self.customer_id is None:
            raise LookupError("no customer selected")
        version = self.insights.model_version if self.insights is not None else ""
        offers = tuple(OfferResponse(product, rank, version, answer) for product, rank, answer in responses)
        wrapup = WrapUp(key, self.customer_id, self.opened_at, reason, outcome, note, channel, offers)
        saved = self.services.desk.save_wrapup(wrapup, self.who, verified=self.verified)
        self.desk_contacts = self._desk_contacts()
        return saved

    def refresh_desk(self) -> None:
        """Read the customer's wrap-ups again (another session's or process's new ones appear)."""
        self.desk_contacts = self._desk_contacts()
