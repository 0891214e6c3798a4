"""Kiosk mode: full screen, large type, read-only, rotating through the customers online now.

Served at ``/customer360?kiosk=1`` (``&rotate=20`` seconds, ``&theme=dark``). No contact details are sent,
customers who refused marketing are never shown, and there are no editing controls; the rotation runs on the session's own periodic callback, which stops
with the session, so a wall display can run for days without growing memory.
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta

import param
from panel.viewable import Viewer

from dashboard.markup import HTMLText, escape, keeps_going
from dashboard.store import CustomerStore
from dashboard.timer import SessionTimer

DEFAULT_ROTATE = 20
RECENTLY_SHOWN = 200  # customers not shown again until the others have had a turn
ROTATE_BOUNDS = (5, 3600)
CONSENT_BATCH = 50  # customers whose consent is asked at once


def rotate_seconds(raw: str | None) -> tuple[int, str]:
    """The rotation period from the URL, and a note when the value had to be replaced."""
    if raw is None:
        return DEFAULT_ROTATE, ""
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_ROTATE, f"rotate={raw!r} is not a number of seconds; using {DEFAULT_ROTATE}"
    low, high = ROTATE_BOUNDS
    if not low <= value <= high:
        clamped = min(max(value, low), high)
        return clamped, f"rotate={value} is outside {low}–{high} seconds; using {clamped}"
    return value, ""


class KioskRotation(Viewer):
    """Moves the store to the next customer who is online now (or a featured one) every period.

    The online list reorders itself with every click, so the rotation remembers whom it showed
    rather than stepping through positions, and nobody is skipped or shown twice in a row.
    """

    store = param.ClassSelector(class_=CustomerStore)
    rotate = param.Integer(default=DEFAULT_ROTATE, bounds=ROTATE_BOUNDS)
    online_within = param.Parameter(default=timedelta(minutes=5))

    def __init__(self, **params):
        super().__init__(**params)
        self.banner = HTMLText(sizing_mode="stretch_width")
        self._shown: deque[int] = deque(maxlen=RECENTLY_SHOWN)
        self.advance()
        self._timer = SessionTimer(self.advance, self.rotate * 1000)

    def candidates(self) -> tuple[list[int], str]:
        """Customers to show, and what they are."""
        online = self.store.services.stream.online_customers(within=self.online_within)
        if online:
            return list(online), "online now"
        return list(self.store.services.featured), "featured customers"

    @keeps_going
    def advance(self) -> None:
        """Show the next customer in the rotation."""
        customers, kind = self.candidates()
        if not customers:
            self.banner.object = "<p class='c360-muted'>Nobody to show yet.</p>"
            return
        fresh = [customer for customer in customers if customer not in self._shown]
        if not fresh:  # everyone has had a turn: start the round again
            self._shown.clear()
            fresh = customers
        chosen = self._first_shown(fresh)
        if chosen is None:
            self.banner.object = "<p class='c360-muted'>Nobody to show yet.</p>"
            return
        self.store.select(chosen)
        self._shown.append(chosen)
        self.banner.object = (
            f"<p class='c360-muted'>{len(customers):,} {escape(kind)} · next in {self.rotate} s</p>"
        )

    def _first_shown(self, customers: list[int]) -> int | None:
        """The first of ``customers`` who did not refuse marketing (the kiosk never shows those who did),
        asked of the directory a few at a time."""
        for start in range(0, len(customers), CONSENT_BATCH):
            batch = customers[start : start + CONSENT_BATCH]
            refused = self.store.services.directory.opted_out(batch)
            for customer in batch:
                if customer not in refused:
                    return customer
        return None

    def __panel__(self):
        return self.banner
