"""The `panel serve` command line of a dashboard process, from the settings in connectors/config.py.

One process (``python -m dashboard``) or many behind a proxy (``python -m dashboard --processes N``, see
``dashboard/fleet.py``) start the same way, so `make demo`, a kiosk box and a production host agree.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path

from connectors import config

APP = Path(__file__).with_name("customer360.py")
WARM = Path(__file__).with_name("warm.py")
ASSETS = Path(__file__).resolve().parents[1] / "assets"


def serve_arguments(
    settings: config.Settings,
    argv: list[str],
    *,
    proxy_origins: Sequence[str] = (),
    cookie_secret: str | None = None,
) -> list[str]:
    """The `panel serve` command line for these settings (flags after `--args` reach the app).

    A process behind a proxy (``proxy_origins``: the host:port names browsers reach the proxy by) also
    accepts those names' websockets, trusts the proxy's ``X-Forwarded-*`` headers, answers the proxy's
    health checks at ``/liveness`` and loads its services before it listens, so that the proxy sends it
    nobody until it is ready.
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
        secret = cookie_secret or settings.cookie_secret or secrets.token_urlsafe(32)
        args += ["--basic-auth", settings.basic_auth, "--cookie-secret", secret]
    return [*args, "--args", *argv]
