"""The views against the real services: linked updates, escaping, masking, isolation, the persona filter."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from datetime import date

import pandas as pd
import pytest
from panel.models.tabulator import CellClickEvent

from connectors import config, jsonlines
from connectors.catalog import label
from connectors.directory import Directory
from connectors.layout import Layout
from dashboard.behind import BehindTheScenes, SkippedLinesMarker, skipped_lines_html
from dashboard.directory import COLUMNS, DirectoryView
from dashboard.heatmap import HeatmapView, persona_from_label
from dashboard.insights import InsightsView
from dashboard.profile import ProfileView
from dashboard.spend import SpendView
from dashboard.store import CustomerStore
from dashboard.survey import SurveyView
from tests.dashboard.conftest import HOSTILE_ID, HOSTILE_NAME
from tests.servers import free_port


@pytest.fixture
def store(services):
    return CustomerStore(services)


MISSING_VALUE = re.compile(r"\b(?:None|nan|NaN|NaT|<NA>)\b")


@pytest.fixture
def former(services) -> tuple[int, date]:
    """A former customer of the test data (every account closed) and the day they left."""
    accounts = pd.read_parquet(Layout(services.settings.data_dir).accounts)
    held = accounts.groupby("customer_id").agg(
        closed=("status", lambda status: (status == "closed").all()), left=("closed_date", "max")
    )
    customer_id = int(held.index[held["closed"]][0])
    return customer_id, pd.Timestamp(held.loc[customer_id, "left"]).date()


def _customer_with_survey(services) -> int:
    path = sorted(services.settings.data_dir.glob("surveys/*.json"))[0]
    return json.loads(path.read_text().splitlines()[0])["customer_id"]


def test_store_starts_on_the_first_featured_customer_with_record_and_insights(store, services):
    assert store.customer_id == services.featured[0]
    assert store.record.profile["name"] == "Erika Gallardo"
    assert store.insights.customer_id == store.customer_id
    assert "SELECT" in store.last_sql.upper()


def test_selecting_a_customer_updates_every_view_together(store, services):
    views = [
        ProfileView(store=store),
        InsightsView(store=store),
        SpendView(store=store),
        SurveyView(store=store),
    ]
    before = [view.details.object if hasattr(view, "details") else None for view in views[:1]]
    target = _customer_with_survey(services)
    store.customer_id = target
    profile, insights, spend, survey = views
    assert store.record.profile["id"] == target
    assert profile.details.object != before[0]
    assert store.record.profile["last_name"] in profile.details.object or "&#x27;" in profile.details.object
    assert "<dt>Churn" in insights.body.object and store.insights.persona.name in insights.body.object
    assert spend.layers() or "not enough" in spend.note.object.lower()
    assert "★" in survey.body.object


def test_customer_text_is_escaped_and_the_ssn_never_rendered(store):
    store.customer_id = HOSTILE_ID
    profile = ProfileView(store=store)
    html = profile.details.object
    assert HOSTILE_NAME not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    ssn = store.record.profile["ssn"]
    assert ssn not in html and f"***-**-{ssn[-4:]}" in html
    phone = store.record.profile.get("phone_number")
    if phone:
        assert phone not in html


def test_two_sessions_keep_their_own_selection(services):
    first, second = CustomerStore(services), CustomerStore(services)
    first_view, second_view = ProfileView(store=first), ProfileView(store=second)
    first.customer_id = 5
    second.customer_id = 6
    assert first.record.profile["id"] == 5 and second.record.profile["id"] == 6
    assert first_view.details.object != second_view.details.object
    assert f"#{5}" in first_view.details.object and f"#{6}" in second_view.details.object


def test_search_as_you_type_selects_into_the_store(store):
    view = DirectoryView(store=store)
    view.search.value_input = "gallardo"
    assert "Erika Gallardo" in list(view.table.value["name"])
    assert "customers" in view.status.object and "ms" in view.status.object
    row = list(view.table.value["name"]).index("Erika Gallardo")
    store.customer_id = None
    view.table._process_event(CellClickEvent(model=None, column="name", row=row))
    assert store.customer_id == 1


@pytest.mark.parametrize("text", ["'; DROP TABLE profiles; --", "%", "_", "\\", '" OR 1=1 --', "<script>"])
def test_hostile_search_text_is_just_text(store, text):
    view = DirectoryView(store=store)
    view.search.value_input = text
    assert "c360-error" not in view.status.object and "customers" in view.status.object
    rows = view._result.rows  # the page as searched, before the email is masked for display
    haystacks = rows["name"].fillna("") + " " + rows["phone"].fillna("") + " " + rows["email"].fillna("")
    assert all(text.lower() in haystack.lower() for haystack in haystacks), "search is literal"
    view.search.value_input = "gallardo"
    assert "Erika Gallardo" in list(view.table.value["name"])


def test_heatmap_click_filters_the_directory_to_that_persona(store):
    view, heatmap = DirectoryView(store=store), HeatmapView(store=store)
    label = f"{store.insights.persona.id} · {store.insights.persona.name}"
    assert persona_from_label(label) == store.insights.persona.id
    heatmap.tap.event(x="Auto Loan", y=label)
    assert store.persona == store.insights.persona.id
    assert set(view.table.value["persona"]) == {store.persona}
    assert "Filtered to persona" in view.filter_note.object
    view.clear_filter.clicks += 1
    assert store.persona is None


def test_behind_the_scenes_shows_the_last_sql_and_stream_health(store):
    panel = BehindTheScenes(store=store)
    assert "SELECT" in panel.sql.object.upper() and " ms" in panel.sql.object
    assert "stream:" in panel.health.object and "replay" in panel.health.object


def test_paused_behind_the_scenes_catches_up_when_resumed(store):
    panel = BehindTheScenes(store=store, paused=True)
    assert not panel.sql.object  # a collapsed card gets no updates
    store.record_query("SELECT 360", 1.5)
    assert not panel.sql.object
    panel.paused = False
    assert "SELECT 360" in panel.sql.object and "1.5 ms" in panel.sql.object


def test_a_former_customer_reads_as_former_in_every_view(store, former):
    customer_id, left = former
    profile, insights, spend, survey = (
        ProfileView(store=store),
        InsightsView(store=store),
        SpendView(store=store),
        SurveyView(store=store),
    )
    store.customer_id = customer_id

    assert f"Former customer · left on {left}" in profile.details.object
    products = [label(product) for product in store.record.holdings["product"]]
    assert products and all(f"{product} (closed {left})" in profile.details.object for product in products)
    body = insights.body.object
    assert f"Left on {left}" in body and "Churn risk" not in body and "Why this churn risk" not in body
    assert store.insights.ltv.note in body
    assert "Win-back offers" in body and "Next best offers" not in body
    assert all(f"<b>{offer.label}</b><br>" in body for offer in store.insights.offers), "no score"
    assert "nothing projected" in spend.note.object
    assert "projection" not in spend.layers()
    for html in (profile.details.object, body, spend.note.object, survey.body.object):
        assert not MISSING_VALUE.search(html), html


def test_an_active_customer_has_no_former_marks(store):
    profile, insights, spend = ProfileView(store=store), InsightsView(store=store), SpendView(store=store)
    assert store.record.profile["name"] == "Erika Gallardo"
    assert "Former customer" not in profile.details.object and "(closed " not in profile.details.object
    assert "Churn risk" in insights.body.object and "Next best offers" in insights.body.object
    assert "a month now" in spend.note.object
    assert spend.layers() == ["spending", "fitted rate", "projection"]


def test_the_directory_shows_who_left_and_when(store, former):
    customer_id, left = former
    view = DirectoryView(store=store)
    view.search.value_input = store.services.directory.customer(customer_id).profile["name"]
    rows = view.table.value.set_index("id")
    assert rows.loc[customer_id, "status"] == f"left {left}"
    view.search.value_input = "gallardo"
    assert view.table.value.set_index("name").loc["Erika Gallardo", "status"] == "active"
    shown = rows[list(COLUMNS)]
    assert not shown.isna().any().any() and not MISSING_VALUE.search(shown.to_string())


def test_the_directory_sends_the_email_only_masked(store, services):
    profiles = Layout(services.settings.data_dir).profiles.read_text(encoding="utf-8").splitlines()
    without_email = next(json.loads(line) for line in profiles if '"email"' not in line)
    view = DirectoryView(store=store)
    view.search.value_input = without_email["last_name"]
    searched = view._result.rows.set_index("id")
    shown = view.table.value.set_index("id")
    assert without_email["id"] in shown.index and searched["email"].notna().any()
    for customer_id, email in searched["email"].items():
        masked = shown.loc[customer_id, "email"]
        assert masked == (f"{email[0]}***@{email.split('@')[1]}" if isinstance(email, str) else "—")
    assert list(COLUMNS) == ["name", "phone", "tenure_years", "status"]


def test_the_directory_sends_full_phones_and_masked_emails_and_counts_in_words(store, services):
    view = DirectoryView(store=store)
    shown = view.table.value
    assert shown["email"].str.fullmatch(r".\*\*\*@.+|—").all(), "every email masked"
    assert shown["phone"].dropna().str.fullmatch(r"[\d-]+").all(), "the full phone, to match the caller ID"
    view.search.value_input = "Erika Gallardo"
    assert len(view.table.value) == 1 and "<b>1</b> customer ·" in view.status.object


def test_the_kiosks_profile_sends_no_contact_details(store):
    html = ProfileView(store=store, public=True).details.object
    profile = store.record.profile
    assert store.record.profile["name"] in html
    assert "***" not in html and "SSN" not in html and profile["ssn"][-4:] not in html
    assert profile["phone_number"][-4:] not in html and profile["email"].split("@")[1] not in html


def test_spend_says_core_banking_is_down_instead_of_blaming_the_customer(services, tmp_path, caplog):
    """MySQL stopped (nothing listens at the URL): the spend panel says so, as the profile does, and so
    does the server's log."""
    url = f"mysql://c360:secret@127.0.0.1:{free_port()}/core"
    settings = config.load(
        ["--data-dir", str(services.settings.data_dir), "--index-dir", str(tmp_path)],
        environ={"C360_MYSQL_URL": url},
    )
    with caplog.at_level(logging.WARNING), Directory(settings) as directory:
        store = CustomerStore(dataclasses.replace(services, directory=directory))
        spend, profile = SpendView(store=store), ProfileView(store=store)
    assert "core banking unavailable" in spend.note.object and "not enough history" not in spend.note.object
    assert "core banking unavailable" in profile.details.object
    assert "core banking unavailable: C360_MYSQL_URL" in caplog.text and "secret" not in caplog.text


