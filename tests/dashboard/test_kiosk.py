"""Kiosk rotation and its URL options, against the real services (replayed clicks running)."""

from __future__ import annotations

import pytest

from dashboard.kiosk import DEFAULT_ROTATE, KioskRotation, rotate_seconds
from dashboard.store import CustomerStore


@pytest.mark.parametrize(
    ("raw", "expected", "noted"),
    [
        (None, DEFAULT_ROTATE, False),
        ("30", 30, False),
        ("abc", DEFAULT_ROTATE, True),
        ("1", 5, True),
        ("99999", 3600, True),
    ],
)
def test_rotate_option_is_validated_with_a_note(raw, expected, noted):
    value, note = rotate_seconds(raw)
    assert value == expected and bool(note) == noted


def test_rotation_visits_different_customers_without_repeats(services):
    store = CustomerStore(services)
    rotation = KioskRotation(store=store, rotate=5)
    seen = [store.customer_id]
    for _ in range(5):
        rotation.advance()
        seen.append(store.customer_id)
    assert len(set(seen)) == len(seen), seen
    candidates, kind = rotation.candidates()
    assert kind in ("online now", "featured customers") and candidates
    assert store.record is not None and store.record.profile["id"] == seen[-1]
