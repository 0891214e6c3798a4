"""The call desk in the views, on the real services: verification gates private details and is audited,
the wrap-up is written once and shows in the timeline, a store that is down keeps the form, consent."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import orjson
import pytest

from connectors import config
from connectors.catalog import opted_out
from connectors.desk import Answers, MySQLDesk, SQLiteDesk, utc_now
from dashboard.desk import CallerView, Private, VerifyView, WrapUpView
from dashboard.insights import insights_html
from dashboard.kiosk import KioskRotation
from dashboard.profile import ProfileView
from dashboard.store import CustomerStore
from dashboard.timeline import TimelineView
from models import nba
from tests.connectors.desk.conftest import fresh_database
from tests.hostile_data import IMG_NAME, SCRIPT_COMMENT
from tests.servers import wait_until


@pytest.fixture(scope="module")
def profiles(dashboard_data) -> dict[int, dict]:
    lines = (dashboard_data / "crm" / "profiles.jsonl").read_bytes().splitlines()
    return {doc["id"]: doc for doc in map(orjson.loads, lines)}


def _services(services, desk, verify: bool = True):
    """The session's services with a desk of this test's own, verification on or off."""
    settings = dataclasses.replace(services.settings, verify=verify)
    return dataclasses.replace(services, settings=settings, desk=desk)


@pytest.fixture
def desk(tmp_path):
    store = SQLiteDesk(tmp_path / "desk.sqlite")
    yield store
    store.close()


def _right(profile: dict) -> Answers:
    return Answers(profile["birth_date"], profile["address"]["zip"], profile["ssn"][-4:])


def _audit(desk, customer_id: int) -> list[bool]:
    entries = desk.audit(customer_id, utc_now() - timedelta(hours=1), utc_now() + timedelta(seconds=1))
    return entries["private_shown"].tolist()


def test_private_details_wait_for_verification_and_each_opening_is_audited(services, desk, profiles):
    store = CustomerStore(_services(services, desk))
    customer = store.customer_id
    private = Private(store=store, objects=[ProfileView(store=store)], public=CallerView(store=store))
    verify = VerifyView(store=store)
    assert not store.private and _audit(desk, customer) == [False]
    assert not private.showing, "only what is safe to say"
    caller = private.public.body.object
    assert profiles[customer]["first_name"] in caller and profiles[customer]["last_name"] not in caller
    assert profiles[customer]["ssn"][-4:] not in caller

    verify.birth_date.value, verify.zip_code.value, verify.ssn_last4.value = "1900-01-01", "00000", "0000"
    verify._verify(None)
    assert not store.private and "Not verified" in verify.message.object
    assert verify.ssn_last4.value == "" and verify.birth_date.value == "", "answers do not stay in the page"

    answers = _right(profiles[customer])
    verify.birth_date.value, verify.zip_code.value, verify.ssn_last4.value = dataclasses.astuple(answers)
    verify._verify(None)
    assert store.verified and store.private and "c360-verified" in verify.message.object
    assert private.showing
    assert _audit(desk, customer) == [False, True]
    assert desk.openers_today(customer) == 1

    other = next(i for i in profiles if i != customer)
    store.select(other)
    assert not store.verified and not store.private, "verification is per caller"
    assert not private.showing
    assert _audit(desk, other) == [False]


def test_with_verification_off_the_page_says_so_and_opens_at_once(services, desk):
    store = CustomerStore(_services(services, desk, verify=False))
    view = VerifyView(store=store)
    assert store.private and "c360-verify-off" in view.message.object and not view.form.visible
    assert _audit(desk, store.customer_id) == [True]


def test_offers_shown_are_logged_once_per_customer_and_session(services, desk):
    store = CustomerStore(_services(services, desk, verify=False))
    first = store.customer_id
    store.select(first + 1)
    store.select(first)
    with desk._transaction() as run:
        rows = run("SELECT customer_id, product, offer_rank, model_version FROM desk_offers_shown", ())
    products = [o.product for o in store.insights.offers if o.product]
    assert [row[1] for row in rows if row[0] == first] == products, "once, in their order"
    assert {row[3] for row in rows} == {services.models.version}


def test_a_wrapup_is_saved_once_and_shows_in_the_timeline_escaped(services, desk):
    store = CustomerStore(_services(services, desk, verify=False))
    form = WrapUpView(store=store)
    timeline = TimelineView(store=store, stream=services.stream)
    assert form.reason.value == store.insights.reasons[0].reason, "the likely reason is pre-filled"
    assert [select.label.split(". ", 1)[1] for _, _, select in form._responses] == [
        o.label for o in store.insights.offers if o.product
    ]
    form.note.value = SCRIPT_COMMENT
    form.outcome.value = "follow_up"
    if form._responses:
        form._responses[0][2].value = "accepted"
    form._save(None)
    form._save(None)  # a double click
    assert "c360-saved" in form.status.object
    contacts = desk.contacts(store.customer_id)
    assert len(contacts) == 1 and contacts.note[0] == SCRIPT_COMMENT and contacts.outcome[0] == "follow_up"
    assert contacts.agent[0] == store.who and not contacts.verified[0]
    html = timeline.body.object
    assert "&lt;script&gt;" in html and SCRIPT_COMMENT not in html, "shown escaped"
    with desk._transaction() as run:
        answers = run("SELECT product, response FROM desk_offer_outcomes", ())
    assert len(answers) == len(form._responses)

    form.new.clicks += 1
    assert form.saved is None and form.status.object == "" and not form.save.disabled


def test_another_sessions_wrapup_shows_on_the_next_selection(services, desk):
    services_ = _services(services, desk, verify=False)
    writer, reader = CustomerStore(services_), CustomerStore(services_)
    WrapUpView(store=writer).note.value = ""
    writer.save_wrapup("another-session", "fees", "resolved", IMG_NAME)
    assert reader.desk_contacts.empty
    reader.refresh_desk()
    assert reader.desk_contacts.note.tolist() == [IMG_NAME]


@pytest.mark.mariadb
def test_with_mariadb_stopped_at_submit_the_form_says_so_and_keeps_every_field(services, mariadb):
    desk = MySQLDesk(config.parse_mysql_url(fresh_database(mariadb)))
    store = CustomerStore(_services(services, desk, verify=False))
    form = WrapUpView(store=store)
    form.note.value, form.outcome.value, form.reason.value = "kept while down", "transferred", "fees"
    key = form.key
    mariadb.stop()
    try:
        form._save(None)
        assert "c360-unsaved" in form.status.object and "cannot reach a MySQL server" in form.status.object
        assert "c360-saved" not in form.status.object
        assert (form.note.value, form.outcome.value, form.reason.value, form.key) == (
            "kept while down",
            "transferred",
            "fees",
            key,
        )
        assert not form.save.disabled
    finally:
        mariadb.start()

    def saved() -> bool:
        form._save(None)
        return "c360-saved" in form.status.object

    wait_until(saved, timeout=30, message="the submit after MariaDB is back")
    form._save(None)
    assert desk.contacts(store.customer_id).note.tolist() == ["kept while down"]
    desk.close()


def _opted_out_with_offers(services, profiles) -> int:
    for customer, profile in profiles.items():
        if opted_out(profile) and customer not in set(services.models.former_customers()):
            insights = services.insights_for(customer, services.directory.customer(customer))
            if any(o.kind == "do-not-pitch" for o in insights.offers):
                return customer
    raise AssertionError("the sample has an active opted-out customer with offers")


def test_an_opted_out_customer_is_offered_service_only_and_the_profile_says_why(services, profiles, desk):
    customer = _opted_out_with_offers(services, profiles)
    store = CustomerStore(_services(services, desk, verify=False), customer_id=customer)
    offers = store.insights.offers
    assert offers[0].kind in nba.SERVICE_KINDS, "no upsell leads the list"
    assert all(o.kind in nba.SERVICE_KINDS or o.kind == "do-not-pitch" for o in offers)
    assert "service only — do not pitch" in insights_html(store.insights)
    profile = ProfileView(store=store).details.object
    assert "Marketing: opted out" in profile
    recorded = [
        i for i, p in profiles.items() if "marketing_opt_in" not in p and "preferred_contact" not in p
    ]
    store.select(recorded[0])
    assert "Marketing: not recorded · prefers not recorded" in ProfileView(store=store).details.object


def test_the_kiosk_never_shows_an_opted_out_customer(services, profiles):
    refused = [i for i, p in profiles.items() if opted_out(p)][:3]
    allowed = next(i for i, p in profiles.items() if not opted_out(p))
    assert services.directory.opted_out([*refused, allowed]) == set(refused)
    kiosk = KioskRotation(store=CustomerStore(services, desk=False))
    assert kiosk._first_shown([*refused, allowed]) == allowed
    assert kiosk._first_shown(refused) is None
