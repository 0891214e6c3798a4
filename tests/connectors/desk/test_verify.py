"""Caller verification: two of three answers after normalising, pass or fail only, a lock-out counted by
the store, and no answer ever stored or logged."""

from __future__ import annotations

import logging

import pytest

from connectors.desk import Answers, verify
from connectors.desk.verify import LIMIT, matches, normal_date

PROFILE = {"id": 7, "birth_date": "1984-03-09", "ssn": "123-45-6789", "address": {"zip": "64111"}}


@pytest.mark.parametrize(
    "typed",
    ["1984-03-09", "03/09/1984", "3/9/1984", "March 9, 1984", "9 Mar 1984", "19840309", " 03-09-1984 "],
)
def test_dates_are_read_in_the_common_formats(typed):
    assert normal_date(typed).isoformat() == "1984-03-09"


@pytest.mark.parametrize(
    ("answers", "count"),
    [
        (Answers("03/09/1984", "64111-0042", "6789"), 3),
        (Answers("", "64 111", "***-**-6789"), 2),
        (Answers("1984-09-03", "64111", ""), 1),
        (Answers("not a date", "6411", "789"), 0),
        (Answers(), 0),
    ],
)
def test_answers_match_after_normalising(answers, count):
    assert matches(PROFILE, answers) == count


def test_a_profile_without_the_fields_never_matches_empty_answers():
    assert matches({"id": 8}, Answers("", "", "")) == 0


def test_two_answers_pass_one_fails_without_saying_which(desks):
    store = desks()
    passed = verify(store, PROFILE, Answers("1984-03-09", "00000", "6789"), "ana", "s1")
    assert passed.passed and passed.message.startswith("Verified")
    failed = verify(store, PROFILE, Answers("1984-03-09", "00000", "0000"), "ana", "s1")
    assert not failed.passed
    assert "2 attempts left" in failed.message
    for word in ("birth", "ZIP", "SSN", "date"):
        assert word not in failed.message, "no hint of which answer was wrong"


def test_three_failures_lock_the_customer_even_for_right_answers_in_another_session(desks, caplog):
    store, other = desks(), desks()
    wrong = Answers("1999-01-01", "99999", "0000")
    with caplog.at_level(logging.INFO, logger="connectors.desk.verify"):
        verdicts = [verify(store, PROFILE, wrong, "ana", "s1") for _ in range(LIMIT)]
        locked = verify(other, PROFILE, Answers("1984-03-09", "64111", "6789"), "bob", "s2")
    assert [v.passed for v in verdicts] == [False] * LIMIT
    assert verdicts[-1].locked_until is not None and "Locked after 3 failed attempts" in verdicts[-1].message
    assert not locked.passed and locked.locked_until == verdicts[-1].locked_until
    assert f"try again after {locked.locked_until:%H:%M} UTC" in locked.message
    logged = caplog.text
    assert "failed" in logged and "locked" in logged
    for value in ("1999-01-01", "99999", "1984-03-09", "64111", "6789"):
        assert value not in logged, "answers are never logged"
