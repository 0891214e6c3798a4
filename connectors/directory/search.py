"""Search-as-you-type over the directory: SQLite's FTS5 full-text index with the trigram tokenizer.

A trigram index finds any fragment of three characters or more, wherever it sits in a name, email or phone
number, by intersecting the rows that hold each of its three-character pieces. The index's rowid is the
customer's rank in name order, so matches come out of FTS5 already sorted by name. One read of the first
:data:`CAP` + 1 matches both counts them and places the page:

- all of them read (few matches): the page is chosen by each match's rank in the sort order, kept in a
  memory-mapped array per order;
- more than the cap: in name order the page is among those read; in another order, their ranks say how far
  down the order the page's last row lies at most, and a walk of the order's index (it carries the search
  keys) that far, keeping matching rows, fills the page for sure. Common text fills it within a few rows.
  When that reach is past :data:`WALK_LIMIT` (matches bunched at the far end of the order), every match is
  read and ranked instead.

Searches filtered by persona, and the few cases the first read cannot settle, count through the index (up to
the cap) and walk the order within :data:`WALK_BUDGET` rows before ranking all matches.

One- and two-character text has no trigram of its own: the index's vocabulary says which trigrams contain it
and in how many rows. When one of them alone is in more than :data:`CAP` rows, the text is common: the count
is "10,000+" and the sort order is walked; otherwise the trigrams are OR-ed into a full-text query.

Keys are folded (lower case, no accents) by the same function on both sides, and text reaches SQL only as
bound parameters: a fragment becomes an FTS5 string (double quotes doubled) or an ``instr()`` argument, so
``%``, ``_``, quotes and backslashes are plain characters.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

import numpy as np
import orjson
import pandas as pd

from connectors.directory import sql
from connectors.files import replace_whole

CAP = 10_000  # counts stop here: "10,000+" (exact below)
WALK_BUDGET = 8_000  # rows of a sort index a walk looks at, at least, before ranking all matches instead
WALK_LIMIT = 60_000  # ... and at most: past it, ranking the matches costs less than walking
COLLECT_MAX = 300_000  # matches ranked at most; more (a common fragment in an unlucky order) are walked
NOT_TRAINED = "churn risk is not available until models are trained"
NO_PERSONAS = "personas are not available until models are trained"
MAX_SHORT_TERMS = 400  # OR-ing more trigrams than this for a short fragment is slower than walking
COLUMN_DTYPES = {
    "id": "int64",
    "tenure_years": "float64",
    "products": "Int64",
    "churn_risk": "float64",
    "persona": "Int64",
    "merge_anchor": "int64",
    "merge_position": "int64",
    "merge_value": "object",
}
# Columns held as NumPy arrays: a missing value is NaN (float64) or cannot occur (int64: ids, positions).
NUMPY_DTYPES = {"int64", "float64"}


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


def rank_file(path: Path, column: str) -> Path:
    """Where the rank of every row of the directory (or scores) file ``path`` in ``column``'s order lives."""
    return path.with_name(f"{path.stem}-rank-{column}.npy")


def persona_file(path: Path) -> Path:
    """Where the persona of every row of the scores file ``path`` lives (-1: none)."""
    return path.with_name(f"{path.stem}-persona.npy")


def write_ranks(path: Path, orders: dict[str, np.ndarray], rows: int) -> None:
    """Save, per sort column, each row's rank in its order (rows with the value first, then the others).

    ``orders`` holds, per column, the positions in that order and how many have a value: the rank array is
    indexed by position, and its element 0 (no row has position 0) says how many rows have a value.
    """
    for column, (order, valued) in orders.items():
        rank = np.zeros(rows + 1, np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        rank[0] = valued
        replace_whole(rank_file(path, column), lambda file, rank=rank: np.save(file, rank))


def _ranks(path: Path, columns: Iterable[str]) -> dict[str, np.ndarray]:
    """The rank arrays beside ``path``, memory-mapped: every process on the machine shares their pages."""
    return {c: np.load(rank_file(path, c), mmap_mode="r") for c in columns if rank_file(path, c).is_file()}


def _read_ahead(paths: Iterable[Path]) -> None:
    """Ask the kernel to read the files into its page cache in the background: the first searches then
    find their pages in memory (every process shares them; a warm cache is read again for nothing)."""
    for path in paths:
        with path.open("rb") as file:
            os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)