def test_behind_the_scenes_lists_skipped_lines_and_the_marker_shows_only_then(store, services):
    panel, marker = BehindTheScenes(store=store), SkippedLinesMarker(store=store)
    assert "Skipped source lines: none." in panel.skips.object and not marker.button.visible
    skips = jsonlines.Skips()
    skips.of("crm/profiles.jsonl", "id").add("malformed_json", 7, [3, 9, 12, 20, 31, 40, 41])
    skips.of("crm/profiles.jsonl", "id").add("duplicate_key", 1, [3001])
    html = skipped_lines_html(skips.as_dict())
    assert "8 source lines skipped" in html and "<b>crm/profiles.jsonl</b>: 8 lines skipped" in html
    assert "7 not valid JSON (lines 3, 9, 12, 20, 31, …)" in html
    assert "1 id already read on an earlier line (the first line wins) (line 3001)" in html


def _other_persona(store, services) -> int:
    """A customer whose persona differs from the selected customer's."""
    scores = services.models.scores()
    return int(scores.loc[scores["persona"] != store.insights.persona.id, "customer_id"].iloc[0])


def test_the_heatmap_relights_the_drawn_figure_for_a_new_persona(store, services):
    heatmap = HeatmapView(store=store)
    root = heatmap.pane.get_root()
    [(source, title)], first = heatmap._drawn.values(), store.insights.persona
    assert f"highlighted: {first.id} · {first.name}" in title.text
    store.customer_id = _other_persona(store, services)
    now = store.insights.persona
    [(drawn, _)] = heatmap._drawn.values()
    assert drawn is source, "the figure is changed, not drawn again"
    assert f"highlighted: {now.id} · {now.name}" in title.text
    lit = {
        label
        for label, alpha in zip(source.data["persona_label"], source.data["alpha"], strict=True)
        if alpha == 1.0
    }
    assert lit == {f"{now.id} · {now.name}"}
    heatmap.pane._cleanup(root)


def test_sessions_on_the_same_customer_share_one_answer(services, offline_customer):
    first, second = CustomerStore(services), CustomerStore(services)
    first.customer_id = second.customer_id = offline_customer
    assert first.record is not second.record and first.record.version == second.record.version
    assert first.insights is second.insights, "scored once for both sessions"
    first.customer_id = HOSTILE_ID
    assert first.insights is not second.insights and first.insights.customer_id == HOSTILE_ID
