"""Every SQL statement of the directory, the 360 record and the MySQL loader, in one place.

The dashboard shows these statements to users ("behind the scenes"), so they are written to be read. A value
that comes from a user always travels as a bound parameter (``?`` for DuckDB and SQLite, ``%s`` for MySQL);
the only text ever pasted into SQL is a file path of the data folder (quoted by :func:`literal`) and an
ORDER BY clause picked from :data:`SORTS`, an allow-list.

Three engines take part:

- DuckDB, the embedded engine, reads the JSON profile documents, the survey JSON files and the banking
  Parquet tables, and joins them into the directory and the 360 record;
- MySQL/MariaDB holds the banking tables when ``C360_MYSQL_URL`` is set;
- SQLite serves search-as-you-type: the directory is copied into a table ordered by name, with an FTS5
  full-text index using the trigram tokenizer, so any fragment of three characters or more is an index look-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connectors import catalog

# ── DuckDB: the sources ──────────────────────────────────────────────────────────────────────────────────


def literal(text: str) -> str:
    """A SQL string literal (DuckDB reads file paths from literals, not parameters, in CREATE VIEW)."""
    return "'" + text.replace("'", "''") + "'"


# Profiles are read by connectors.jsonlines into ``profile_lines`` (file, line, id, doc), kept sorted by id so
# a look-up reads one row group; survey answers into ``survey_lines`` with catalog.SURVEY_FIELDS, typed here
# (a value of another type reads as NULL).
PROFILES = "CREATE OR REPLACE TABLE profiles AS SELECT id, doc, line FROM profile_lines ORDER BY id"

SURVEYS = """
CREATE OR REPLACE TABLE surveys AS
SELECT customer_id,
       TRY_CAST(submitted AS TIMESTAMP) AS submitted,
       TRY_CAST(rating AS INTEGER) AS rating,
       comment,
       needs,
       channel,
       file
FROM survey_lines
ORDER BY customer_id, submitted
"""

# What a build's DuckDB file holds. A server reads them through views of these names, which a delta's rows
# join: they take the place of the build's rows of the same customers (and survey files).
BUILD_TABLES = ("profiles", "surveys", "holdings_summary", "directory")
DELTA_VIEWS = (
    """CREATE OR REPLACE VIEW profiles AS
SELECT * FROM delta.profiles
UNION ALL SELECT * FROM build.profiles WHERE id NOT IN (SELECT id FROM delta.changed)""",
    """CREATE OR REPLACE VIEW surveys AS
SELECT * FROM delta.surveys
UNION ALL SELECT * FROM build.surveys WHERE file NOT IN (SELECT file FROM delta.survey_files)""",
    """CREATE OR REPLACE VIEW holdings_summary AS
SELECT * FROM delta.holdings_summary
UNION ALL SELECT * FROM build.holdings_summary
WHERE customer_id NOT IN (SELECT customer_id FROM delta.holdings_summary)""",
    """CREATE OR REPLACE VIEW directory AS
