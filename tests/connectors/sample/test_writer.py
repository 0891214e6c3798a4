"""The sample data generator: determinism, every source's shape, integrity across sources, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import zipcodes
from PIL import Image

from connectors.catalog import NEEDS, PRODUCTS
from connectors.desk import OfferResponse, SQLiteDesk, WrapUp, utc_now
from connectors.layout import Layout
from connectors.sample import FORMAT_VERSION, SampleError, generate

ORIGINAL_CLICKS = Path(__file__).resolve().parents[2] / "fixtures" / "clickstream_original.jsonl"
CLICK_KEYS = ["user_id", "datetime", "os", "browser", "response_time_ms", "product", "url"]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _profiles(layout: Layout) -> list[dict]:
    return [json.loads(line) for line in layout.profiles.read_text(encoding="utf-8").splitlines()]


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, 500, seed=7, progress=False)
    generate(b, 500, seed=7, progress=False)
    generate(c, 500, seed=8, progress=False)
    assert _digest(a) == _digest(b)
    assert _digest(a)["crm/profiles.jsonl"] != _digest(c)["crm/profiles.jsonl"]


def test_chunked_parallel_generation_matches_its_own_rerun(tmp_path, monkeypatch):
    monkeypatch.setattr("connectors.sample.writer.CHUNK_SIZE", 400)  # several chunks, so worker processes run
    generate(tmp_path / "a", 1_000, seed=3, progress=False)
    generate(tmp_path / "b", 1_000, seed=3, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    ids = [doc["id"] for doc in _profiles(Layout(tmp_path / "a"))]
    assert ids == list(range(1, 1_001))


def test_profiles_are_documents_with_nested_address_and_varying_optional_fields(sample_layout):
    docs = _profiles(sample_layout)
    assert len(docs) == sample_layout.read_manifest()["customers"]
    required = {
        "id",
        "name",
        "first_name",
        "last_name",
        "gender",
        "birth_date",
        "ssn",
        "address",
        "first_visit",
    }
    assert all(required <= doc.keys() for doc in docs)
    assert all(
        {"street", "city", "state", "zip", "latitude", "longitude"} <= doc["address"].keys() for doc in docs
    )
    key_sets = {frozenset(doc) for doc in docs}
    assert len(key_sets) > 10, "optional fields should come and go between documents"
    assert any("email" not in doc for doc in docs) and any("phone_number" not in doc for doc in docs)
    names = [doc["name"] for doc in docs]
    assert len(set(names)) < len(names), "a realistic directory has duplicate names"
    assert any(any(ch in name for ch in "áéíóúñÁÉÍÓÚ") for name in names), "accented names expected"
    assert any("'" in name for name in names), "apostrophe names expected"
    assert docs[0]["name"] == "Erika Gallardo"
    assert {doc["gender"] for doc in docs} == {"FEMALE", "MALE", "OTHER"}
    assert all(len(doc["ssn"]) == 11 for doc in docs)


def test_addresses_are_real_zip_codes_with_their_own_coordinates(sample_layout):
    docs = _profiles(sample_layout)
    for doc in docs[:300]:
        address = doc["address"]
        (known,) = zipcodes.matching(address["zip"])
        assert (known["city"], known["state"]) == (address["city"], address["state"])
        assert abs(float(known["lat"]) - address["latitude"]) < 0.1
        assert abs(float(known["long"]) - address["longitude"]) < 0.1
    erika = docs[0]["address"]
    assert (erika["city"], erika["state"], erika["zip"]) == ("Kansas City", "MO", "64111")
    assert (erika["latitude"], erika["longitude"]) == (39.0565, -94.5929)


def test_customers_live_where_people_live(sample_layout):
    states = pd.Series([doc["address"]["state"] for doc in _profiles(sample_layout)])
    shares = states.value_counts(normalize=True)
    assert shares.index[0] == "CA" and 0.08 < shares["CA"] < 0.17  # 12% of the contiguous states
    assert shares.get("WY", 0) < 0.01 and shares.get("VT", 0) < 0.01
    assert shares[["TX", "FL", "NY"]].min() > 0.04


def test_clicks_come_in_visits_with_a_time_of_day_rhythm(sample_layout):
    clicks = pd.read_json(sample_layout.clicks, lines=True)
    stamps = pd.to_datetime(clicks["datetime"])
    by_hour = stamps.dt.hour.value_counts().reindex(range(24), fill_value=0)
    assert by_hour.max() > 4 * by_hour.min(), "busy afternoons and evenings, quiet nights"
    assert by_hour[[3, 4]].sum() < by_hour[[12, 20]].sum() / 4
    gaps = clicks.assign(at=stamps).sort_values(["user_id", "at"]).groupby("user_id")["at"].diff()
    assert (gaps < pd.Timedelta(minutes=5)).mean() > 0.4, "a visit's clicks follow each other closely"


def test_banking_tables_have_keys_and_sensible_values(sample_layout):
    accounts = pd.read_parquet(sample_layout.accounts)
    transactions = pd.read_parquet(sample_layout.transactions)
    assert accounts["account_id"].is_unique
    assert set(accounts["product"].astype(str)) <= set(PRODUCTS)
    is_open = accounts["status"] == "open"
    assert set(accounts["status"]) == {"open", "closed"}
    assert (accounts.loc[is_open, "balance"] > 0).all() and (accounts.loc[~is_open, "balance"] == 0).all()
    assert accounts.loc[is_open, "closed_date"].isna().all()
    assert (accounts.loc[~is_open, "closed_date"] >= accounts.loc[~is_open, "opened_date"]).all()
    assert transactions["transaction_id"].is_unique
    assert transactions["transaction_id"].is_monotonic_increasing
    assert (transactions["amount"] > 0).all()
    assert list(transactions.columns) == [  # the original columns first, the contact center's after them
        "transaction_id",
        "customer_id",
        "date",
        "payee",
        "category",
        "amount",
        "fee",
        "declined",
        "disputed",
    ]
    assert (transactions["fee"] >= 0).all() and (transactions["fee"] > 0).any()
    per_customer = transactions.groupby("customer_id").size()
    assert per_customer.median() > 12, "months of history per customer"


def test_surveys_cover_a_minority_with_comments_and_known_needs(sample_layout):
    rows = [
        json.loads(line)
        for path in sorted(sample_layout.surveys.glob("responses-*.json"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    customers = sample_layout.read_manifest()["customers"]
    share = len({row["customer_id"] for row in rows}) / customers
    assert 0.10 <= share <= 0.15
    assert all(1 <= row["rating"] <= 5 and row["comment"] for row in rows)
    assert all(set(row["needs"]) <= set(NEEDS) for row in rows)


def test_clicks_have_exactly_the_original_message_format(sample_layout):
    reference = json.loads(ORIGINAL_CLICKS.open().readline())
    lines = sample_layout.clicks.read_text(encoding="utf-8").splitlines()
    assert lines == sorted(lines, key=lambda line: json.loads(line)["datetime"])
    for line in lines[:500]:
        click = json.loads(line)
        assert list(click) == CLICK_KEYS == list(reference)
        assert {k: type(v) for k, v in click.items()} == {k: type(v) for k, v in reference.items()}
        assert click["product"] in PRODUCTS
        assert line == json.dumps(click, separators=(",", ":"), ensure_ascii=False)


def test_every_click_user_and_every_transaction_customer_exists(sample_layout):
    con = duckdb.connect()
    profiles = f"read_json('{sample_layout.profiles}', format='newline_delimited')"
    orphans = con.execute(
        f"""
        SELECT
          (SELECT count(*) FROM read_json('{sample_layout.clicks}', format='newline_delimited') c
            WHERE c.user_id NOT IN (SELECT web_user_id FROM {profiles} WHERE web_user_id IS NOT NULL)),
          (SELECT count(*) FROM '{sample_layout.transactions}' t
            WHERE t.customer_id NOT IN (SELECT id FROM {profiles})),
          (SELECT count(*) FROM '{sample_layout.accounts}' a WHERE a.customer_id NOT IN (SELECT id FROM {profiles})),
          (SELECT count(*) FROM read_json('{sample_layout.surveys}/*.json', format='newline_delimited') s
            WHERE s.customer_id NOT IN (SELECT id FROM {profiles}))
        """
    ).fetchone()
    assert orphans == (0, 0, 0, 0)


def test_former_customers_closed_every_account_and_left_no_trace_after(sample_layout):
    accounts = pd.read_parquet(sample_layout.accounts)
    as_of = pd.Timestamp(sample_layout.read_manifest()["as_of"])
    per_customer = accounts.groupby("customer_id").agg(
        statuses=("status", "nunique"), closed_on=("closed_date", "max"), first_closed=("closed_date", "min")
    )
    assert (per_customer["statuses"] == 1).all(), "a customer's accounts are all open or all closed"
    closed_on = per_customer["closed_on"].dropna()
    assert (closed_on == per_customer["first_closed"].dropna()).all(), "closed on the day they left"
    assert (closed_on >= as_of - pd.Timedelta(days=365)).all() and (closed_on < as_of).all()
    assert 0.1 < len(closed_on) / sample_layout.read_manifest()["customers"] < 0.3
    truth = pd.read_parquet(sample_layout.truth).set_index("customer_id")
    assert set(truth.index[truth["former"]]) == set(closed_on.index)
    assert truth.loc[truth["former"], "churned"].all(), "former customers' truth: they left"

    def last_seen(frame: pd.DataFrame, day: str) -> pd.Series:
        return frame.groupby("customer_id")[day].max().reindex(closed_on.index).dropna()

    transactions = pd.read_parquet(sample_layout.transactions)
    assert (last_seen(transactions, "date") < closed_on.reindex(last_seen(transactions, "date").index)).all()
    surveys = pd.concat(pd.read_json(p, lines=True) for p in sample_layout.surveys.glob("*.json"))
    surveys["submitted"] = pd.to_datetime(surveys["submitted"])
    answered = last_seen(surveys, "submitted")
    assert len(answered) and (answered < closed_on.reindex(answered.index)).all()
    profiles = pd.DataFrame(_profiles(sample_layout)).dropna(subset=["web_user_id"])
    clicks = pd.read_json(sample_layout.clicks, lines=True)
    clicks["customer_id"] = profiles.set_index("web_user_id")["id"].reindex(clicks["user_id"]).to_numpy()
    clicks = clicks[clicks["customer_id"].isin(closed_on.index)]
    left = closed_on.reindex(clicks["customer_id"]).to_numpy()
    assert (
        len(clicks)
        and ((clicks["datetime"] < left) & (clicks["datetime"] >= left - pd.Timedelta(days=30))).all()
    )


def test_erika_gallardo_and_the_featured_customers_are_still_customers(sample_layout):
    accounts = pd.read_parquet(sample_layout.accounts)
    featured = sample_layout.read_manifest()["featured_customers"]
    assert featured[0] == 1 and len(featured) == 12
    held = accounts[accounts["customer_id"].isin(featured)]
    assert (held["status"] == "open").all()
    erika = set(held.loc[held["customer_id"] == 1, "product"].astype(str))
    assert {"debit_card", "personal_credit_card"} <= erika and "auto_loan" not in erika


def test_photos_are_jpeg_files_assigned_to_every_profile(sample_layout):
    photos = {p.name for p in sample_layout.photos.glob("*.jpg")}
    assert len(photos) == 48
    with Image.open(sample_layout.photos / "avatar-000.jpg") as image:
        assert image.format == "JPEG"
    assert {doc["photo"] for doc in _profiles(sample_layout)} <= photos


def test_ground_truth_is_separate_and_complete(sample_layout):
    truth = pd.read_parquet(sample_layout.truth)
    assert len(truth) == sample_layout.read_manifest()["customers"]
    assert truth["churn_probability"].between(0, 1).all()
    assert truth["segment"].nunique() == 6


def test_refuses_an_existing_data_set_without_force(tmp_path):
    generate(tmp_path / "d", 50, progress=False)
    with pytest.raises(SampleError, match="--force"):
        generate(tmp_path / "d", 50, progress=False)
    generate(tmp_path / "d", 60, progress=False, force=True)
    assert Layout(tmp_path / "d").read_manifest()["customers"] == 60
    assert [p.name for p in tmp_path.iterdir()] == ["d"], "no temporary folders are left behind"


@pytest.mark.parametrize("customers", [0, -5, 10**12])
def test_nonsense_sizes_are_refused(tmp_path, customers):
    with pytest.raises(SampleError, match="between 1 and"):
        generate(tmp_path / "d", customers, progress=False)
    assert not (tmp_path / "d").exists()


def _run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "connectors.sample", "--quiet", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1e99"])
def test_command_line_explains_a_bad_size(tmp_path, value):
    result = _run_cli("--customers", value, "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "customers" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root can write anywhere, so there is no unwritable folder to try"
)
def test_command_line_explains_an_unwritable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = _run_cli("--customers", "10", "--data-dir", str(locked / "d"))
    assert result.returncode == 2 and "cannot write" in result.stderr


def test_command_line_explains_a_file_in_the_way(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _run_cli("--customers", "10", "--data-dir", str(blocker / "d"))
    assert result.returncode == 2 and "cannot write" in result.stderr and "Traceback" not in result.stderr
    env_result = _run_cli("--customers", "10", env={"C360_DATA_DIR": str(blocker)})
    assert env_result.returncode == 2 and "C360_DATA_DIR" in env_result.stderr


def test_command_line_generates_once_with_if_missing(tmp_path):
    target = tmp_path / "d"
    first = _run_cli("--customers", "30", "--data-dir", str(target))
    assert first.returncode == 0 and "30 profiles" in first.stdout
    again = _run_cli("--customers", "30", "--data-dir", str(target), "--if-missing")
    assert again.returncode == 0 and "not regenerated" in again.stdout
    refused = _run_cli("--customers", "30", "--data-dir", str(target))
    assert refused.returncode == 2 and "--force" in refused.stderr


def test_if_missing_replaces_a_data_set_of_an_older_format(tmp_path):
    target = tmp_path / "d"
    generate(target, 20, progress=False)
    manifest = Layout(target).read_manifest()
    Layout(target).manifest.write_text(json.dumps(manifest | {"format": FORMAT_VERSION - 1}))
    result = _run_cli("--customers", "30", "--data-dir", str(target), "--if-missing")
    assert result.returncode == 0 and f"regenerating it as format {FORMAT_VERSION}" in result.stdout
    assert Layout(target).read_manifest()["format"] == FORMAT_VERSION
    assert Layout(target).read_manifest()["customers"] == 30


def test_generating_again_keeps_what_representatives_wrote_in_the_desk(tmp_path):
    """A new format or --force replaces the data set, never a representative's wrap-up, audit or answers."""
    data = tmp_path / "data"
    generate(data, 300, seed=5, progress=False)
    store = SQLiteDesk(Layout(data).desk)
    offer = OfferResponse("roth_ira", 1, "run-1", "accepted")
    store.save_wrapup(
        WrapUp("kept", 7, utc_now(), "fees", "resolved", "called about a fee", offers=(offer,)), "ana", True
    )
    store.log_opening(7, "ana", "session-1", private_shown=True)
    store.close()

    generate(data, 300, seed=5, force=True, progress=False)
    again = SQLiteDesk(Layout(data).desk)
    try:
        contact = again.contacts(7)
        assert contact["note"].tolist() == ["called about a fee"]
        assert again.openers_today(7) == 1
    finally:
        again.close()
    with sqlite3.connect(Layout(data).desk) as connection:
        rows = connection.execute(
            "SELECT source, count(*) FROM desk_offer_outcomes GROUP BY source"
        ).fetchall()
    assert dict(rows)["desk"] == 1 and dict(rows)["simulated"] > 0