def read_only(path: Path) -> str:
    """An SQLite URI that opens a file that never changes: read-only, no locking, no journal look-ups."""
    return f"file:{path}?mode=ro&immutable=1"


def text_file(path: Path) -> Path:
    """Where the full-text index of the directory file ``path`` lives."""
    return path.with_name(f"{path.stem}-text{path.suffix}")


class SearchIndex:
    """A built directory (``path``, its full-text index beside it), opened read-only; thread-safe.

    ``customers`` is how many rows it holds. Model scores are attached from their own file
    (:meth:`attach_scores`), and a delta of changed customers (:class:`connectors.directory.delta.Delta`)
    is searched beside it and merged in (:meth:`attach_delta`). Nothing is ever written through it.
    """

    def __init__(self, path: Path, customers: int, small: bool = False):
        self.path = path
        self.customers = customers
        self.small = small  # a delta's few rows: sort every match instead of walking orders
        self._db = sqlite3.connect(read_only(path), uri=True, check_same_thread=False, isolation_level=None)
        self._db.execute("ATTACH DATABASE ? AS text", (read_only(text_file(path)),))
        self._db.execute("PRAGMA mmap_size = 17179869184")
        self._db.execute("PRAGMA text.mmap_size = 17179869184")
        self._lock = threading.Lock()
        if not small:
            _read_ahead([path, text_file(path)])
        self.scores: Path | None = None
        self.delta: SearchIndex | None = None
        self.replaced = 0
        self.ranks = {} if small else _ranks(path, [sort.column for sort in sql.SORT_INDEXES])
        self.personas: np.ndarray | None = None
        self.hidden = np.empty(0, np.int64)

    @classmethod
    def build(
        cls,
        path: Path,
        batches: Iterable[list[tuple]],
        progress: Callable[[str, int], None] = lambda step, rows: None,
        after: Iterable[str] = (),
    ) -> int:
        """Write the directory rows (in name order, see sql.DIRECTORY_ROWS) and index them; return how many.

        The full-text index is filled on a second thread, into its own file, from the same batches of rows,
        while this one writes the table and then its sort indexes: SQLite works outside Python's lock, so
        both cores help. ``progress(step, rows)`` hears of each batch and step; ``after`` are statements
        run on the table once it is written (a delta's own columns).
        """
        db = _writer(path)
        written = 0
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
                        written += len(rows)
                        progress("directory rows", len(rows))
                    db.execute("COMMIT")
                finally:
                    pending.put(None)
                progress("index by id", 0)
                db.execute(sql.ID_INDEX)
                for sort in sql.SORT_INDEXES:
                    progress(f"index by {sort.column}", 0)
                    db.execute(sql.sort_index(sort))
                progress("full-text index", 0)
                text.result()
            for statement in after:
                db.executescript(statement)
        finally:
            db.close()
        return written

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self.delta is not None:
                self.delta.close()

    @property
    def visible(self) -> int:
        """Rows a search can find: the build's, but those a delta replaced, and the delta's."""
        return self.customers - self.replaced + (self.delta.customers if self.delta else 0)

    def attach_scores(self, path: Path | None) -> None:
        """Use the churn risk and persona per row in ``path`` (see :func:`write_scores`); None: no scores."""
        with self._lock:
            self._attach(self._db, "scores", path)
            self.scores = path
            self.ranks.pop("churn_risk", None)
            self.personas = None
            if path is not None and not self.small:
                self.ranks |= _ranks(path, ["churn_risk"])
                self.personas = np.load(persona_file(path), mmap_mode="r")
            if self.delta is not None:
                self.delta.attach_scores(path)

    def attach_delta(self, delta: SearchIndex | None, replaced: int) -> SearchIndex | None:
        """Search ``delta`` beside the build, leaving out the ``replaced`` rows it lists; return the old one."""
        with self._lock:
            self._attach(self._db, "delta", delta.path if delta is not None else None)
            if delta is not None:
                delta.attach_scores(self.scores)
            old, self.delta, self.replaced = self.delta, delta, replaced if delta is not None else 0
            self.hidden = (
                np.fromiter((p for (p,) in self._db.execute("SELECT position FROM delta.replaced")), np.int64)
                if self.replaced
                else np.empty(0, np.int64)
            )
            return old

    @staticmethod
    def _attach(db: sqlite3.Connection, name: str, path: Path | None) -> None:
        if name in {row[1] for row in db.execute("PRAGMA database_list")}:
            db.execute(f"DETACH DATABASE {name}")
        if path is not None:
            db.execute(f"ATTACH DATABASE ? AS {name}", (read_only(path),))

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
        if (sort == "churn_risk" or persona is not None) and self.scores is None:
            raise ValueError(NOT_TRAINED if sort == "churn_risk" else NO_PERSONAS)
        with self._lock:
            delta = self.delta
            merge = delta is not None and (delta.customers > 0 or self.replaced > 0)
            shape = sql.Shape(
                scores=self.scores is not None,
                hidden=self.replaced > 0,
                delta=self.small,
                merge=merge or self.small,
                sort=sql.SORTS[sort],
            )
            plan = _Plan(self, shape, folded, field, descending, persona)
            if not merge:
                return plan.run(offset, limit) if not self.small else plan.run_small(offset, limit)
            main = plan.run(0, offset + limit)
            extra = delta.search(folded, field, sort, descending, 0, offset + limit, persona)
        return _merge(main, extra, sql.SORTS[sort], descending, offset, limit)