SELECT * FROM delta.directory
UNION ALL SELECT * FROM build.directory WHERE id NOT IN (SELECT id FROM delta.changed)""",
)

PARQUET_VIEW = "CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({path})"

# How many products each customer holds: the one thing the directory needs from core banking in bulk.
# The same statement runs in DuckDB over the Parquet table and in MySQL over the server's table.
HOLDINGS_SUMMARY = """
SELECT customer_id, COUNT(*) AS products
FROM accounts
WHERE status = 'open'
GROUP BY customer_id
"""

EMPTY_HOLDINGS_SUMMARY = "CREATE OR REPLACE TABLE holdings_summary (customer_id BIGINT, products BIGINT)"

# The directory: one row per profile document, joined with the banking summary, ordered by name.
# fold() is connectors.directory.search.fold, registered with DuckDB: lower case without accents (José -> jose).
# The search keys are wrapped in a separator (chr 31) no typed text contains, so one- and two-character
# fragments at the start or end of a value still have trigrams in the index.
DIRECTORY = """
CREATE OR REPLACE TABLE directory AS
WITH documents AS (
    SELECT id, from_json(doc, '{
               "name": "VARCHAR", "email": "VARCHAR", "phone_number": "VARCHAR",
               "address": {"state": "VARCHAR", "latitude": "DOUBLE", "longitude": "DOUBLE"},
               "first_visit": "VARCHAR", "web_user_id": "VARCHAR"
           }') AS d
    FROM profiles
),
customers AS (
    SELECT documents.id,
           d.name,
           d.email,
           d.phone_number AS phone,
           d.address.state AS state,
           CASE WHEN d.address.latitude BETWEEN -90 AND 90 AND d.address.longitude BETWEEN -180 AND 180
                THEN CAST(d.address.latitude AS FLOAT) END AS latitude,
           CASE WHEN d.address.latitude BETWEEN -90 AND 90 AND d.address.longitude BETWEEN -180 AND 180
                THEN CAST(d.address.longitude AS FLOAT) END AS longitude,
           TRY_CAST(d.first_visit AS DATE) AS first_visit,
           TRY_CAST(d.web_user_id AS BIGINT) AS web_user_id,
           CASE WHEN $banking_known THEN coalesce(h.products, 0) END AS products,
           fold(d.name) AS folded_name
    FROM documents
    LEFT JOIN holdings_summary AS h ON h.customer_id = documents.id
)
SELECT row_number() OVER (ORDER BY folded_name NULLS LAST, id) AS position,
       id, name, email, phone, state, first_visit,
       round(date_diff('day', first_visit, $as_of) / 365.25, 1) AS tenure_years,
       products, web_user_id, latitude, longitude,
       chr(31) || folded_name || chr(31) AS name_key,
       chr(31) || fold(email) || chr(31) AS email_key,
       chr(31) || phone || chr(31) || regexp_replace(phone, '[^0-9]', '', 'g') || chr(31) AS phone_key
FROM customers
"""

DIRECTORY_ROWS = """
SELECT position, id, name, phone, email, state, CAST(first_visit AS VARCHAR) AS first_visit,
       tenure_years, products, name_key, email_key, phone_key
FROM directory
ORDER BY position
"""

WEB_USERS = """
SELECT web_user_id, id AS customer_id
FROM directory
WHERE web_user_id IS NOT NULL
ORDER BY web_user_id
"""

# The customer map: every customer's place and tenure, as the build read them from the profile documents'
# addresses (a column scan, not a parse of every document). Customers whose coordinates are missing or not
# numbers are left out; the map cannot place them.
MAP_POINTS = """
SELECT id, latitude, longitude, CAST(tenure_years AS FLOAT) AS tenure_years
FROM directory
WHERE latitude IS NOT NULL
ORDER BY id
"""

# ── A delta: what changed since a build (connectors.directory.delta) ─────────────────────────────────────
# The build is attached as ``base``; ``before_*`` are what the previous delta carried (empty without one).

DELTA_EMPTY = {
    "documents": "SELECT id, doc, line FROM base.profiles WHERE false",
    "removed": "SELECT id FROM base.profiles WHERE false",
    "product_changes": "SELECT customer_id, products FROM base.holdings_summary WHERE false",
}

# Appended lines (read into ``profiles``) whose id is already known: the first line of an id wins.
_KNOWN = """(p.id IN (SELECT id FROM base.profiles) AND p.id NOT IN (SELECT id FROM before_removed))
   OR p.id IN (SELECT id FROM before_documents)"""
DELTA_REPEATED = f"SELECT p.line FROM profiles AS p WHERE {_KNOWN} ORDER BY p.line"
DELTA_APPENDED = (
    f"""CREATE TABLE documents AS
SELECT * FROM before_documents
UNION ALL SELECT * FROM profiles AS p WHERE NOT ({_KNOWN})""",
    "CREATE TABLE removed AS SELECT * FROM before_removed WHERE id NOT IN (SELECT id FROM documents)",
    "DROP TABLE profiles",
)

# The profiles read again (into ``profiles``), compared with the build's by a hash of each document.
DELTA_REREAD = (
    """CREATE TABLE documents AS
SELECT c.id, c.doc, c.line
FROM profiles AS c LEFT JOIN base.profiles AS b ON b.id = c.id
WHERE b.id IS NULL OR hash(b.doc) <> hash(c.doc)""",
    "CREATE TABLE removed AS SELECT id FROM base.profiles WHERE id NOT IN (SELECT id FROM profiles)",
    "DROP TABLE profiles",
)

# Products per customer summed again (into ``holdings_summary``), compared with the build's.
DELTA_HOLDINGS_CHANGED = (
    "ALTER TABLE holdings_summary RENAME TO current_summary",
    """CREATE TABLE product_changes AS
