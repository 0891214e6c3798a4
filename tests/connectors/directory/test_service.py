"""The customer directory: search semantics against a brute-force scan, injection attempts as data, the 360
record from the embedded engine and from the real MariaDB, faults, malformed lines and refreshing sources."""

from __future__ import annotations

import dataclasses
import logging
import shutil

import numpy as np
import orjson
import pandas as pd
import pytest

from connectors.config import Settings, parse_mysql_url
from connectors.directory import Directory, UnknownCustomer, fold, search
from connectors.layout import Layout, SourceMissing
from connectors.tools import mysql_load
from tests.connectors.directory.scan import (
    FIELDS,
    SORTS,
    append,
    brute_force,
    copy_data,
    new_profile,
    scanned,
    texts,
)
from tests.servers import MariaDBServer, wait_until

INJECTIONS = [
    "'; DROP TABLE directory; --",
    '" OR 1=1 --',
    "name_key : a*",
    "{name_key email_key} : x",
    "a OR b",
    "NEAR(a b)",
    "*",
    "^ma",
    "%",
    "_",
    "\\",
    "'",
    '"',
    "a%b_c",
    "🙂",
    "\x00\x1f",
    "Robert'); DROP TABLE students;--",
]
SPECIAL_PEOPLE = [
    {"name": "Ann 100% Real", "email": "percent@example.com", "phone_number": "555-000-0001"},
    {"name": "Under_Score Smith", "email": "under_score@example.com", "phone_number": "555-000-0002"},
    {"name": "Back\\Slash Jones", "email": "backslash@example.com", "phone_number": "555-000-0003"},
    {"name": 'Quote "Q" Quinn', "email": "quote@example.com", "phone_number": "555-000-0004"},
    {"name": "José Ñúñez", "email": "jose.nunez@example.com", "phone_number": "555-000-0005"},
    {"name": "Ed", "email": "e@x.io", "phone_number": "555-000-0006"},
]


@pytest.fixture(scope="module")
def directory(sample_layout: Layout):
    with Directory(Settings(data_dir=sample_layout.root)) as opened:
        yield opened


@pytest.fixture(scope="module")
def profiles(sample_layout: Layout) -> pd.DataFrame:
    return scanned(sample_layout)


@pytest.fixture(scope="module")
def special_layout(sample_layout: Layout, tmp_path_factory) -> Layout:
    """The sample with people whose names hold %, _, backslash, quotes and accents."""
    layout = copy_data(sample_layout, tmp_path_factory.mktemp("special") / "data")
    append(layout.profiles, *(new_profile(900_001 + n, **p) for n, p in enumerate(SPECIAL_PEOPLE)))
    return layout


# ── search semantics ─────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("sort", SORTS)
def test_search_returns_what_a_brute_force_scan_returns_for_every_field_order_and_page(
    directory, profiles, sort
):
    for text in texts(profiles):
        for field in FIELDS:
            for descending in (False, True):
                expected = brute_force(profiles, text, field, sort, descending)
                for page in (1, 2) if field == "any" else (1,):
                    result = directory.search(text, field=field, sort=sort, descending=descending, page=page)
                    want = expected["id"].iloc[(page - 1) * 25 : page * 25].tolist()
                    case = f"{text!r} field={field} sort={sort} descending={descending} page={page}"
                    assert result.rows["id"].tolist() == want, case
                    assert (result.total, result.exact) == (len(expected), True), case
                    assert result.total_label == f"{len(expected):,}"


