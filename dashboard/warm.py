"""`panel serve --setup dashboard/warm.py`: build the process's services before the server listens.

A dashboard process behind a proxy runs this first (``dashboard/serve.py``), so the proxy's health check
only passes once the directory, the models and the live click state are loaded: a restarted process
gets no representative until it can serve them at once. The settings are the ones the app will read
(the command line after ``--args``, and the environment), so the app finds the services in the cache.
"""

import sys

from connectors import config
from dashboard.services import get_services

_APP_ARGS = sys.argv[sys.argv.index("--args") + 1 :] if "--args" in sys.argv else []
get_services(config.load(_APP_ARGS))
