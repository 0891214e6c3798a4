"""`python -m dashboard`: serve Customer 360 with `panel serve`, configured from connectors/config.py.

The one settings module decides the port and options, so `make demo`, a kiosk box and a production
host start the server the same way.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from panel.command import main as panel_main

from connectors import config

APP = Path(__file__).with_name("customer360.py")
ASSETS = Path(__file__).resolve().parents[1] / "assets"


def serve_arguments(settings: config.Settings, argv: list[str]) -> list[str]:
    """The `panel serve` command line for these settings (flags after `--args` reach the app)."""
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
    for origin in settings.allowed_origins:
        args += ["--allow-websocket-origin", origin]
    if settings.basic_auth:
        secret = settings.cookie_secret or secrets.token_urlsafe(32)
        args += ["--basic-auth", settings.basic_auth, "--cookie-secret", secret]
    return [*args, "--args", *argv]


def main(argv: list[str] | None = None) -> None:
    """Validate the settings first, so a typo is one clear line, then hand over to panel serve."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        settings = config.load(argv)
    except config.ConfigError as error:
        sys.exit(f"error: {error}")
    sys.argv = serve_arguments(settings, argv)
    panel_main()


def _on_system_allocator() -> None:
    """Restart this command on the C library's allocator, so closed sessions' memory can go back to the
    operating system (see ``dashboard.memory``); an allocator chosen in the environment is kept."""
    if "PYTHONMALLOC" not in os.environ:
        environment = {**os.environ, "PYTHONMALLOC": "malloc"}
        os.execve(sys.executable, [sys.executable, "-m", "dashboard", *sys.argv[1:]], environment)


if __name__ == "__main__":
    _on_system_allocator()
    main()