@pytest.mark.parametrize("walk_limit", [60, 100_000], ids=["walks-given-up", "walks-to-the-reach"])
@pytest.mark.parametrize("sort", SORTS)
def test_walks_and_caps_agree_with_the_scan_when_the_thresholds_are_small(
    directory, profiles, sort, walk_limit, monkeypatch
):
    """At 3,000 customers the cap and the walk's budget are never reached: shrink them to exercise them.

    With a small walk limit, the first matches rarely show the page within reach and the statements of
    the general plan run; with a large one, the walk to the reach the first matches show fills the page."""
    monkeypatch.setattr(search, "CAP", 40)
    monkeypatch.setattr(search, "WALK_BUDGET", 30)
    monkeypatch.setattr(search, "WALK_LIMIT", walk_limit)
    monkeypatch.setattr(search, "MAX_SHORT_TERMS", 5)
    for text in texts(profiles):
        for descending in (False, True):
            expected = brute_force(profiles, text, "any", sort, descending)
            for page in (1, 3):
                result = directory.search(text, sort=sort, descending=descending, page=page, page_size=10)
                case = f"{text!r} sort={sort} descending={descending} page={page}"
                assert (
                    result.rows["id"].tolist() == expected["id"].iloc[(page - 1) * 10 : page * 10].tolist()
                ), case
                if len(expected) <= 40 or not text.strip():
                    assert (result.total, result.exact) == (len(expected), True), case
                else:
                    assert (result.total, result.exact, result.total_label) == (40, False, "40+"), case


def test_case_accents_and_surrounding_whitespace_do_not_matter(directory, profiles):
    accented = profiles[profiles["name"].map(lambda n: not n.isascii())].iloc[0]
    plain = fold(accented["name"])
    assert plain.isascii() and plain != accented["name"].lower()
    for typed in (plain, plain.upper(), f"   {plain}\t", accented["name"]):
        assert accented["id"] in directory.search(typed, page_size=500).rows["id"].tolist(), typed


def test_percent_underscore_backslash_and_quotes_are_plain_characters(special_layout):
    with Directory(Settings(data_dir=special_layout.root)) as directory:
        for text, name in [
            ("100%", "Ann 100% Real"),
            ("r_s", "Under_Score Smith"),
            ("k\\s", "Back\\Slash Jones"),
            ('"q"', 'Quote "Q" Quinn'),
            ("jose nunez", "José Ñúñez"),
            ("ÑÚÑ", "José Ñúñez"),
        ]:
            result = directory.search(text)
            assert result.rows["name"].tolist() == [name], text
        people = scanned(special_layout)
        for text in ("%", "_", "\\", '"', "e@x", "ed"):
            assert (
                directory.search(text).rows["id"].tolist()
                == brute_force(people, text, "any", "name", False)["id"].iloc[:25].tolist()
            )
        assert directory.search("e@x").rows["name"].tolist() == ["Ed"]


def test_injection_attempts_are_searched_for_as_text(directory, profiles):
    for text in INJECTIONS:
        for field in FIELDS:
            for sort in ("name", "email"):
                expected = brute_force(profiles, text, field, sort, False)
                result = directory.search(text, field=field, sort=sort)
                assert result.rows["id"].tolist() == expected["id"].iloc[:25].tolist(), text
                assert result.total == len(expected), text
    assert directory.search("").total == len(profiles)
    assert directory.health()["customers"] == len(profiles)


def test_empty_text_pages_through_everyone_in_the_chosen_order(directory, profiles):
    expected = brute_force(profiles, "", "any", "tenure", True)
    seen = []
    for page in range(1, 8):
        result = directory.search("", sort="tenure", descending=True, page=page, page_size=500)
        assert (result.total, result.exact, result.total_label) == (len(profiles), True, f"{len(profiles):,}")
        seen += result.rows["id"].tolist()
    assert seen == expected["id"].tolist()
    assert directory.search("", page=1000).rows.empty


