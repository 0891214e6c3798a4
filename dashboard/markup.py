"""Small helpers for the views: HTML builders (every piece of customer text goes through ``escape``), the
panes that show them (``HTMLText``, ``JPGImage``), and ``keeps_going``, which keeps one view's failure from
stopping the others.

Names, comments and page addresses come from customers and the web; rendering them as markup would let a
name like ``<img src=x onerror=alert(1)>`` run in a representative's browser. Views build HTML only here.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import panel as pn

log = logging.getLogger(__name__)


SCREEN_CSS = (Path(__file__).resolve().parents[1] / "assets" / "customer360.css").read_text()


class _ObjectUpdates:
    """A pane whose new object sends the browser only what the object sets (text, and an image's size).

    Panel re-sends every property of an HTML-based pane when its object changes. Inside a template the
    first change also swaps in the design's stylesheets, which the template had left out at render, and it
    makes a pane in a collapsed card visible again: the browser restyles and lays out the whole page, which
    was 460 ms of a page's first selection (590 ms, profiled in Chromium). Other properties still go through
    Panel's own updates.

    It carries the screen's stylesheet itself: Panel renders a pane's HTML in a shadow root, which the
    page's stylesheet does not reach (Panel's first update used to add it, so a pane was unstyled until
    its content first changed).
    """

    def __init__(self, object=None, **params):
        params.setdefault("stylesheets", [SCREEN_CSS])
        super().__init__(object, **params)

    def _update(self, ref: str, model) -> None:
        model.update(**self._process_param_change({"object": self.object}))


class HTMLText(_ObjectUpdates, pn.pane.HTML):
    """``pn.pane.HTML`` whose updates send only the new text."""


class JPGImage(_ObjectUpdates, pn.pane.JPG):
    """``pn.pane.JPG`` whose updates send only the new image."""


def escape(value: object) -> str:
    """Text as HTML text, quotes included."""
    return html.escape("" if value is None else str(value), quote=True)


def items(values: Iterable[object], empty: str = "none") -> str:
    """An escaped bullet list, or a muted placeholder."""
    rows = [f"<li>{escape(v)}</li>" for v in values]
    return f"<ul>{''.join(rows)}</ul>" if rows else f"<p class='c360-muted'>{escape(empty)}</p>"


def tip(text: object, title: object) -> str:
    """Text with an explanation on hover (and for screen readers)."""
    return (
        f"<span class='c360-tip' title='{escape(title)}' aria-label='{escape(title)}'>{escape(text)}</span>"
    )


def mask_email(email: str | None) -> str:
    """e***@example.com: enough to confirm with the caller, not enough to copy."""
    if not isinstance(email, str) or "@" not in email:
        return "—"
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str:
    """***-***-1234: the last four digits, as callers are asked to confirm."""
    return f"***-***-{phone[-4:]}" if isinstance(phone, str) and len(phone) >= 4 else "—"


def mask_ssn(ssn: str | None) -> str:
    """***-**-6789; the full number never leaves the server."""
    return f"***-**-{ssn[-4:]}" if isinstance(ssn, str) and len(ssn) >= 4 else "—"


def keeps_going(method: Callable) -> Callable:
    """Run a view's update so that a failure in one view never stops the others updating.

    The error is logged with its traceback and shown to the user as a notification naming the view.
    """

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as error:
            log.exception("%s failed to update", type(self).__name__)
            if pn.state.notifications is not None:
                pn.state.notifications.error(f"{type(self).__name__}: {error}", duration=8000)
            return None

    return guarded