def write_scores(index: Path, scores: pd.DataFrame, path: Path) -> None:
    """Write churn risk and persona for each row of the build at ``index`` into a new file ``path``.

    Rows are keyed by the build's position, indexed for sorting by risk and filtering by persona. The file
    is written beside its final name and moved there whole.
    """
    staging = path.with_name(f".{path.name}.tmp")
    staging.unlink(missing_ok=True)
    db = _writer(staging)
    try:
        db.execute("ATTACH DATABASE ? AS build", (read_only(index),))
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
        rows = db.execute("SELECT coalesce(max(position), 0) FROM scores").fetchone()[0]
        order = _positions(db, sql.SCORES_ORDER)
        valued = db.execute("SELECT count(*) FROM scores WHERE churn_risk IS NOT NULL").fetchone()[0]
        personas = np.full(rows + 1, -1, np.int16)
        found = _positions(db, sql.SCORES_PERSONAS).reshape(-1, 2)
        personas[found[:, 0]] = found[:, 1]
    finally:
        db.close()
    write_ranks(path, {"churn_risk": (order, valued)}, rows)
    replace_whole(persona_file(path), lambda file: np.save(file, personas))
    staging.chmod(0o444)
    staging.replace(path)


def _positions(db: sqlite3.Connection, statement: str) -> np.ndarray:
    """The positions a statement lists, one per row, read in one string (a row at a time is 10x slower)."""
    (text,) = db.execute(f"SELECT group_concat(position) FROM ({statement})").fetchone()
    return integers(text)


def integers(text: str | None) -> np.ndarray:
    """The whole numbers of a comma-separated string (SQL's group_concat; None: none), parsed by NumPy in
    a tenth of the time of splitting it in Python (0.15 against 1.16 ms for 10,001 positions)."""
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.empty(0, np.int64)


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
        for statement in sql.FULL_TEXT_FILL:
            db.execute(statement)
        db.execute("BEGIN")
        while (rows := pending.get()) is not None:
            db.executemany(sql.FULL_TEXT_INSERT, rows)
        db.execute("COMMIT")
        db.execute(sql.FULL_TEXT_OPTIMIZE)
        db.executescript(sql.SHORT_TERMS)
    finally:
        db.close()