def test_a_page_has_the_columns_the_table_shows_and_the_sql_that_ran(directory, profiles):
    result = directory.search("maria", sort="email")
    assert list(result.rows.columns) == ["id", "name", "phone", "email", "tenure_years", "state", "products"]
    assert result.rows["tenure_years"].between(0, 100).all()
    assert result.rows["products"].ge(0).all()
    assert "directory_fts MATCH :match" in result.sql and "'\"maria\"'" in result.sql
    assert result.elapsed_ms > 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"field": "ssn"}, "field must be one of"),
        ({"text": "x" * 201}, "search text must be a string of up to 200 characters"),
        ({"sort": "name; DROP TABLE directory"}, "sort must be one of"),
        ({"page": 0}, "page must be"),
        ({"page_size": 100_000}, "page_size must be"),
        ({"sort": "churn_risk"}, "churn risk is not available until models are trained"),
        ({"persona": 2}, "personas are not available until models are trained"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(directory, arguments, message):
    with pytest.raises(ValueError, match=message):
        directory.search(**({"text": "a"} | arguments))


def test_scores_sort_by_churn_risk_and_filter_by_persona(sample_layout, profiles):
    rng = np.random.default_rng(5)
    scores = pd.DataFrame({"customer_id": profiles["id"], "churn_risk": rng.random(len(profiles))})
    scores["persona"] = rng.integers(0, 4, len(profiles))
    scores["persona_name"] = scores["persona"].map(lambda p: f"Persona {p}")
    with Directory(Settings(data_dir=sample_layout.root)) as directory:
        directory.attach_scores(scores)
        result = directory.search("", sort="churn_risk", descending=True, page_size=50)
        top = scores.sort_values("churn_risk", ascending=False).head(50)
        assert result.rows["id"].tolist() == top["customer_id"].tolist()
        assert result.rows["churn_risk"].tolist() == pytest.approx(top["churn_risk"].tolist())
        filtered = directory.search("an", persona=2, sort="churn_risk", page_size=500)
        members = set(scores.loc[scores["persona"] == 2, "customer_id"])
        expected = brute_force(profiles, "an", "any", "name", False)
        expected = expected[expected["id"].isin(members)]
        assert set(filtered.rows["id"]) == set(expected["id"]) and filtered.total == len(expected)
        assert set(filtered.rows["persona_name"]) == {"Persona 2"}
        with pytest.raises(ValueError, match="probability"):
            directory.attach_scores(scores.assign(churn_risk=2.0))


# ── the 360 record ───────────────────────────────────────────────────────────────────────────────────────


def test_the_360_record_joins_every_source_for_the_customer(directory, sample_layout):
    customer_id = sample_layout.read_manifest()["featured_customers"][0]
    record = directory.customer(customer_id)
    document = next(
        orjson.loads(line)
        for line in sample_layout.profiles.read_bytes().splitlines()
        if orjson.loads(line)["id"] == customer_id
    )
    assert record.profile == document and record.profile["ssn"] == document["ssn"]
    accounts = pd.read_parquet(sample_layout.accounts)
    held = accounts[accounts["customer_id"] == customer_id].sort_values(["opened_date", "account_id"])
    assert record.holdings["account_id"].tolist() == held["account_id"].tolist()
    assert record.holdings["balance"].tolist() == held["balance"].tolist()
    transactions = pd.read_parquet(sample_layout.transactions)
    spent = transactions[transactions["customer_id"] == customer_id]
    assert sorted(record.transactions["amount"]) == sorted(spent["amount"])
    assert record.transactions["date"].is_monotonic_decreasing
    answers = [
        orjson.loads(line)
        for path in sorted(sample_layout.surveys.glob("*.json"))
        for line in path.read_bytes().splitlines()
        if orjson.loads(line)["customer_id"] == customer_id
    ]
    assert sorted(record.surveys["comment"]) == sorted(a["comment"] for a in answers)
    assert record.photo == sample_layout.photos / document["photo"] and record.photo.is_file()
    assert record.banking_error is None
    assert "FROM profiles WHERE id = ?" in record.sql and "FROM transactions" in record.sql
    contacts = pd.read_parquet(sample_layout.contacts)
    theirs = contacts[contacts["customer_id"] == customer_id].sort_values("started_at", ascending=False)
    assert len(theirs) and record.contacts["contact_id"].tolist() == theirs["contact_id"].tolist()
    assert record.contacts["note"].tolist() == theirs["note"].tolist() and record.contacts_error is None
    clicks = pd.read_json(sample_layout.clicks, lines=True)
    clicked = clicks[clicks["user_id"] == document["web_user_id"]].sort_values("datetime", kind="stable")
    assert len(clicked) and record.clicks["url"].tolist() == clicked["url"].tolist()
    assert record.clicks["time"].tolist() == pd.to_datetime(clicked["datetime"]).tolist()
    assert "FROM contacts" in record.sql and "FROM clicks" in record.sql


def test_the_record_says_when_the_contact_history_is_missing_and_keeps_the_rest(sample_layout, tmp_path):
    layout = copy_data(sample_layout, tmp_path / "data")
    layout.contacts.unlink()
    with Directory(Settings(data_dir=layout.root)) as directory:
        record = directory.customer(1)
        assert record.contacts_error.startswith(
            "contact history unavailable: contact_center/contacts.parquet"
        )
        assert record.contacts.empty and list(record.contacts.columns)[:2] == ["contact_id", "started_at"]
        assert record.banking_error is None and len(record.holdings) and len(record.clicks)
        assert directory.health()["contacts"] == record.contacts_error


def test_an_unknown_customer_is_a_lookup_error(directory):
    with pytest.raises(UnknownCustomer, match="no customer with id 123456789"):
        directory.customer(123456789)
    with pytest.raises(LookupError):
        directory.customer("'; DROP TABLE profiles; --")


def test_web_users_link_website_ids_to_customers(directory, profiles):
    users = directory.web_users()
    expected = profiles.dropna(subset=["web_user_id"])
    assert list(users.columns) == ["web_user_id", "customer_id"]
    assert len(users) == len(expected)
    assert dict(zip(users["web_user_id"], users["customer_id"], strict=True)) == dict(
        zip(expected["web_user_id"].astype(int), expected["id"], strict=True)
    )


def test_map_points_place_every_customer_at_their_address_with_their_tenure(sample_layout, directory):
    documents = [orjson.loads(line) for line in sample_layout.profiles.read_bytes().splitlines()]
    points = directory.map_points()
    assert list(points.columns) == ["id", "latitude", "longitude", "tenure_years"]
    assert points["id"].tolist() == [d["id"] for d in documents]
    expected = np.array([[d["address"]["latitude"], d["address"]["longitude"]] for d in documents])
    assert np.allclose(points[["latitude", "longitude"]].to_numpy(), expected, atol=1e-4)
    as_of = pd.Timestamp(sample_layout.read_manifest()["as_of"])
    tenure = (as_of - pd.to_datetime([d["first_visit"] for d in documents])).days / 365.25
    assert np.allclose(points["tenure_years"], tenure, atol=0.06)


def test_map_points_leave_out_documents_without_coordinates(sample_layout, tmp_path):
    layout = copy_data(sample_layout, tmp_path / "data")
    append(
        layout.profiles,
        new_profile(900_001, name="No Place"),
        new_profile(900_002, name="Bad Place", address={"latitude": "north", "longitude": -90}),
        new_profile(900_003, name="Good Place", address={"latitude": 41.5, "longitude": -90.25}),
    )
    with Directory(Settings(data_dir=layout.root)) as opened:
        points = opened.map_points()
    assert 900_001 not in set(points["id"]) and 900_002 not in set(points["id"])
    assert points.set_index("id").loc[900_003, ["latitude", "longitude"]].tolist() == [41.5, -90.25]


# ── bad sources and changing sources ─────────────────────────────────────────────────────────────────────


def test_malformed_lines_are_skipped_counted_and_logged_with_file_and_line(sample_layout, tmp_path, caplog):
    layout = copy_data(sample_layout, tmp_path / "data")
    lines_before = len(layout.profiles.read_bytes().splitlines())
    append(
        layout.profiles,
        "{not json",
        '{"name": "No Id"}',
        "[1, 2, 3]",
        new_profile(1, name="Second Erika"),  # id 1 again: the first line wins
        new_profile(777_777, name="Valid Newcomer"),
        '{"id": 777778, "name": "Cut short',
    )
    survey = sorted(layout.surveys.glob("*.json"))[0]
    append(survey, "garbage", '{"rating": 5}')
    with caplog.at_level(logging.WARNING), Directory(Settings(data_dir=layout.root)) as directory:
        health = directory.health()
        assert health["malformed_lines"] == {"crm/profiles.jsonl": 5, f"surveys/{survey.name}": 2}
        assert health["customers"] == 3_001
        assert directory.search("valid newcomer").total == 1
        assert directory.customer(1).profile["name"] != "Second Erika"
    logged = caplog.text
    for line in range(lines_before + 1, lines_before + 5):
        assert f"profiles.jsonl line {line}:" in logged
    assert f"profiles.jsonl line {lines_before + 6}:" in logged
    assert f"{survey.name} line" in logged


def test_a_changed_source_is_picked_up_without_a_restart(sample_layout, tmp_path):
    layout = copy_data(sample_layout, tmp_path / "data")
    with Directory(Settings(data_dir=layout.root)) as directory:
        assert directory.search("quasimodo").total == 0
        append(layout.profiles, new_profile(888_888, name="Zyx Quasimodo", email="zq@example.com"))
        wait_until(lambda: directory.search("quasimodo").total == 1, timeout=60, message="the new profile")
        assert directory.customer(888_888).profile["name"] == "Zyx Quasimodo"
        answer = {"response_id": 1, "customer_id": 888_888, "submitted": "2026-10-30T10:00:00", "rating": 2}
        answer |= {"comment": "Added later.", "needs": ["To buy a home"], "channel": "web"}
        (layout.surveys / "responses-2026-12.json").write_bytes(orjson.dumps(answer) + b"\n")
        wait_until(
            lambda: directory.customer(888_888).surveys["comment"].tolist() == ["Added later."],
            timeout=60,
            message="the new survey file",
        )


def test_missing_profiles_name_the_setting_to_fix(tmp_path):
    with pytest.raises(SourceMissing, match=r"C360_DATA_DIR \(or --data-dir\): no customer profiles"):
        Directory(Settings(data_dir=tmp_path / "empty"))


def test_missing_banking_files_leave_search_working_and_say_why(sample_layout, tmp_path):
    layout = copy_data(sample_layout, tmp_path / "data")
    shutil.rmtree(layout.root / "banking")
    with Directory(Settings(data_dir=layout.root)) as directory:
        assert directory.search("maria").total > 0
        assert directory.search("maria").rows["products"].isna().all()
        record = directory.customer(1)
        assert record.banking_error.startswith(
            "core banking unavailable: banking/accounts.parquet is missing"
        )
        assert record.holdings.empty and record.profile["id"] == 1
        assert directory.health()["banking"] == record.banking_error


# ── MySQL ────────────────────────────────────────────────────────────────────────────────────────────────


def _database(server: MariaDBServer, name: str) -> str:
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    return server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="module")
def banking_url(mariadb: MariaDBServer, sample_layout: Layout) -> str:
    """The sample's banking tables in their own database of the session's MariaDB."""
    url = _database(mariadb, "c360_directory_tests")
    mysql_load.load(parse_mysql_url(url), sample_layout, progress=False)
    return url


