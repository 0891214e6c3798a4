"""Entry point for `panel serve dashboard/customer360.py` (served at /customer360)."""

from dashboard.app import create_app

create_app().servable()
