"""`python -m connectors.desk.export`: a customer's audit entries for a period, as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import timedelta

from connectors.config import environment
from connectors.desk import utc_now

COMMAND = [sys.executable, "-m", "connectors.desk.export"]


def _export(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **environment(settings)}
    return subprocess.run([*COMMAND, *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_audit_of_a_customer_and_period_is_exported_as_csv_and_json(desks, desk_settings):
    store = desks()
    store.log_opening(7, "ana", "s1", private_shown=False)
    store.log_opening(7, "bob", "s2", private_shown=True)
    store.log_opening(8, "ana", "s1", private_shown=True)
    today = utc_now().date()

    done = _export(desk_settings, "--customer", "7", "--since", today.isoformat())
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["agent"], r["private_shown"], r["customer_id"]) for r in rows] == [
        ("ana", "False", "7"),
        ("bob", "True", "7"),
    ]
    assert rows[0]["opened_at"].startswith(today.isoformat()) and rows[0]["opened_at"].endswith("Z")

    done = _export(desk_settings, "--customer", "7", "--since", today.isoformat(), "--format", "json")
    assert [entry["agent"] for entry in json.loads(done.stdout)] == ["ana", "bob"]

    yesterday = (today - timedelta(days=1)).isoformat()
    done = _export(desk_settings, "--customer", "7", "--since", yesterday, "--until", yesterday)
    assert done.returncode == 0 and list(csv.DictReader(io.StringIO(done.stdout))) == []


def test_a_bad_date_is_one_line_and_no_traceback(desk_settings):
    done = _export(desk_settings, "--customer", "7", "--since", "last tuesday")
    assert done.returncode == 2 and "expected a date" in done.stderr and "Traceback" not in done.stderr
