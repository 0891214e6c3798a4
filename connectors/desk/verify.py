"""Caller verification: the representative types what the caller says, the server compares it with the CRM
profile and answers pass or fail only.

Three questions: date of birth, ZIP code, last four digits of the SSN; two must match (``NEEDED``). Answers
are compared after normalising them (a date in any common format, digits only for the ZIP and the SSN), in
constant time, and never stored or logged: the store logs each attempt's result, who and when. ``LIMIT``
failed attempts within ``WINDOW`` since the customer's last pass lock the customer until the oldest of them
is ``WINDOW`` old; the count is the store's (``desk_verifications``), so it holds across sessions, processes
and machines.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from connectors.desk.store import DeskStore

log = logging.getLogger(__name__)

NEEDED = 2  # of the three answers
LIMIT = 3  # failed attempts …
WINDOW = timedelta(minutes=10)  # … within this long lock the customer
# Dates as callers say them and representatives type them: ISO, US month first, and words.
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%m/%d/%Y",
    "%m-%d-%Y",
    "%m.%d.%Y",
    "%m/%d/%y",
    "%B %d %Y",
    "%b %d %Y",
    "%d %B %Y",
    "%d %b %Y",
)


@dataclass(frozen=True)
class Answers:
    """What the caller said, as typed."""

    birth_date: str = ""
    zip_code: str = ""
    ssn_last4: str = ""


@dataclass(frozen=True)
class Verdict:
    """Pass or fail, a message for the screen (no hint of which answer was wrong), and the lock's end."""

    passed: bool
    message: str
    locked_until: datetime | None = None  # UTC


def normal_date(text: str) -> date | None:
    """A typed date in any of ``DATE_FORMATS`` (commas and extra spaces ignored), or None."""
    cleaned = " ".join(str(text or "").replace(",", " ").split())
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, form).date()
        except ValueError:
            continue
    return None


def digits(text: object) -> str:
    return re.sub(r"\D", "", str(text or ""))


def _same(typed: str, known: str) -> bool:
    return bool(typed) and bool(known) and hmac.compare_digest(typed.encode(), known.encode())


def matches(profile: dict, answers: Answers) -> int:
    """How many of the three answers match the profile (the count never leaves the server)."""
    born, said = normal_date(profile.get("birth_date") or ""), normal_date(answers.birth_date)
    zip_known = digits((profile.get("address") or {}).get("zip"))[:5]
    ssn_known = digits(profile.get("ssn"))[-4:]
    return sum(
        (
            born is not None and said is not None and _same(said.isoformat(), born.isoformat()),
            _same(digits(answers.zip_code)[:5], zip_known) and len(zip_known) == 5,
            _same(digits(answers.ssn_last4)[-4:], ssn_known) and len(ssn_known) == 4,
        )
    )


def _at(moment: datetime) -> str:
    return f"{moment:%H:%M} UTC"


def verify(store: DeskStore, profile: dict, answers: Answers, agent: str, session: str) -> Verdict:
    """Compare the answers with ``profile`` and log the attempt (raises DeskUnavailable when the store is
    down: no attempt is then possible, so private details stay hidden)."""
    customer_id = int(profile["id"])
    passed = matches(profile, answers) >= NEEDED
    attempt = store.verification_attempt(customer_id, agent, session, passed, WINDOW, LIMIT)
    outcome = "locked" if attempt.passed is None else "passed" if attempt.passed else "failed"
    log.info("verification of customer %d by %s: %s", customer_id, agent, outcome)
    lock = f"{LIMIT} failed attempts in {WINDOW.seconds // 60} minutes"
    if attempt.passed is None:
        return Verdict(
            False, f"Locked after {lock}: try again after {_at(attempt.locked_until)}.", attempt.locked_until
        )
    if attempt.passed:
        return Verdict(True, "Verified: the caller answered enough questions.")
    if attempt.locked_until is not None:
        return Verdict(
            False,
            f"Not verified. Locked after {lock}: try again after {_at(attempt.locked_until)}.",
            attempt.locked_until,
        )
    left = LIMIT - attempt.failures
    return Verdict(
        False, f"Not verified. {left} attempt{'' if left == 1 else 's'} left before a lock of the record."
    )
