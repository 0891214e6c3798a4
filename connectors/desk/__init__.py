"""The desk: what representatives write during and after a call (wrap-ups, offer outcomes, offers shown,
the audit of who opened which record, verification attempts), in SQLite on embedded defaults or MySQL.

schema.py  the tables, one shape for both engines
"""

from connectors.desk.schema import DESK_SOURCE, KEY_MAX, NOTE_MAX, SIMULATED_SOURCE, TABLES, create_statements

__all__ = ["DESK_SOURCE", "KEY_MAX", "NOTE_MAX", "SIMULATED_SOURCE", "TABLES", "create_statements"]