@pytest.mark.mariadb
def test_the_360_record_is_the_same_from_mariadb_and_from_the_embedded_engine(
    banking_url, sample_layout, directory
):
    with Directory(Settings(data_dir=sample_layout.root, mysql_url=banking_url)) as remote:
        assert remote.health()["banking"] == "mysql ok"
        accounts = pd.read_parquet(sample_layout.accounts)
        former = accounts.loc[accounts["status"] == "closed", "customer_id"].iloc[0]
        ids = [*sample_layout.read_manifest()["featured_customers"][:4], int(former), 1500, 2999, 3000]
        for customer_id in ids:
            here, there = directory.customer(customer_id), remote.customer(customer_id)
            assert there.banking_error is None
            pd.testing.assert_frame_equal(here.holdings, there.holdings)
            pd.testing.assert_frame_equal(here.transactions, there.transactions)
            pd.testing.assert_frame_equal(here.surveys, there.surveys)
            pd.testing.assert_frame_equal(here.contacts, there.contacts)
            assert there.contacts_error is None
            assert here.profile == there.profile
            assert "WHERE customer_id = %s" in there.sql
        assert set(here.holdings["status"]) == {"open"} and here.holdings["closed_date"].isna().all()
        closed = remote.customer(int(former)).holdings
        assert set(closed["status"]) == {"closed"} and closed["closed_date"].notna().all()
        for sort in ("name", "phone"):
            pd.testing.assert_frame_equal(
                directory.search("ar", sort=sort).rows, remote.search("ar", sort=sort).rows
            )


