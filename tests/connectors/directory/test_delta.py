"""Changes laid over a build without rebuilding it: a delta answers exactly as a fresh build would."""

from __future__ import annotations

import json

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from connectors.config import Settings
from connectors.directory import Directory, artifact
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
from tests.servers import wait_until


def _settled(directory: Directory, changes: int) -> None:
    def done() -> bool:
        health = directory.health()
        now = artifact.sources(directory.settings, None)
        return health["delta"] is not None and directory._generation.sources == now

    wait_until(done, timeout=60, message=f"the delta of {changes} changes")


@pytest.fixture(scope="module")
def changed(sample_layout, tmp_path_factory):
    """The sample, built, then changed every way a delta takes: appended, edited, renamed and removed
    profiles, a new survey file, and customers whose products changed in the banking tables."""
    layout = copy_data(sample_layout, tmp_path_factory.mktemp("delta") / "data")
    directory = Directory(Settings(data_dir=layout.root))
    build = directory.health()["build"]
    lines = layout.profiles.read_text(encoding="utf-8").splitlines()
    edited = []
    for number, line in enumerate(lines):
        document = json.loads(line)
        if number % 97 == 5:  # a new phone number and email
            document["phone_number"] = f"777-{number:03d}-{number % 10000:04d}"[:12]
            document["email"] = f"moved{number}@example.org"
        elif number % 131 == 7:  # a new name: a new place in name order
            document["name"] = f"Aaron Renamed{number}"
        elif number % 173 == 11:  # removed
            continue
        edited.append(json.dumps(document, ensure_ascii=False))
    newcomers = [
        new_profile(700_000 + n, name=name, email=f"new{n}@example.com", phone_number=f"555-{n:03d}-0000")
        for n, name in enumerate(["Zoe Newcomb", "Aaron Aardvark", "Maria Delta", "José Nuevo", "Ed"])
    ]
    layout.profiles.write_text("\n".join([*edited, *newcomers]) + "\n", encoding="utf-8")
    answer = {"response_id": 1, "customer_id": 700_000, "submitted": "2026-10-30T10:00:00", "rating": 5}
    (layout.surveys / "responses-2026-12.json").write_bytes(
        orjson.dumps(answer | {"comment": "New."}) + b"\n"
    )
    accounts = pq.read_table(layout.accounts)
    pq.write_table(accounts.filter(pc.not_equal(pc.modulo(accounts["customer_id"], 50), 3)), layout.accounts)
    _settled(directory, 3)
    assert directory.health()["build"] == build, "a delta, not a new build"
    yield layout, directory
    directory.close()


@pytest.mark.parametrize("sort", SORTS)
def test_a_delta_answers_every_search_as_a_scan_of_the_changed_files_does(changed, sort):
    layout, directory = changed
    profiles = scanned(layout)
    cases = [*texts(profiles), "renamed", "777-", "moved", "newcomb", "nuevo", "aard"]
    for text in cases:
        for field in FIELDS:
            for descending in (False, True):
                expected = brute_force(profiles, text, field, sort, descending)
                for page in (1, 2) if field == "any" else (1,):
                    result = directory.search(text, field=field, sort=sort, descending=descending, page=page)
                    case = f"{text!r} field={field} sort={sort} descending={descending} page={page}"
                    assert (
                        result.rows["id"].tolist()
                        == expected["id"].iloc[(page - 1) * 25 : page * 25].tolist()
                    ), case
                    assert (result.total, result.exact) == (len(expected), True), case


def test_the_record_and_the_products_follow_the_changes(changed):
    layout, directory = changed
    newcomer = directory.customer(700_000)
    assert newcomer.profile["name"] == "Zoe Newcomb" and newcomer.surveys["comment"].tolist() == ["New."]
    moved = directory.customer(6)  # line 5 (the sixth line) was edited
    assert moved.profile["email"] == "moved5@example.org"
    accounts = pq.read_table(layout.accounts).to_pandas()
    counts = accounts[accounts["status"] == "open"].groupby("customer_id").size()
    rows = directory.search("", page_size=500).rows.set_index("id")["products"]
    assert all(int(rows[c]) == int(counts.get(c, 0)) for c in rows.index if c < 700_000)
    assert directory.customer(53).holdings.empty  # 53 % 50 == 3: its accounts were removed
    with pytest.raises(LookupError):
        directory.customer(12)  # line 11 was removed


def test_appended_lines_are_read_on_from_where_the_last_read_ended(sample_layout, tmp_path):
    layout = copy_data(sample_layout, tmp_path / "data")
    with Directory(Settings(data_dir=layout.root)) as directory:
        append(
            layout.profiles, new_profile(800_001, name="Quentin Appended"), new_profile(1, name="Not Erika")
        )
        wait_until(
            lambda: directory.search("quentin appended").total == 1, timeout=60, message="the new line"
        )
        health = directory.health()
        assert health["delta"]["customers"] == 1 and health["delta"]["replaced"] == 0
        skipped = health["skipped_lines"]["crm/profiles.jsonl"]["reasons"]["duplicate_key"]
        assert skipped["count"] == 1 and skipped["lines"] == [3002]
        assert directory.customer(1).profile["name"] == "Erika Gallardo"
        append(layout.profiles, new_profile(800_002, name="Quentin Later"))
        wait_until(lambda: directory.search("quentin").total == 2, timeout=60, message="a second append")
        assert directory.health()["delta"]["customers"] == 2
