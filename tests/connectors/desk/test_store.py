"""The desk's store on both engines: a wrap-up is written once and seen by every other store and process,
survives its writer's kill -9, and says so when the server is down; the audit is append-only."""

from __future__ import annotations

import ast
import inspect
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from connectors import desk
from connectors.config import Settings, environment, parse_mysql_url
from connectors.desk import DeskUnavailable, MySQLDesk, OfferResponse, SQLiteDesk, WrapUp, utc_now
from connectors.desk.store import DeskStore
from tests.connectors.desk.conftest import fresh_database
from tests.hostile_data import IMG_NAME, SCRIPT_COMMENT
from tests.servers import wait_until

ROOT = Path(__file__).resolve().parents[3]
CHANGES = re.compile(r"\b(DELETE\s+FROM|UPDATE\s+\w+\s+SET|DROP\s+TABLE|REPLACE\s+INTO|TRUNCATE)\b", re.I)


def _wrapup(key: str = "form-1", note: str = "called about a fee", **changes) -> WrapUp:
    offers = (
        OfferResponse("auto_loan", 1, "run-1", "declined"),
        OfferResponse("roth_ira", 2, "run-1", "accepted"),
    )
    fields = dict(contact_key=key, customer_id=7, started_at=utc_now(), reason="fees", outcome="resolved")
    return WrapUp(**(fields | {"note": note, "offers": offers} | changes))


def _run(settings: Settings, code: str) -> subprocess.CompletedProcess:
    """Python ``code`` in another process with the same settings (``store`` is open there)."""
    prelude = "from connectors import config, desk\nstore = desk.open_store(config.load([]))\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=ROOT,
        env={**os.environ, **environment(settings)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_wrapup_is_written_once_and_seen_by_another_store(desks):
    first, second = desks(), desks()
    wrapup = _wrapup()
    saved = first.save_wrapup(wrapup, agent="ana", verified=True)
    again = second.save_wrapup(_wrapup(note="a retry with other text", outcome="follow_up"), "bob", False)

    assert saved.written and not again.written, "the second submit of the form writes nothing"
    assert again.wrapup.note == wrapup.note and again.agent == "ana" and again.verified
    assert again.wrapup.offers == wrapup.offers, "the offers' answers were written with the contact"
    contacts = second.contacts(7)
    assert len(contacts) == 1
    row = contacts.iloc[0]
    assert (row.contact_key, row.reason, row.outcome, row.agent, row.source) == (
        "form-1",
        "fees",
        "resolved",
        "ana",
        "desk",
    )
    assert row.note == wrapup.note and bool(row.verified)
    assert second.contacts(8).empty


def test_a_wrapup_is_seen_by_another_process(desks, desk_settings):
    desks().save_wrapup(_wrapup(note=SCRIPT_COMMENT), agent="ana", verified=True)
    done = _run(desk_settings, "print(store.contacts(7).note.tolist())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr([SCRIPT_COMMENT]), "hostile text is kept as typed"


def test_submits_racing_with_one_key_write_one_record(desks):
    stores = [desks() for _ in range(4)]
    results = []
    threads = [
        threading.Thread(target=lambda s=s: results.append(s.save_wrapup(_wrapup("race"), "ana", True)))
        for s in stores
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.written for result in results) == [False] * 7 + [True]
    assert len(stores[0].contacts(7)) == 1


def test_a_committed_wrapup_survives_its_writers_kill_9(desks, desk_settings):
    code = (
        f"store.save_wrapup(desk.WrapUp('killed', 7, desk.utc_now(), 'fees', 'resolved', {IMG_NAME!r}), "
        "'ana', True)\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = _run(desk_settings, code)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert desks().contacts(7).note.tolist() == [IMG_NAME]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"reason": "smalltalk"}, "choose a reason"),
        ({"outcome": ""}, "choose an outcome"),
        ({"note": "x" * (desk.NOTE_MAX + 1)}, "at most 1,000"),
        ({"contact_key": ""}, "key"),
        ({"offers": (OfferResponse("auto_loan", 1, "run-1", "maybe"),)}, "answer each offer"),
        ({"offers": (OfferResponse("yacht", 1, "run-1", "accepted"),)}, "each offer must be a product"),
    ],
)
def test_a_wrong_wrapup_is_refused_with_what_is_wrong_and_writes_nothing(desks, changes, problem):
    store = desks()
    with pytest.raises(ValueError, match=problem):
        store.save_wrapup(_wrapup(**changes), "ana", True)
    assert store.contacts(7).empty


def test_offers_shown_and_openings_are_logged_and_counted_per_representative(desks):
    store, other = desks(), desks()
    store.log_opening(7, "ana", "session-1", private_shown=False)
    store.log_opening(7, "ana", "session-1", private_shown=True)
    other.log_opening(7, "bob", "session-2", private_shown=True)
    other.log_opening(8, "cid", "session-3", private_shown=True)
    store.log_offers_shown(7, [desk.ShownOffer("auto_loan", 1, "run-1")], "ana", "session-1")

    assert store.openers_today(7) == 2 and other.openers_today(8) == 1
    assert store.openers_today(7, today=utc_now().date() - timedelta(days=1)) == 0
    entries = other.audit(7, utc_now() - timedelta(hours=1), utc_now() + timedelta(seconds=1))
    assert entries[["agent", "private_shown"]].values.tolist() == [
        ["ana", False],
        ["ana", True],
        ["bob", True],
    ]


def test_verification_attempts_lock_the_customer_for_every_store(desks):
    store, other = desks(), desks()
    window = timedelta(minutes=10)
    assert store.verification_attempt(7, "ana", "s1", False, window, 3).failures == 1
    assert store.verification_attempt(7, "ana", "s1", True, window, 3).passed, "a pass starts the count again"
    assert store.verification_attempt(7, "ana", "s1", False, window, 3).failures == 1
    assert other.verification_attempt(7, "bob", "s2", False, window, 3).locked_until is None
    third = store.verification_attempt(7, "ana", "s1", False, window, 3)
    assert third.passed is False and third.locked_until is not None
    locked = other.verification_attempt(7, "bob", "s2", True, window, 3)
    assert locked.passed is None and locked.locked_until == third.locked_until, "locked across stores"
    assert other.verification_attempt(8, "bob", "s2", True, window, 3).passed, "other customers are not"


def _class_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction)}


