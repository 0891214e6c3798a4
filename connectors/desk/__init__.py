"""The desk: what representatives write during and after a call (wrap-ups, offer outcomes, offers shown,
the audit of who opened which record, verification attempts), in SQLite on embedded defaults or MySQL.

schema.py  the tables, one shape for both engines
store.py   DeskStore: the API the dashboard calls (writes in one durable transaction each, reads)
sqlite.py  the embedded backend: <data>/desk/desk.sqlite, WAL, synchronous=FULL
mysql.py   the MySQL backend (C360_MYSQL_URL), tables created when missing
verify.py  caller verification: two of three answers, pass or fail only, a lock-out after failed attempts
export.py  `python -m connectors.desk.export`: a customer's audit entries as CSV or JSON
"""

from connectors.config import Settings
from connectors.desk.mysql import MySQLDesk
from connectors.desk.schema import DESK_SOURCE, KEY_MAX, NOTE_MAX, SIMULATED_SOURCE, TABLES, create_statements
from connectors.desk.sqlite import SQLiteDesk
from connectors.desk.store import (
    Attempt,
    DeskStore,
    DeskUnavailable,
    OfferResponse,
    SavedWrapUp,
    ShownOffer,
    WrapUp,
    utc_now,
)
from connectors.desk.verify import Answers, Verdict, verify
from connectors.layout import Layout


def open_store(settings: Settings) -> DeskStore:
    """The desk's store for ``settings``: MySQL when ``C360_MYSQL_URL`` is set, else the data folder's SQLite
    file. Nothing connects yet: the first call does, so a server that is down does not stop the dashboard."""
    if settings.mysql is not None:
        return MySQLDesk(settings.mysql)
    return SQLiteDesk(Layout(settings.data_dir).desk)


__all__ = [
    "DESK_SOURCE",
    "KEY_MAX",
    "NOTE_MAX",
    "SIMULATED_SOURCE",
    "TABLES",
    "Answers",
    "Attempt",
    "DeskStore",
    "DeskUnavailable",
    "MySQLDesk",
    "OfferResponse",
    "SQLiteDesk",
    "SavedWrapUp",
    "ShownOffer",
    "Verdict",
    "WrapUp",
    "create_statements",
    "open_store",
    "utc_now",
    "verify",
]
