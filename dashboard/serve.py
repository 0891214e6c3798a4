"""The `panel serve` command line of a dashboard process, from the settings in connectors/config.py.

One process (``python -m dashboard``) or many behind a proxy (``python -m dashboard --processes N``, see
``dashboard/fleet.py``) start the same way, so `make demo`, a kiosk box and a production host agree.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from connectors import config

APP = Path(__file__).with_name("customer360.py")
WARM = Path(__file__).with_name("warm.py")
LOGIN = Path(__file__).with_name("login.py")
ASSETS = Path(__file__).resolve().parents[1] / "assets"


def serve_arguments(
    settings: config.Settings,
    argv: list[str],
    *,
    proxy_origins: Sequence[str] = (),
) -> list[str]:
    """The `panel serve` command line for these settings (flags after `--args` reach the app).

    A process behind a proxy (``proxy_origins``: the host:port names browsers reach the proxy by) also
    accepts those names' websockets, trusts the proxy's ``X-Forwarded-*`` headers, answers the proxy's
    health checks at ``/liveness`` and loads its services before it listens, so that the proxy sends it
    nobody until it is ready. With the login on, ``dashboard/login.py`` is its auth module; the process
    needs :func:`serve_environment` too.
    """
    args = [
        "panel",
        "serve",
        str(APP),
        "--port",
        str(settings.port),
        "--address",
        settings.address,
        "--static-dirs",
        f"c360-assets={ASSETS}",
        "--keep-alive",
        "10000",
        "--allow-websocket-origin",
        f"localhost:{settings.port}",
        "--allow-websocket-origin",
        f"127.0.0.1:{settings.port}",
    ]
    for origin in [*proxy_origins, *settings.allowed_origins]:
        args += ["--allow-websocket-origin", origin]
    if proxy_origins:
        args += ["--use-xheaders", "--liveness", "--setup", str(WARM)]
    if settings.basic_auth:
        args += ["--auth-module", str(LOGIN)]
    return [*args, "--args", *argv]


def serve_environment(settings: config.Settings) -> dict[str, str]:
    """What a dashboard process needs in its environment: the settings (the login module reads its
    passwords there), and the secret that signs login cookies, which Bokeh and Panel read as
    ``BOKEH_COOKIE_SECRET``. Neither is put on a command line, where any user of the machine could read it.
    """
    variables = config.environment(settings)
    if settings.basic_auth:
        variables["BOKEH_COOKIE_SECRET"] = settings.cookie_secret
    return variables


def with_cookie_secret(settings: config.Settings) -> config.Settings:
    """The settings with a cookie secret when the login is on: the one set, or a new random one (logins
    then last until the server restarts)."""
    if settings.basic_auth and not settings.cookie_secret:
        return replace(settings, cookie_secret=secrets.token_urlsafe(32))
    return settings