SELECT coalesce(c.customer_id, b.customer_id) AS customer_id, coalesce(c.products, 0) AS products
FROM current_summary AS c FULL JOIN base.holdings_summary AS b ON b.customer_id = c.customer_id
WHERE coalesce(c.products, 0) <> coalesce(b.products, 0)""",
)
DELTA_HOLDINGS_KEPT = (
    "CREATE TABLE product_changes AS SELECT * FROM before_product_changes",
    """CREATE VIEW current_summary AS
SELECT * FROM product_changes
UNION ALL SELECT * FROM base.holdings_summary WHERE customer_id NOT IN (SELECT customer_id FROM product_changes)""",
)

# The delta's customers: changed and new documents, and those whose products changed (their documents as
# the build has them); the build's ids they replace; the products each holds now.
DELTA_CUSTOMERS = (
    """CREATE TABLE profiles AS
SELECT * FROM documents
UNION ALL SELECT b.id, b.doc, b.line FROM base.profiles AS b
WHERE b.id IN (SELECT customer_id FROM product_changes)
  AND b.id NOT IN (SELECT id FROM documents) AND b.id NOT IN (SELECT id FROM removed)""",
    """CREATE TABLE changed AS
SELECT id FROM base.profiles
WHERE id IN (SELECT id FROM documents) OR id IN (SELECT id FROM removed)
   OR id IN (SELECT customer_id FROM product_changes)""",
    """CREATE TABLE holdings_summary AS
SELECT customer_id, products FROM current_summary WHERE customer_id IN (SELECT id FROM profiles)""",
)
DELTA_TABLES = ("profiles", "changed", "holdings_summary", "surveys", "survey_files", "directory")

# ── The 360 record: one keyed look-up per source, joined on the customer id ─────────────────────────────

CUSTOMER_PROFILE = "SELECT doc FROM profiles WHERE id = ?"

# Some customers' documents at once (the kiosk asks which of the customers online it may show).
PROFILE_DOCUMENTS = "SELECT id, doc FROM profiles WHERE id IN (SELECT UNNEST(CAST(? AS BIGINT[])))"

CUSTOMER_SURVEYS = """
SELECT submitted, rating, comment, needs, channel
FROM surveys
WHERE customer_id = ?
ORDER BY submitted
"""

# A former customer's last day, from the record's holdings (a frame registered as record_holdings).
RECORD_LEFT_ON = f"SELECT {catalog.left_on_sql()} FROM record_holdings"

# Banking: the same statements run in DuckDB (over Parquet, ``?``) and MySQL (indexed, ``%s``).
CUSTOMER_HOLDINGS = """
SELECT account_id, product, opened_date, balance, status, closed_date
FROM accounts
WHERE customer_id = {param}
ORDER BY opened_date, account_id
"""

CUSTOMER_TRANSACTIONS = """
SELECT date, payee, category, amount, fee, declined, disputed
FROM transactions
WHERE customer_id = {param}
ORDER BY date DESC, transaction_id DESC
"""

# The contact center's history: the same statement in DuckDB (contact_center/contacts.parquet) and MySQL.
CUSTOMER_CONTACTS = """
SELECT contact_id, started_at, channel, reason, duration_s, outcome, note, agent
FROM contacts
WHERE customer_id = {param}
ORDER BY started_at DESC, contact_id DESC
"""

# The click file's clicks by customer (read by connectors.jsonlines into ``click_lines``, with
# catalog.CLICK_FIELDS): the live stream keeps only the latest few, the timeline needs the last 30 days.
CLICKS = """
CREATE OR REPLACE TABLE clicks AS
SELECT d.id AS customer_id, TRY_CAST(k.datetime AS TIMESTAMP) AS time, k.product, k.url
FROM click_lines AS k
JOIN directory AS d ON d.web_user_id = k.user_id
WHERE TRY_CAST(k.datetime AS TIMESTAMP) IS NOT NULL
ORDER BY customer_id, time
"""

CUSTOMER_CLICKS = """
SELECT time, product, url
FROM clicks
WHERE customer_id = ?
ORDER BY time
"""

# ── MySQL: the core-banking schema written by ``python -m connectors.tools.mysql_load`` ───────────────────────

# Signature of the banking tables: a new value means the directory's banking summary is out of date.
MYSQL_TABLES_CHANGED = """
SELECT table_name, create_time, update_time
FROM information_schema.tables
WHERE table_schema = DATABASE() AND table_name IN ('accounts', 'transactions')
ORDER BY table_name
"""

MYSQL_TABLES = {
    "accounts": """
