"""A page element with no looks that reloads the page once the server is back after a lost connection."""

from __future__ import annotations

from pathlib import Path

from panel.custom import JSComponent

WATCHDOG_JS = Path(__file__).resolve().parents[1] / "assets" / "watchdog.js"


class ConnectionWatchdog(JSComponent):
    """Put one on every served page: kiosks and screens then survive server restarts by themselves."""

    _esm = WATCHDOG_JS.read_text(encoding="utf-8")
