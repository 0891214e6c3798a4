"""Search-as-you-type over the directory: SQLite's FTS5 full-text index with the trigram tokenizer.

A trigram index finds any fragment of three characters or more, wherever it sits in a name, email or phone
number, by intersecting the rows that hold each of its three-character pieces. The index's rowid is the
customer's rank in name order, so matches come out of FTS5 already sorted by name and a page is read without
looking at the rest; when the first page is not full, its rows are the count. Otherwise the count goes through
the index and stops at :data:`CAP`. For the other sort orders the count picks the plan:

- few matches for the table's size: fetch them all through the index and sort them;
- many: walk the sort order's index (it carries the search keys), keeping matching rows, until the page is
  full. Common text fills a page within a few rows; when the walk is unlucky (matches bunched at the far end
  of the order) it gives up after :data:`WALK_BUDGET` rows and sorts all matches instead.

One- and two-character text has no trigram of its own: the index's vocabulary says which trigrams contain it
and in how many rows. When one of them alone is in more than :data:`CAP` rows, the text is common: the count
is "10,000+" and the sort order is walked; otherwise the trigrams are OR-ed into a full-text query.

Keys are folded (lower case, no accents) by the same function on both sides, and text reaches SQL only as
bound parameters: a fragment becomes an FTS5 string (double quotes doubled) or an ``instr()`` argument, so
``%``, ``_``, quotes and backslashes are plain characters.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

import pandas as pd

from connectors.directory import sql

CAP = 10_000  # counts stop here: "10,000+" (exact below)
WALK_BUDGET = 8_000  # rows of a sort index a walk looks at before sorting all matches instead
NOT_TRAINED = "churn risk is not available until models are trained"
NO_PERSONAS = "personas are not available until models are trained"
MAX_SHORT_TERMS = 400  # OR-ing more trigrams than this for a short fragment is slower than walking
COLUMN_DTYPES = {
    "id": "int64",
    "tenure_years": "float64",
    "products": "Int64",
    "churn_risk": "float64",
    "persona": "Int64",
}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def fold(text: str) -> str:
    """The form text is compared in: lower case, without accents (José -> jose, ÅSA -> asa)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise_query(text: str) -> str:
    """Search text as the index compares it: folded, without control characters, trimmed."""
    return fold(_CONTROL.sub("", text)).strip()


def fts_string(text: str) -> str:
    """An FTS5 string token: the text, literally (double quotes doubled)."""
    return '"' + text.replace('"', '""') + '"'


def _column_filter(columns: tuple[str, ...]) -> str:
    return "{" + " ".join(columns) + "} : "


@dataclass
class Page:
    """One page of matches and how the count was made."""

    rows: pd.DataFrame
    total: int
    exact: bool
    statements: list[tuple[str, dict | tuple]] = field(default_factory=list)