def test_nothing_can_change_or_delete_a_desk_row():
    for cls in (DeskStore, SQLiteDesk, MySQLDesk):
        assert not {m for m in _class_methods(cls) if m.startswith(("delete", "update", "remove", "erase"))}
    folder = ROOT / "connectors" / "desk"
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not CHANGES.search(node.value), f"{path.name}: {node.value!r}"


@pytest.mark.mariadb
def test_a_stopped_server_is_reported_and_the_submit_after_it_returns_writes_one_record(mariadb):
    target = parse_mysql_url(fresh_database(mariadb))
    store = MySQLDesk(target)
    store.log_opening(7, "ana", "s1", True)  # connected once: then the server goes away
    mariadb.stop()
    try:
        with pytest.raises(DeskUnavailable, match="cannot reach a MySQL server"):
            store.save_wrapup(_wrapup("down"), "ana", True)
        assert store.status.startswith("desk unavailable: C360_MYSQL_URL")
    finally:
        mariadb.start()
    saved = wait_until(lambda: _saved_or_none(store, _wrapup("down")), timeout=30, message="the retry")
    assert saved.written and store.status.startswith("desk ok")
    assert store.save_wrapup(_wrapup("down"), "ana", True).written is False
    other = MySQLDesk(target)
    assert len(other.contacts(7)) == 1
    other.close()
    store.close()


def _saved_or_none(store, wrapup):
    try:
        return store.save_wrapup(wrapup, "ana", True)
    except DeskUnavailable:
        return None


def test_an_unwritable_data_folder_is_reported_not_raised_as_a_crash(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    store = SQLiteDesk(blocked / "desk" / "desk.sqlite")
    with pytest.raises(DeskUnavailable, match="cannot use the desk's file"):
        store.contacts(1)
    assert store.status.startswith("desk unavailable")