MERGE_COLUMNS = ["merge_anchor", "merge_position", "merge_value"]


def _merge(main: Page, delta: Page, sort: sql.Sort, descending: bool, offset: int, limit: int) -> Page:
    """The page at ``offset`` of the build's and the delta's matches together, in the sort order.

    Both came sorted and hold the first ``offset + limit`` of their matches. A delta's row follows the
    build's row it is anchored to in name order, so name order and the ties of other orders interleave as
    one index would have them; rows without the sort value come last either way.
    """
    if main.rows.empty or delta.rows.empty:  # most searches: one side has nothing, the other is in order
        frame = delta.rows if main.rows.empty else main.rows
        return _page(frame.iloc[offset : offset + limit].drop(columns=MERGE_COLUMNS), main, delta)
    frame = pd.concat([main.rows.assign(merge_delta=0), delta.rows.assign(merge_delta=1)], ignore_index=True)
    reverse = descending != sort.reverse
    name_order = ["merge_anchor", "merge_delta", "merge_position"]
    if sort.column is None:
        frame = frame.sort_values(name_order, ascending=not descending, kind="stable")
    else:
        by_value = frame["merge_value"].isna()
        with_value = frame[~by_value].sort_values(
            ["merge_value", *name_order], ascending=not reverse, kind="stable"
        )
        without = frame[by_value].sort_values(name_order, ascending=not reverse, kind="stable")
        frame = pd.concat([with_value, without])
    return _page(
        frame.iloc[offset : offset + limit].drop(columns=[*MERGE_COLUMNS, "merge_delta"]), main, delta
    )


def _page(rows: pd.DataFrame, main: Page, delta: Page) -> Page:
    """The merged page of ``rows``, counting the matches of both."""
    total = main.total + delta.total
    return Page(
        rows.reset_index(drop=True),
        min(total, CAP),
        main.exact and delta.exact and total <= CAP,
        [*main.statements, *delta.statements],
    )