class SearchIndex:
    """Two SQLite files, the directory (``path``) and its full-text index; safe to share between threads."""

    def __init__(self, path: Path):
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("ATTACH DATABASE ? AS text", (str(text_file(path)),))
        self._db.execute("PRAGMA mmap_size = 4294967296")
        self._db.execute("PRAGMA text.mmap_size = 4294967296")
        self._lock = threading.Lock()
        self.customers = self._db.execute("SELECT coalesce(max(position), 0) FROM directory").fetchone()[0]
        self.has_scores = False

    @classmethod
    def build(cls, path: Path, batches: Iterable[list[tuple]]) -> SearchIndex:
        """Write the directory rows (in name order, see sql.DIRECTORY_ROWS) and index them.

        The full-text index is filled on a second thread, into its own file, from the same batches of rows,
        while this one writes the table and then its sort indexes: SQLite works outside Python's lock, so
        both cores help.
        """
        db = _writer(path)
        try:
            db.executescript(sql.INDEX_SCHEMA)
            pending: Queue[list[tuple] | None] = Queue(maxsize=4)
            with ThreadPoolExecutor(1, thread_name_prefix="search-index") as text_thread:
                text = text_thread.submit(_build_text_index, text_file(path), pending)
                try:
                    db.execute("BEGIN")
                    for rows in batches:
                        db.executemany(sql.INDEX_INSERT, rows)
                        pending.put(rows)
                    db.execute("COMMIT")
                finally:
                    pending.put(None)
                for sort in sql.SORT_INDEXES:
                    db.execute(sql.sort_index(sort))
                text.result()
            db.execute("PRAGMA journal_mode = WAL")  # scores are written while searches read
        finally:
            db.close()
        return cls(path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def attach_scores(self, scores: pd.DataFrame) -> None:
        """Store churn risk and persona per customer beside the directory, indexed for sorting and filtering.

        A connection of its own writes them while searches go on reading the previous state (WAL mode).
        """
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("BEGIN")
            for statement in sql.SCORES_TABLES:
                db.execute(statement)
            db.executemany(
                sql.SCORES_INSERT,
                zip(
                    scores["customer_id"].astype("int64").tolist(),
                    scores["churn_risk"].astype("float64").tolist(),
                    scores["persona"].astype("int64").tolist(),
                    scores["persona_name"].astype(str).tolist(),
                    strict=True,
                ),
            )
            for statement in sql.SCORES_FILL:
                db.execute(statement)
            db.execute("COMMIT")
        finally:
            db.close()
        self.has_scores = True

    def search(
        self,
        folded: str,
        field: str,
        sort: str,
        descending: bool,
        offset: int,
        limit: int,
        persona: int | None,
    ) -> Page:
        """The page of rows matching ``folded`` (already folded and trimmed) and how many match."""
        if (sort == "churn_risk" or persona is not None) and not self.has_scores:
            raise ValueError(NOT_TRAINED if sort == "churn_risk" else NO_PERSONAS)
        with self._lock:
            plan = _Plan(self._db, self.customers, self.has_scores, folded, field, sort, descending, persona)
            return plan.run(offset, limit)


def text_file(path: Path) -> Path:
    """Where the full-text index of the directory file ``path`` lives."""
    return path.with_name(f"{path.stem}-text{path.suffix}")


def _writer(path: Path) -> sqlite3.Connection:
    """A connection for building a file nobody reads yet: no journal, no syncing."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")
    return db


def _build_text_index(path: Path, pending: Queue) -> None:
    """Fill the full-text index from the batches in ``pending`` (None ends them), then its vocabulary."""
    db = _writer(path)
    try:
        db.executescript(sql.FULL_TEXT_INDEX)
        db.execute("BEGIN")
        while (rows := pending.get()) is not None:
            db.executemany(sql.FULL_TEXT_INSERT, rows)
        db.execute("COMMIT")
        db.executescript(sql.SHORT_TERMS)
    finally:
        db.close()


class _Plan:
    """One search: picks the statements (see the module's docstring) and records what ran."""

    def __init__(self, db, customers, has_scores, folded, field, sort, descending, persona):
        self.db, self.customers, self.folded, self.field = db, customers, folded, field
        self.descending, self.persona = descending, persona
        self.keys = sql.KEY_COLUMNS[field]
        self.sort = sql.SORTS[sort]
        self.shape = sql.Shape(scores=has_scores)
        self.names = [c.split(".")[1] for c in self.shape.columns.split(", ")]
        self.params = {"text": folded, "cap_plus_one": CAP + 1, "budget": WALK_BUDGET, "persona": persona}
        self.statements: list[tuple[str, dict | tuple]] = []
        self.most_rows = 0

    def run(self, offset: int, limit: int) -> Page:
        self.params |= {"offset": offset, "limit": limit}
        filtered = self.persona is not None
        if not self.folded:
            total = self._scalar(sql.COUNT_PERSONA) if filtered else self.customers
            rows = self._rows(sql.browse(self.shape, self.sort, self.descending, filtered))
            return self._page(rows, total, exact=True)
        match = self._match_expression()
        if match is None:
            return self._page([], 0, exact=True)
        if match == "":  # a one- or two-character fragment in too many rows for a full-text query to pay off
            common = self.most_rows > CAP and not filtered
            total = CAP + 1 if common else self._scalar(sql.count_by_scan(self.keys, filtered))
            return self._page(self._walk(fallback=None), min(total, CAP), exact=total <= CAP)
        self.params["match"] = match
        if self.sort.column is None:  # name order is the index's own order
            rows = self._rows(sql.matches_in_name_order(self.shape, self.descending, filtered))
            if offset == 0 and len(rows) < limit:  # every match is on this page: that is the count
                return self._page(rows, len(rows), exact=True)
            total = self._scalar(sql.count_matches(filtered))
        else:
            total = self._scalar(sql.count_matches(filtered))
            sort_all = sql.matches_sorted(self.shape, self.sort, self.descending, filtered)
            rows = self._walk(fallback=sort_all) if self._walk_pays(total) else self._rows(sort_all)
        return self._page(rows, min(total, CAP), exact=total <= CAP)

    def _walk_pays(self, total: int) -> bool:
        """Whether walking the sort order should fill the page well within the budget, matches being spread
        evenly (beyond the cap there are at least that many)."""
        needed = (self.params["offset"] + self.params["limit"]) * self.customers / max(total, 1)
        return 2 * needed <= WALK_BUDGET

    def _match_expression(self) -> str | None:
        """The FTS5 query for the text; "" when it is too common for one, None when nothing can match."""
        prefix = "" if self.field == "any" else _column_filter(self.keys)
        if len(self.folded) >= 3:
            return prefix + fts_string(self.folded)
        placeholders = ", ".join("?" * len(self.keys))
        statement = sql.SHORT_TERMS_FOR.format(columns=placeholders)
        self.statements.append((statement, (self.folded, *self.keys)))
        terms = self.db.execute(statement, [self.folded, *self.keys]).fetchall()
        if not terms:
            return None
        self.most_rows = max(rows for _, rows in terms)  # so at least this many rows match
        if self.most_rows > CAP or len(terms) > MAX_SHORT_TERMS:
            return ""
        return prefix + "(" + " OR ".join(fts_string(term) for term, _ in terms) + ")"

    def _walk(self, fallback: str | None) -> list[tuple]:
        """Walk the sort order within the budget; past it, sort all matches (or walk everything)."""
        statement = sql.walk(self.shape, self.sort, self.descending, self.keys, self.persona is not None)
        rows = self._rows(statement)
        if len(rows) == self.params["limit"] or self.customers <= WALK_BUDGET:
            return rows
        if fallback is not None:
            return self._rows(fallback)
        self.params["budget"] = -1  # LIMIT -1: no limit
        return self._rows(statement)

    def _scalar(self, statement: str) -> int:
        self.statements.append((statement, dict(self.params)))
        return self.db.execute(statement, self.params).fetchone()[0]

    def _rows(self, statement: str) -> list[tuple]:
        self.statements.append((statement, dict(self.params)))
        return self.db.execute(statement, self.params).fetchall()

    def _page(self, rows: list[tuple], total: int, exact: bool) -> Page:
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(self.names)
        frame = pd.DataFrame(
            {
                name: pd.array(list(values), dtype=COLUMN_DTYPES.get(name, "str"))
                for name, values in zip(self.names, columns, strict=True)
            }
        )
        return Page(frame, total, exact, self.statements)
