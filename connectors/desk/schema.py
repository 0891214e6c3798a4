"""The desk's tables: what representatives write during and after a call, in SQLite and in MySQL.

One shape for both engines. On embedded defaults the tables live in one SQLite file in the data folder
(``Layout.desk``, WAL mode, ``synchronous=FULL``); with ``C360_MYSQL_URL`` set they live in that database,
beside the core-banking tables. The loader (``connectors.tools.mysql_load``) replaces the contact center's
``contacts`` table atomically on every load, so the desk's rows have tables of their own, created with
``IF NOT EXISTS`` and never replaced: a reload of the history cannot lose a wrap-up.

desk_contacts        one wrap-up per call (the contact center's columns, plus the page's idempotency key)
desk_offer_outcomes  each offer presented in a call, and the customer's answer (also the generator's history)
desk_offers_shown    each offer shown on a screen (customer, product, rank, model version, time)
desk_audit           each opening of a customer's record (append-only: the application never updates it)
desk_verifications   each verification attempt, pass or fail, never the values typed

Times are UTC. ``source`` is ``desk`` for what representatives wrote and ``simulated`` for the generator's
made-up history, which has the same shape so that evaluation and training read both alike.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "mysql"]

DESK_SOURCE, SIMULATED_SOURCE = "desk", "simulated"
NOTE_MAX = 1000  # characters in a wrap-up note (the contact center's column is VARCHAR(1000))
KEY_MAX = 64  # characters in an idempotency key from the page

TABLES: tuple[str, ...] = (
    "desk_contacts",
    "desk_offer_outcomes",
    "desk_offers_shown",
    "desk_audit",
    "desk_verifications",
)

# {id} is the engine's auto-increment key, {time} its microsecond time, {text} its indexed text type.
_TABLES = {
    "desk_contacts": """
CREATE TABLE IF NOT EXISTS desk_contacts (
    contact_key  VARCHAR(64)   NOT NULL PRIMARY KEY,
    customer_id  BIGINT        NOT NULL,
    started_at   {time}        NOT NULL,
    channel      VARCHAR(16)   NOT NULL,
    reason       VARCHAR(64)   NOT NULL,
    outcome      VARCHAR(16)   NOT NULL,
    note         VARCHAR(1000) NOT NULL,
    agent        VARCHAR(64)   NOT NULL,
    verified     BOOLEAN       NOT NULL,
    source       VARCHAR(16)   NOT NULL{index}
){engine}""",
    "desk_offer_outcomes": """
CREATE TABLE IF NOT EXISTS desk_offer_outcomes (
    contact_key   VARCHAR(64)  NOT NULL,
    product       VARCHAR(32)  NOT NULL,
    customer_id   BIGINT       NOT NULL,
    offer_rank    INT          NOT NULL,
    model_version VARCHAR(64)  NOT NULL,
    response      VARCHAR(16)  NOT NULL,
    recorded_at   {time}       NOT NULL,
    source        VARCHAR(16)  NOT NULL,
    PRIMARY KEY (contact_key, product){index}
){engine}""",
    "desk_offers_shown": """
CREATE TABLE IF NOT EXISTS desk_offers_shown (
    id            {id},
    customer_id   BIGINT       NOT NULL,
    product       VARCHAR(32)  NOT NULL,
    offer_rank    INT          NOT NULL,
    model_version VARCHAR(64)  NOT NULL,
    shown_at      {time}       NOT NULL,
    agent         VARCHAR(64)  NOT NULL,
    session       VARCHAR(64)  NOT NULL,
    source        VARCHAR(16)  NOT NULL{index}
){engine}""",
    "desk_audit": """
CREATE TABLE IF NOT EXISTS desk_audit (
    id            {id},
    opened_at     {time}       NOT NULL,
    agent         VARCHAR(64)  NOT NULL,
    session       VARCHAR(64)  NOT NULL,
    customer_id   BIGINT       NOT NULL,
    private_shown BOOLEAN      NOT NULL{index}
){engine}""",
    "desk_verifications": """
CREATE TABLE IF NOT EXISTS desk_verifications (
    id            {id},
    attempted_at  {time}       NOT NULL,
    customer_id   BIGINT       NOT NULL,
    agent         VARCHAR(64)  NOT NULL,
    session       VARCHAR(64)  NOT NULL,
    passed        BOOLEAN      NOT NULL{index}
){engine}""",
}

_INDEXES = (
    ("desk_contacts_by_customer", "desk_contacts", "customer_id, started_at"),
    ("desk_offer_outcomes_by_customer", "desk_offer_outcomes", "customer_id, recorded_at"),
    ("desk_offers_shown_by_customer", "desk_offers_shown", "customer_id, shown_at"),
    ("desk_audit_by_customer", "desk_audit", "customer_id, opened_at"),
    ("desk_verifications_by_customer", "desk_verifications", "customer_id, attempted_at"),
)

_DIALECT = {
    "sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "time": "TEXT", "engine": ""},
    "mysql": {
        "id": "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
        "time": "DATETIME(6)",
        "engine": " ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
    },
}


def create_statements(dialect: Dialect) -> list[str]:
    """The statements that create every desk table and index when missing (safe to run on every start).

    SQLite stores times as ISO 8601 text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), which sorts as time does.
    MySQL has no ``CREATE INDEX IF NOT EXISTS`` (MariaDB has), so its indexes are declared in the table.
    """
    words = _DIALECT[dialect]
    statements = []
    for table in TABLES:
        index = ""
        if dialect == "mysql":
            name, columns = next((name, columns) for name, on, columns in _INDEXES if on == table)
            index = f",\n    INDEX {name} ({columns})"
        statements.append(_TABLES[table].format(index=index, **words))
    if dialect == "sqlite":
        statements += [
            f"CREATE INDEX IF NOT EXISTS {name} ON {on} ({columns})" for name, on, columns in _INDEXES
        ]
    return statements