class _Plan:
    """One search: picks the statements (see the module's docstring) and records what ran."""

    def __init__(self, index: SearchIndex, shape: sql.Shape, folded, field, descending, persona):
        self.index, self.db = index, index._db
        self.customers = index.customers - index.replaced
        self.folded, self.field, self.descending, self.persona = folded, field, descending, persona
        self.keys = sql.KEY_COLUMNS[field]
        self.shape = shape
        self.sort = shape.sort
        self.names = [c.split(" AS ")[-1].split(".")[-1] for c in self.shape.columns.split(", ")]
        self.params = {"text": folded, "cap_plus_one": CAP + 1, "budget": WALK_BUDGET, "persona": persona}
        self.statements: list[tuple[str, dict | tuple]] = []
        self.most_rows = 0

    def run(self, offset: int, limit: int) -> Page:
        self.params |= {"offset": offset, "limit": limit}
        filtered = self.persona is not None
        if not self.folded:
            total = self._scalar(sql.count_persona(self.shape)) if filtered else self.customers
            rows = self._rows(sql.browse(self.shape, self.sort, self.descending, filtered))
            return self._page(rows, total, exact=True)
        match = self._match_expression()
        if match is None:
            return self._page([], 0, exact=True)
        if match == "":  # a one- or two-character fragment in too many rows for a full-text query to pay off
            common = self.most_rows > CAP and not filtered and not self.shape.hidden
            total = CAP + 1 if common else self._scalar(sql.count_by_scan(self.shape, self.keys, filtered))
            return self._page(
                self._walk(self._budget(total), rank=False), min(total, CAP), exact=total <= CAP
            )
        self.params["match"] = match
        if not filtered and (self.sort.column is None or self.sort.column in self.index.ranks):
            page = self._from_first_matches(offset, limit)
            if page is not None:
                return page
        if self.sort.column is None:  # name order is the index's own order
            rows = self._rows(sql.matches_in_name_order(self.shape, self.descending, filtered))
            if offset == 0 and len(rows) < limit:  # every match is on this page: that is the count
                return self._page(rows, len(rows), exact=True)
            total = self._scalar(sql.count_matches(self.shape, filtered))
        else:
            total = self._scalar(sql.count_matches(self.shape, filtered))
            ranked = self.sort.column in self.index.ranks
            if not ranked:
                rows = self._walk(self._budget(total), rank=False)
            elif total <= CAP:
                rows = self._ranked(CAP + 1)
            else:
                rows = self._walk(self._budget(total), rank=True)
        return self._page(rows, min(total, CAP), exact=total <= CAP)

    def run_small(self, offset: int, limit: int) -> Page:
        """A delta's search: its few rows are sorted whole, never walked."""
        self.params |= {"offset": offset, "limit": limit}
        filtered = self.persona is not None
        match = self._match_expression() if len(self.folded) >= 3 else ""
        if match is None:
            return self._page([], 0, exact=True)
        if match:
            self.params["match"] = match
            total = self._scalar(sql.count_matches(self.shape, filtered))
            rows = self._rows(sql.matches_sorted(self.shape, self.sort, self.descending, filtered))
        else:
            keys = self.keys if self.folded else ()
            total = self._scalar(sql.count_scanned(self.shape, keys, filtered))
            rows = self._rows(sql.scan_sorted(self.shape, self.sort, self.descending, keys, filtered))
        return self._page(rows, min(total, CAP), exact=total <= CAP)

    def _budget(self, total: int) -> int:
        """Rows of the sort order a walk may look at: three times what filling the page should take, the
        matches being spread evenly (beyond the cap there are at least that many), within the limits."""
        needed = (self.params["offset"] + self.params["limit"]) * self.customers / max(total, 1)
        return int(min(WALK_LIMIT, max(WALK_BUDGET, 3 * needed)))

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

    def _walk(self, budget: int, rank: bool) -> list[tuple]:
        """Walk the sort order within ``budget`` rows (0: not at all); when the page is not full by then,
        rank every match (``rank``, up to COLLECT_MAX of them) or walk the whole order."""
        statement = sql.walk(self.shape, self.sort, self.descending, self.keys, self.persona is not None)
        if budget:
            self.params["budget"] = budget
            rows = self._rows(statement)
            if len(rows) == self.params["limit"] or self.customers <= budget:
                return rows
        if rank:
            ranked = self._ranked(COLLECT_MAX + 1)
            if ranked is not None:
                return ranked
        self.params["budget"] = -1  # LIMIT -1: no limit
        return self._rows(statement)

    def _from_first_matches(self, offset: int, limit: int) -> Page | None:
        """The page from one read of the first matches (up to the cap) in name order, which also counts them.

        With every match read, the page is chosen from their ranks. With more than the cap, the ranks of
        those read say how far down the sort order the page's last row lies at most: a walk that far fills
        the page for sure; when that is too far, every match is ranked. None when the rows a delta replaced
        make the count unsure, or the page lies past the matches read: the statements of :meth:`run` decide.
        """
        first = self._positions(CAP + 1)
        complete = len(first) <= CAP
        positions = self._visible(first)
        if not complete and len(positions) <= CAP:
            return None
        end = offset + limit
        if complete:
            if self.sort.column is None:
                chosen = (positions[::-1] if self.descending else positions)[offset:end]
            else:
                keys = self._order_keys(positions)
                chosen = positions[_smallest(keys, end)[offset:]]
            return self._page(self._rows_at(chosen), len(positions), exact=True)
        if self.sort.column is None:
            if self.descending or end > len(positions):
                return self._page(
                    self._rows(sql.matches_in_name_order(self.shape, self.descending, False)), CAP, False
                )
            return self._page(self._rows_at(positions[offset:end]), CAP, exact=False)
        keys = self._order_keys(positions)
        if end > len(keys):
            return None
        reach = int(keys[_smallest(keys, end)[-1]]) + 1  # the page's last row is no further than this
        # Within reach, a walk that far fills the page for sure; beyond it, ranking every match costs less.
        rows = self._walk(reach, rank=False) if reach <= WALK_LIMIT else self._walk(0, rank=True)
        return self._page(rows, CAP, exact=False)

    def _ranked(self, most: int) -> list[tuple] | None:
        """The page, from every match's rank in the sort order (memory-mapped arrays, no sorting in SQL);
        None when there are ``most`` matches or more."""
        positions = self._positions(most)
        if len(positions) >= most:
            return None
        positions = self._visible(positions)
        if self.persona is not None:
            positions = positions[self.index.personas[positions] == self.persona]
        keys = self._order_keys(positions)
        end = self.params["offset"] + self.params["limit"]
        return self._rows_at(positions[_smallest(keys, end)[self.params["offset"] :]])

    def _positions(self, most: int) -> np.ndarray:
        """The positions of the first ``most`` full-text matches, in name order."""
        self.params["most"] = most
        statement = sql.matching_positions(self.shape)
        self.statements.append((statement, dict(self.params)))
        (text,) = self.db.execute(statement, self.params).fetchone()
        return integers(text)

    def _visible(self, positions: np.ndarray) -> np.ndarray:
        """``positions`` without the rows a delta replaced."""
        return positions[~np.isin(positions, self.index.hidden)] if len(self.index.hidden) else positions

    def _order_keys(self, positions: np.ndarray) -> np.ndarray:
        """Each position's place in the sort order as walked (descending: the valued rows backwards, then
        the others backwards)."""
        rank = self.index.ranks[self.sort.column]
        valued = int(rank[0])
        keys = rank[positions].astype(np.int64)
        if self.descending != self.sort.reverse:
            rows = len(rank) - 1
            keys = np.where(keys < valued, valued - 1 - keys, valued + rows - 1 - keys)
        return keys

    def _rows_at(self, page: np.ndarray) -> list[tuple]:
        """The rows at the positions of ``page``, in its order."""
        if not len(page):
            return []
        statement = sql.rows_at(self.shape)
        params = {"positions": orjson.dumps(page.tolist()).decode()}
        self.statements.append((statement, params))
        found = {row[-1]: row[:-1] for row in self.db.execute(statement, params).fetchall()}
        return [found[p] for p in page.tolist()]

    def _scalar(self, statement: str) -> int:
        self.statements.append((statement, dict(self.params)))
        return self.db.execute(statement, self.params).fetchone()[0]

    def _rows(self, statement: str) -> list[tuple]:
        self.statements.append((statement, dict(self.params)))
        return self.db.execute(statement, self.params).fetchall()

    def _page(self, rows: list[tuple], total: int, exact: bool) -> Page:
        return Page(_frame(tuple(self.names), rows), total, exact, self.statements)


def _frame(names: tuple[str, ...], rows: list[tuple]) -> pd.DataFrame:
    """The page's rows as a typed frame: NumPy arrays where no value can be missing, pandas' nullable
    arrays elsewhere (each column through ``pd.array`` cost 50 µs, most of a search that finds little);
    an empty page is a copy of one made once per column set."""
    if not rows:
        return _empty_frame(names).copy()
    columns = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            name: _column(COLUMN_DTYPES.get(name, "str"), values)
            for name, values in zip(names, columns, strict=True)
        },
        copy=False,
    )


def _column(dtype: str, values: tuple) -> np.ndarray | pd.api.extensions.ExtensionArray:
    return np.array(values, dtype=dtype) if dtype in NUMPY_DTYPES else pd.array(values, dtype=dtype)


@functools.cache
def _empty_frame(names: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.array([], dtype=COLUMN_DTYPES.get(name, "str")) for name in names})


def _smallest(keys: np.ndarray, count: int) -> np.ndarray:
    """The indexes of the ``count`` smallest keys (ranks: no two alike), smallest first."""
    if count < len(keys):
        chosen = np.argpartition(keys, count - 1)[:count]
        return chosen[np.argsort(keys[chosen], kind="stable")]
    return np.argsort(keys, kind="stable")