@pytest.mark.mariadb
def test_a_records_version_names_what_mariadb_answered(banking_url, sample_layout, mariadb):
    """Sessions share what is computed from equal versions: a changed row in MySQL must change it."""
    with Directory(Settings(data_dir=sample_layout.root, mysql_url=banking_url)) as remote:
        before = remote.customer(7)
        assert before.version and remote.customer(7).version == before.version
        assert remote.customer(8).version != before.version
        change = "UPDATE transactions SET amount = amount + {} WHERE customer_id = 7 ORDER BY date LIMIT 1"
        with mariadb.connect(database="c360_directory_tests") as connection, connection.cursor() as cursor:
            cursor.execute(change.format(1))
            connection.commit()
            try:
                assert remote.customer(7).version != before.version
            finally:
                cursor.execute(change.format(-1))
                connection.commit()
        assert remote.customer(7).version == before.version
        assert dataclasses.replace(before, banking_error="changed by hand").version == ""


@pytest.mark.mariadb
def test_banking_going_away_and_coming_back_is_survived_and_reported(banking_url, sample_layout, mariadb):
    with Directory(Settings(data_dir=sample_layout.root, mysql_url=banking_url)) as remote:
        assert remote.customer(7).banking_error is None
        mariadb.stop()
        try:
            record = remote.customer(7)
            assert record.banking_error.startswith("core banking unavailable: ")
            assert "C360_MYSQL_URL" in record.banking_error and "cannot reach" in record.banking_error
            assert record.profile["id"] == 7 and record.holdings.empty
            assert record.contacts_error.startswith("contact history unavailable: ") and record.contacts.empty
            assert len(record.clicks), "the clicks are the embedded engine's: still there"
            assert remote.search("maria").total > 0
            assert remote.health()["banking"] == record.banking_error
        finally:
            mariadb.start()
        wait_until(
            lambda: remote.customer(7).banking_error is None, timeout=30, message="banking to come back"
        )
        assert len(remote.customer(7).holdings) > 0
        assert remote.health()["banking"] == "mysql ok"


