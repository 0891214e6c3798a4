"""`python -m dashboard`: serve Customer 360 with `panel serve`, configured from connectors/config.py.

With ``--processes N`` (``C360_PROCESSES``) it starts N dashboard processes behind HAProxy instead
(``dashboard/fleet.py``); the one settings module decides ports and options either way.
"""

from __future__ import annotations

import os
import sys

from connectors import config


def main(argv: list[str] | None = None) -> None:
    """Validate the settings first, so a typo is one clear line, then hand over to panel serve."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        settings = config.load(argv)
    except config.ConfigError as error:
        sys.exit(f"error: {error}")
    if settings.processes > 1 or settings.proxy == "none":
        from dashboard.fleet import Fleet  # a supervisor: its processes fork from it (dashboard.prefork)

        sys.exit(Fleet(settings).run())
    # Imported here, not at the top: this module is imported before the re-exec (``_on_system_allocator``),
    # and Panel's 2,000 modules would be imported twice (about 1.5 s of every start).
    from panel.command import main as panel_main

    from dashboard.serve import serve_arguments, serve_environment, with_cookie_secret

    settings = with_cookie_secret(settings)
    os.environ.update(serve_environment(settings))
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
