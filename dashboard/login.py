"""The login (``C360_BASIC_AUTH``): Panel's password page, with every failed attempt logged and throttled.

``python -m dashboard`` serves this file as Bokeh's auth module (``panel serve --auth-module``) instead of
Panel's ``--basic-auth``, whose login handler answers every wrong password at once and logs nothing. Here a
failed attempt is logged with the user name, the address and the time (never the password) and slowed by
:mod:`connectors.logins` (each failure after the third waits twice as long, ten lock the user name or
address for 15 minutes), and the page says why. Panel's own pieces do the rest: its login page (with its
logo from this server rather than Panel's CDN: the screen works on closed networks), its cookies
(``pn.state.user`` works as before) and its logout page.

The settings come from the environment (``python -m dashboard`` and the fleet put them there), so the
passwords are never on a command line.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
from datetime import datetime, timezone
from urllib.parse import urlsplit

import tornado.web
from panel.auth import BasicAuthProvider, BasicLoginHandler
from panel.auth import LogoutHandler as LogoutHandler  # Bokeh's auth module serves it: Panel's logout page
from panel.io.resources import LOCAL_DIST
from tornado.websocket import WebSocketHandler

from connectors import config
from connectors.logins import LOCK_AFTER, LOCK_S, LoginThrottle, Verdict

log = logging.getLogger("dashboard.login")
log.setLevel(logging.INFO)  # logins are an audit trail: successful ones are logged too

login_url = "/login"  # the names Bokeh's auth modules define: the pages, and get_user and the handlers below
logout_url = "/logout"
MAX_ANSWER_DELAY_S = 10.0  # a failed attempt's answer waits its delay, at most this long
WRONG = "Wrong user name or password."


@functools.cache
def _guard() -> tuple[dict[str, str] | str, LoginThrottle]:
    """The passwords and the throttle, from the settings in the environment (read once per process)."""
    settings = config.load([])
    if settings.logins is None:
        raise RuntimeError(f"the login module is served without {config.describe('basic_auth')}")
    throttle = LoginThrottle.for_settings(settings)
    scope = "shared through Redis" if throttle.shared else "counted in this process"
    log.info("login on: failed attempts are logged and slowed (%s)", scope)
    return settings.logins, throttle


def password_matches(logins: dict[str, str] | str, user: str, password: str) -> bool:
    """Whether ``password`` is ``user``'s (or the shared one), compared in constant time."""
    expected = logins.get(user) if isinstance(logins, dict) else logins
    return expected is not None and hmac.compare_digest(password.encode(), expected.encode())


def _when(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def safe_path(target: str) -> str | None:
    """``target`` when it is a path on this server (where to go after the login), else None."""
    parts = urlsplit(target)
    local = target.startswith("/") and not (parts.scheme or parts.netloc or "\\" in target)
    return target if local else None


class LoginHandler(BasicLoginHandler):
    """Panel's login page, with its images from this server; its POST checks the throttle first, then the
    password, and says what happened. Messages come only from these answers, never from the URL."""

    def get(self) -> None:
        target = safe_path(self.get_argument("next", ""))
        if target:
            self.set_cookie("next_url", target)
        self._answer(200, "")

    async def post(self) -> None:
        user = self.get_argument("username", "")
        password = self.get_argument("password", "")
        address = self.request.remote_ip or "unknown"
        logins, throttle = _guard()
        now = throttle.clock()
        verdict = throttle.verdict(user, address)
        if not verdict.allowed:
            log.warning(
                "login refused for user %r from %s at %s: %s",
                user,
                address,
                _when(now),
                "locked" if verdict.locked_until else f"{verdict.wait_s:.0f} s to wait",
            )
            return self._answer(429, self._refusal(verdict), verdict.wait_s)
        if password_matches(logins, user, password):
            throttle.succeeded(user, address)
            log.info("login of user %r from %s at %s", user, address, _when(now))
            self.set_current_user(user)
            return self.redirect(self._next_url())
        verdict = throttle.failed(user, address)
        log.warning(
            "failed login for user %r from %s at %s (%d failed in a row%s)",
            user,
            address,
            _when(now),
            verdict.failures,
            f"; locked until {_when(verdict.locked_until)}" if verdict.locked_until else "",
        )
        await asyncio.sleep(min(verdict.wait_s, MAX_ANSWER_DELAY_S))
        message = WRONG
        if verdict.locked_until:
            message = f"{WRONG} {self._refusal(verdict)}"
        elif verdict.wait_s:
            message = (
                f"{WRONG} After {verdict.failures} failed attempts each answer waits longer; "
                f"after {LOCK_AFTER} the login is locked for {_minutes(LOCK_S)}."
            )
        self._answer(401, message)

    @staticmethod
    def _refusal(verdict: Verdict) -> str:
        if verdict.locked_until:
            return (
                f"Too many failed attempts: this user name or address is locked until "
                f"{_when(verdict.locked_until)}. If that was not you, tell your administrator."
            )
        return f"Too many failed attempts: try again in {_minutes(max(1.0, verdict.wait_s))}."

    def _answer(self, status: int, message: str, retry_after_s: float = 0.0) -> None:
        """The login page again, with the message."""
        self.set_status(status)
        if retry_after_s:
            self.set_header("Retry-After", str(max(1, round(retry_after_s))))
        page = self._login_template.render(
            login_endpoint=login_url, errormessage=message, PANEL_CDN=f"/{LOCAL_DIST}"
        )
        self.write(page)

    def _next_url(self) -> str:
        """Where the visitor was going, else the root."""
        return safe_path(self.get_cookie("next_url") or "") or "/"


_panel = BasicAuthProvider(login_endpoint=login_url, logout_endpoint=logout_url)


def get_user(request_handler: tornado.web.RequestHandler) -> str | None:
    """The logged-in user from Panel's cookie. An anonymous page request whose path ends with a slash is
    first sent to the path without it: Panel sends anonymous visitors to the login page by a relative URL
    (``./login``), which from ``/customer360/`` is ``/customer360/login``, a page that does not exist."""
    user = _panel.get_user(request_handler)
    request = request_handler.request
    if (
        not user
        and request.method in ("GET", "HEAD")
        and request.path not in ("", "/")
        and request.path.endswith("/")
        and not isinstance(request_handler, WebSocketHandler)
    ):
        request_handler.redirect(request.path.rstrip("/") + (f"?{request.query}" if request.query else ""))
        raise tornado.web.Finish()
    return user