@pytest.mark.mariadb
def test_banking_down_at_start_still_opens_the_directory_and_fills_in_later(
    banking_url, sample_layout, mariadb, tmp_path
):
    """With no build yet (an index folder of its own) and MySQL down, the first build has no products."""
    mariadb.stop()
    try:
        remote = Directory(
            Settings(data_dir=sample_layout.root, mysql_url=banking_url, index_dir=tmp_path / "index")
        )
    finally:
        mariadb.start()
    with remote:
        assert remote.search("maria").total > 0
        assert remote.search("maria").rows["products"].isna().all()
        assert remote.health()["banking"].startswith("core banking unavailable: ")
        wait_until(lambda: remote.customer(9).banking_error is None, timeout=30, message="banking to answer")
        wait_until(
            lambda: remote.search("maria").rows["products"].notna().all(),
            timeout=60,
            message="product counts",
        )


@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda url: url.replace("root@", "root:wrong@"), "C360_MYSQL_URL (or --mysql-url): access denied"),
        (lambda url: url.rsplit("/", 1)[0] + "/no_such_db", "has no database 'no_such_db'"),
    ],
)
def test_bad_banking_settings_are_named_in_the_record(banking_url, sample_layout, change, message):
    with Directory(Settings(data_dir=sample_layout.root, mysql_url=change(banking_url))) as remote:
        record = remote.customer(1)
        assert record.banking_error.startswith("core banking unavailable: ")
        assert message in record.banking_error
        assert remote.search("maria").total > 0


@pytest.mark.mariadb
def test_banking_tables_missing_from_the_database_say_how_to_load_them(mariadb, sample_layout):
    url = _database(mariadb, "c360_directory_empty")
    with Directory(Settings(data_dir=sample_layout.root, mysql_url=url)) as remote:
        record = remote.customer(1)
        assert "python -m connectors.tools.mysql_load" in record.banking_error
        assert record.contacts_error.startswith("contact history unavailable: ")
        assert "python -m connectors.tools.mysql_load" in record.contacts_error