CREATE TABLE {name} (
    account_id  BIGINT        NOT NULL,
    customer_id BIGINT        NOT NULL,
    product     VARCHAR(64)   NOT NULL,
    opened_date DATE          NOT NULL,
    balance     DECIMAL(15,2) NOT NULL,
    status      VARCHAR(16)   NOT NULL,
    closed_date DATE          NULL,
    PRIMARY KEY (account_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4""",
    "transactions": """
CREATE TABLE {name} (
    transaction_id BIGINT        NOT NULL,
    customer_id    BIGINT        NOT NULL,
    date           DATE          NOT NULL,
    payee          VARCHAR(200)  NOT NULL,
    category       VARCHAR(64)   NOT NULL,
    amount         DECIMAL(12,2) NOT NULL,
    fee            DECIMAL(10,2) NOT NULL,
    declined       BOOLEAN       NOT NULL,
    disputed       BOOLEAN       NOT NULL,
    PRIMARY KEY (transaction_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4""",
    "contacts": """
CREATE TABLE {name} (
    contact_id  BIGINT        NOT NULL,
    customer_id BIGINT        NOT NULL,
    started_at  DATETIME      NOT NULL,
    channel     VARCHAR(16)   NOT NULL,
    reason      VARCHAR(64)   NOT NULL,
    duration_s  INT           NOT NULL,
    outcome     VARCHAR(16)   NOT NULL,
    note        VARCHAR(1000) NOT NULL,
    agent       VARCHAR(64)   NOT NULL,
    PRIMARY KEY (contact_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4""",
}

MYSQL_COLUMNS = {
    "accounts": ("account_id", "customer_id", "product", "opened_date", "balance", "status", "closed_date"),
    "transactions": (
        "transaction_id",
        "customer_id",
        "date",
        "payee",
        "category",
        "amount",
        "fee",
        "declined",
        "disputed",
    ),
    "contacts": catalog.CONTACT_COLUMNS,
}

# Columns that may be empty (an open account has no closed_date): NULL in MySQL, an empty field in the CSV.
MYSQL_NULLABLE = {"accounts": ("closed_date",), "transactions": (), "contacts": ()}
# Columns kept as dates; every other time is a DATETIME (UTC).
MYSQL_DATES = {"accounts": ("opened_date", "closed_date"), "transactions": ("date",), "contacts": ()}

# Added after the rows are in: InnoDB builds a secondary index faster by sorting than row by row.
MYSQL_INDEXES = {
    "accounts": "ALTER TABLE {name} ADD INDEX accounts_by_customer (customer_id, opened_date)",
    "transactions": "ALTER TABLE {name} ADD INDEX transactions_by_customer (customer_id, date)",
    "contacts": "ALTER TABLE {name} ADD INDEX contacts_by_customer (customer_id, started_at)",
}

MYSQL_LOAD_FILE = """
LOAD DATA LOCAL INFILE %s INTO TABLE {name}
CHARACTER SET utf8mb4
FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
LINES TERMINATED BY '\\n'
IGNORE 1 LINES
({columns})
{nulls}"""

MYSQL_INSERT = "INSERT INTO {name} ({columns}) VALUES ({placeholders})"

# ── SQLite: the search index ─────────────────────────────────────────────────────────────────────────────

# ``position`` is the rank in name order and also the full-text index's rowid, so FTS5 returns matches
# already sorted by name: a page of results is the first rows of the index, however many match. The
# full-text index lives in a file of its own (attached as ``text``), built while the sort indexes are.
INDEX_SCHEMA = """
CREATE TABLE directory (
    position     INTEGER PRIMARY KEY,
    id           INTEGER NOT NULL,
    name         TEXT,
    phone        TEXT,
    email        TEXT,
    state        TEXT,
    first_visit  TEXT,
    tenure_years REAL,
    products     INTEGER,
    name_key     TEXT,
    email_key    TEXT,
    phone_key    TEXT
);
"""

# Made once the rows are in: sorting a million ids once took a third of the time keeping them in order row
# by row did (the ids are unique: the profiles' first line of an id wins).
ID_INDEX = "CREATE UNIQUE INDEX directory_by_id ON directory (id)"

INDEX_INSERT = """
INSERT INTO directory (position, id, name, phone, email, state, first_visit, tenure_years, products,
                       name_key, email_key, phone_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# Contentless: the index answers with rowids (positions), the directory table holds the values. It is filled
# from the same rows as the directory table (INDEX_INSERT's parameters 1, 10, 11 and 12).
FULL_TEXT_INDEX = """
CREATE VIRTUAL TABLE directory_fts USING fts5(
    name_key, email_key, phone_key,
    content = '',
    tokenize = 'trigram case_sensitive 1'
);
"""
# While the index is filled: FTS5 gathers terms in memory up to ``hashsize`` bytes (default 1 MB) before it
# writes a segment, and merges segments as they pile up: a third of filling it at 1M, a ninth at 10M
# (measured). With a large hash and no merging while it fills, one merge at the end ('optimize') leaves one
# segment. The settings stay in the index's configuration, where only a writer reads them: an index is never
# written again.
FULL_TEXT_FILL = (
    "INSERT INTO directory_fts (directory_fts, rank) VALUES ('hashsize', 268435456)",
    "INSERT INTO directory_fts (directory_fts, rank) VALUES ('automerge', 0)",
    "INSERT INTO directory_fts (directory_fts, rank) VALUES ('crisismerge', 1000)",
)
FULL_TEXT_OPTIMIZE = "INSERT INTO directory_fts (directory_fts) VALUES ('optimize')"
FULL_TEXT_INSERT = (
    "INSERT INTO directory_fts (rowid, name_key, email_key, phone_key) VALUES (?1, ?10, ?11, ?12)"
)

# For one- and two-character text, which trigrams contain it, and in how many rows of each column.
SHORT_TERMS = """
CREATE VIRTUAL TABLE temp.directory_vocabulary USING fts5vocab(main, directory_fts, 'col');
CREATE TEMP TABLE terms AS SELECT term, col, doc AS rows FROM temp.directory_vocabulary;
CREATE TABLE short_terms AS
WITH fragments AS (
    SELECT substr(term, 1, 1) AS fragment, term, col, rows FROM temp.terms UNION
    SELECT substr(term, 2, 1), term, col, rows FROM temp.terms UNION
    SELECT substr(term, 3, 1), term, col, rows FROM temp.terms UNION
    SELECT substr(term, 1, 2), term, col, rows FROM temp.terms UNION
    SELECT substr(term, 2, 2), term, col, rows FROM temp.terms
)
SELECT fragment, col, term, rows FROM fragments WHERE instr(fragment, char(31)) = 0;
CREATE INDEX short_terms_by_fragment ON short_terms (fragment, col);
DROP TABLE temp.terms;
DROP TABLE temp.directory_vocabulary;
"""

SHORT_TERMS_FOR = (
    "SELECT term, max(rows) FROM short_terms WHERE fragment = ? AND col IN ({columns}) GROUP BY term"
)

# A delta (connectors.directory.delta) holds changed and new customers in a directory table of its own: its
# ``position`` is the rank among the delta's rows, ``main_position`` the row of the build it replaces (the
# customer's scores are found there) and ``anchor`` the build's row it follows in name order. The build's
# rows it replaces are listed in ``replaced`` and left out of every search of the build.
DELTA_SCHEMA = """
ALTER TABLE directory ADD COLUMN main_position INTEGER;
ALTER TABLE directory ADD COLUMN anchor INTEGER NOT NULL DEFAULT 0;
CREATE TABLE replaced (position INTEGER PRIMARY KEY);
"""
DELTA_MAIN_POSITIONS = """
UPDATE directory SET main_position = (SELECT b.position FROM base.directory AS b WHERE b.id = directory.id)
"""
DELTA_REPLACED = "INSERT OR IGNORE INTO replaced (position) SELECT position FROM base.directory WHERE id = ?"
DELTA_ANCHOR = "UPDATE directory SET anchor = ? WHERE id = ?"
DELTA_PROBE = "SELECT name_key, id FROM base.directory WHERE position = ?"


@dataclass(frozen=True)
class Sort:
    """An allowed sort order: its column, the table holding it and the index that walks it.

    Name order needs neither: it is the rowid (``position``) itself.
    """

    column: str | None = None
    index: str | None = None
    table: str = "directory"
    reverse: bool = False  # tenure: longest first is the earliest first visit

    def direction(self, descending: bool) -> str:
        return " DESC" if descending != self.reverse else ""

    @property
    def qualified(self) -> str | None:
        """The sort column as a page's statements name it (d: directory, s: scores)."""
        return None if self.column is None else f"{'s' if self.table == 'scores' else 'd'}.{self.column}"

    def order_by(self, descending: bool) -> str:
        """ORDER BY for sorting a set of rows; rows without a value come last."""
        direction = self.direction(descending)
        if self.column is None:
            return f"d.position{direction}"
        return f"{self.qualified} IS NULL, {self.qualified}{direction}, d.position{direction}"


SORTS: dict[str, Sort] = {
    "name": Sort(),
    "phone": Sort("phone", "directory_by_phone"),
    "email": Sort("email_key", "directory_by_email"),
    "first_visit": Sort("first_visit", "directory_by_first_visit"),
    "tenure": Sort("first_visit", "directory_by_first_visit", reverse=True),
    "churn_risk": Sort("churn_risk", "scores_by_churn_risk", table="scores"),
}

SEARCH_KEYS = ("name_key", "email_key", "phone_key")


def sort_index(sort: Sort) -> str:
    """The index a sort order is walked by; it carries the search keys, so a walk never reads the table."""
    keys = ", ".join(k for k in SEARCH_KEYS if k != sort.column)
    return f"CREATE INDEX {sort.index} ON directory ({sort.column}, position, {keys})"


SORT_INDEXES = [SORTS["phone"], SORTS["email"], SORTS["first_visit"]]

# Model scores live in a file of their own beside a build (scores-<model version>.sqlite, attached as
# ``scores``), one row per row of the build's directory (NULL for customers without a score). The search keys
# come along, so that walking the churn-risk order never reads the directory, as the build's own sort indexes.
SCORES_TABLES = (
    """CREATE TABLE scores (
    position INTEGER PRIMARY KEY, churn_risk REAL, persona INTEGER, name_key TEXT, email_key TEXT, phone_key TEXT
)""",
    "CREATE TABLE persona_names (persona INTEGER PRIMARY KEY, name TEXT)",
    "CREATE TEMP TABLE incoming (customer_id INTEGER PRIMARY KEY, churn_risk REAL, persona INTEGER, persona_name TEXT)",
)
SCORES_INSERT = "INSERT OR REPLACE INTO temp.incoming VALUES (?, ?, ?, ?)"
SCORES_FILL = (
    """INSERT INTO scores
SELECT d.position, i.churn_risk, i.persona, d.name_key, d.email_key, d.phone_key
FROM build.directory AS d LEFT JOIN temp.incoming AS i ON i.customer_id = d.id
ORDER BY d.position""",
    "INSERT INTO persona_names SELECT persona, min(persona_name) FROM temp.incoming GROUP BY persona",
    "DROP TABLE temp.incoming",
    "CREATE INDEX scores_by_churn_risk ON scores (churn_risk, position, name_key, email_key, phone_key)",
    "CREATE INDEX scores_by_persona ON scores (persona, position)",
)

SCORES_ORDER = "SELECT position FROM scores ORDER BY churn_risk IS NULL, churn_risk, position"
SCORES_PERSONAS = "SELECT position || ',' || persona AS position FROM scores WHERE persona IS NOT NULL"

# The build's rows in each sort order (DuckDB, from the joined directory), for their rank arrays.
RANK_ORDERS = {
    "phone": "SELECT position FROM directory ORDER BY phone NULLS LAST, position",
    "email_key": "SELECT position FROM directory ORDER BY email_key NULLS LAST, position",
    "first_visit": "SELECT position FROM directory ORDER BY first_visit NULLS LAST, position",
}
RANK_VALUED = "SELECT count({column}) FROM directory"

ROW_COLUMNS = "d.id, d.name, d.phone, d.email, d.tenure_years, d.state, d.products"
SCORE_COLUMNS = ", s.churn_risk, s.persona, n.name AS persona_name"

KEY_COLUMNS = {"any": SEARCH_KEYS, "name": ("name_key",), "email": ("email_key",), "phone": ("phone_key",)}
HIDDEN = "(SELECT position FROM delta.replaced)"


@dataclass(frozen=True)
class Shape:
    """What a page holds and where it comes from.

    ``scores``: the scores' columns come along (attached). ``hidden``: rows a delta replaced are left out
    (the delta is attached as ``delta``). ``delta``: the statements run on a delta, whose rows find their
    scores by the build's position they replace. ``merge``: each row also carries its position and sort
    value, so the build's and the delta's pages can be merged.
    """

    scores: bool
    hidden: bool = False
    delta: bool = False
    merge: bool = False
    sort: Sort = Sort()

    @property
    def columns(self) -> str:
        columns = ROW_COLUMNS + (SCORE_COLUMNS if self.scores else "")
        if self.merge:
            anchor = "d.anchor" if self.delta else "d.position"
            value = self.sort.qualified or "NULL"
            columns += f", {anchor} AS merge_anchor, d.position AS merge_position, {value} AS merge_value"
        return columns

    @property
    def join(self) -> str:
        key = "d.main_position" if self.delta else "d.position"
        if not self.scores:
            return ""
        return (
            f"\nLEFT JOIN scores AS s ON s.position = {key}"
            "\nLEFT JOIN persona_names AS n ON n.persona = s.persona"
        )

    @property
    def score_key(self) -> str:
        return "main_position" if self.delta else "position"

    def visible(self, column: str) -> str:
        """A condition leaving out the rows a delta replaced (nothing when none are)."""
        return f"\nAND {column} NOT IN {HIDDEN}" if self.hidden else ""


def _instr(columns: Sequence[str], table: str) -> str:
    return "(" + " OR ".join(f"instr({table}.{c}, :text) > 0" for c in columns) + ")"


def _persona(persona: bool) -> str:
    return "\nAND s.persona = :persona" if persona else ""


def _in_order(shape: Shape, sort: Sort, descending: bool, columns: str) -> str:
    """Rows in a sort order, straight off its index: those with a value, then those without."""
    direction = sort.direction(descending)
    hidden = f" WHERE position NOT IN {HIDDEN}" if shape.hidden else ""
    if sort.column is None:
        return f"SELECT {columns} FROM directory{hidden} ORDER BY position{direction}"
    also = f" AND position NOT IN {HIDDEN}" if shape.hidden else ""
    return f"""SELECT * FROM (
        SELECT {columns} FROM {sort.table} INDEXED BY {sort.index}
        WHERE {sort.column} IS NOT NULL{also}
        ORDER BY {sort.column}{direction}, position{direction}
    )
    UNION ALL
    SELECT * FROM (
        SELECT {columns} FROM {sort.table} INDEXED BY {sort.index}
        WHERE {sort.column} IS NULL{also}
        ORDER BY position{direction}
    )"""


def count_matches(shape: Shape, persona: bool) -> str:
    """How many rows match, counting no further than the cap (:cap_plus_one)."""
    scores = ""
    if persona:
        scores = (
            "\n    CROSS JOIN directory AS d ON d.position = directory_fts.rowid"
            f"\n    CROSS JOIN scores AS s ON s.position = d.{shape.score_key}"
            if shape.delta
            else "\n    CROSS JOIN scores AS s ON s.position = directory_fts.rowid"
        )
    return f"""
SELECT count(*) FROM (
    SELECT 1 FROM directory_fts{scores}
    WHERE directory_fts MATCH :match{_persona(persona)}{shape.visible("directory_fts.rowid")}
    LIMIT :cap_plus_one
)"""


def count_by_scan(shape: Shape, keys: Sequence[str], persona: bool) -> str:
    """Counting without the full-text index (a common one- or two-character fragment), up to the cap."""
    scores = f"\n    CROSS JOIN scores AS s ON s.position = d.{shape.score_key}" if persona else ""
    return f"""
SELECT count(*) FROM (
    SELECT 1 FROM directory AS d{scores}
    WHERE {_instr(keys, "d")}{_persona(persona)}{shape.visible("d.position")}
    LIMIT :cap_plus_one
)"""


def count_persona(shape: Shape) -> str:
    """Everyone of a persona (the heatmap's filter with an empty search box)."""
    if shape.delta:
        return """
SELECT count(*) FROM directory AS d CROSS JOIN scores AS s ON s.position = d.main_position
WHERE s.persona = :persona"""
    return f"SELECT count(*) FROM scores WHERE persona = :persona{shape.visible('position')}"


def matches_in_name_order(shape: Shape, descending: bool, persona: bool) -> str:
    """Full-text matches in the index's own order (by name): reading stops at the end of the page."""
    return f"""
SELECT {shape.columns}
FROM directory_fts CROSS JOIN directory AS d ON d.position = directory_fts.rowid{shape.join}
WHERE directory_fts MATCH :match{_persona(persona)}{shape.visible("d.position")}
ORDER BY directory_fts.rowid{" DESC" if descending else ""}
LIMIT :limit OFFSET :offset"""


def matches_sorted(shape: Shape, sort: Sort, descending: bool, persona: bool) -> str:
    """All full-text matches, sorted: for a few thousand matches, or when a walk gives up."""
    return f"""
SELECT {shape.columns}
FROM directory_fts CROSS JOIN directory AS d ON d.position = directory_fts.rowid{shape.join}
WHERE directory_fts MATCH :match{_persona(persona)}{shape.visible("d.position")}
ORDER BY {sort.order_by(descending)}
LIMIT :limit OFFSET :offset"""


def matching_positions(shape: Shape) -> str:
    """The positions of the full-text matches, as one comma-separated string (reading :most at most)."""
    return """
SELECT group_concat(rowid) FROM (
    SELECT rowid FROM directory_fts WHERE directory_fts MATCH :match LIMIT :most
)"""


def rows_at(shape: Shape) -> str:
    """The page's rows at the positions chosen (a JSON list), each with its position last."""
    return f"""
SELECT {shape.columns}, d.position
FROM json_each(:positions) AS chosen CROSS JOIN directory AS d ON d.position = chosen.value{shape.join}"""


def scan_sorted(shape: Shape, sort: Sort, descending: bool, keys: Sequence[str], persona: bool) -> str:
    """Every row holding the text (or every row, for empty text), sorted: for a delta's few rows."""
    where = f"\nWHERE {_instr(keys, 'd')}" if keys else "\nWHERE true"
    return f"""
SELECT {shape.columns}
FROM directory AS d{shape.join}{where}{_persona(persona)}
ORDER BY {sort.order_by(descending)}
LIMIT :limit OFFSET :offset"""


def count_scanned(shape: Shape, keys: Sequence[str], persona: bool) -> str:
    """How many of a delta's rows hold the text (every one for empty text)."""
    where = f"\nWHERE {_instr(keys, 'd')}" if keys else "\nWHERE true"
    return f"SELECT count(*) FROM directory AS d{shape.join}{where}{_persona(persona)}"


def walk(shape: Shape, sort: Sort, descending: bool, keys: Sequence[str], persona: bool) -> str:
    """Walk the sort order, keeping matching rows: for common text, the page fills after a few rows.

    The walk looks at no more than :budget rows of the sort order (in the directory's sort indexes the
    search keys come along); when the page is not full by then, the caller sorts all matches instead. There
    is deliberately no outer ORDER BY: the walk already yields rows in order, and sorting again would read
    the whole budget.
    """
    columns = "position, " + ", ".join(SEARCH_KEYS)  # every sort index carries the search keys
    return f"""
SELECT {shape.columns}
FROM (
    {_in_order(shape, sort, descending, columns)}
    LIMIT :budget
) AS w
CROSS JOIN directory AS d ON d.position = w.position{shape.join}
WHERE {_instr(keys, "w")}{_persona(persona)}
LIMIT :limit OFFSET :offset"""


def browse(shape: Shape, sort: Sort, descending: bool, persona: bool) -> str:
    """Everyone (empty search box) in the chosen order, one page."""
    if persona:  # keep walking until the page has enough of the persona's members
        return f"""
SELECT {shape.columns}
FROM ({_in_order(shape, sort, descending, "position")}) AS w
CROSS JOIN directory AS d ON d.position = w.position{shape.join}
WHERE s.persona = :persona
LIMIT :limit OFFSET :offset"""
    return f"""
SELECT {shape.columns}
FROM (
    {_in_order(shape, sort, descending, "position")}
    LIMIT :limit OFFSET :offset
) AS w
CROSS JOIN directory AS d ON d.position = w.position{shape.join}"""
