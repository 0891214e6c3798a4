"""The one reader of JSON-lines sources: CRM profiles, survey answers and click files.

Every reader of these files — the directory's build, training's bulk reads, the click replay — follows the
rule defined here, so a line means the same thing everywhere. A line is read when, once a byte-order mark
at its start and surrounding whitespace are removed, it is a JSON object whose key (``id``,
``customer_id``, ``user_id``) is a whole number that fits in 64 bits; blank lines are passed over. Any other
line is skipped and counted per file and reason with its line number (:class:`Skips`); where keys must be
unique, the first line with a key wins and the later ones are skipped as duplicates. One bad line never
stops a reader.

Files are read in large chunks cut at line ends (numpy finds them) and handed to DuckDB as Arrow arrays of
raw lines; DuckDB cleans and classifies every line and extracts the fields a reader asks for with SQL, so
the documents keep no declared schema and nothing is done line by line in Python.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa

log = logging.getLogger(__name__)

BOM = "\ufeff"
CHUNK_BYTES = 32 << 20
LISTED = 20  # line numbers kept (and logged) per file and reason; the counts cover every line
REASONS = {
    "malformed_json": "not valid JSON",
    "not_an_object": "not a JSON object",
    "no_key": "no whole-number {key}",
    "duplicate_key": "{key} already read on an earlier line (the first line wins)",
}

# The rule, as DuckDB applies it to a batch of lines (``raw``: a line's bytes without its line end, ``line``:
# its number). Lines that are not UTF-8 read as NULL (malformed); a byte-order mark at the start and
# whitespace around go; blank lines are passed over. ``key`` is the document's key where it is a whole number
# of 64 bits. A line that starts with "{" and ends with "}" has nothing to remove: it skips the regular
# expression, two thirds of what this rule cost on a click file (measured).
CLASSIFY_SQL = f"""
SELECT line, doc, key,
       CASE WHEN doc IS NULL OR NOT json_valid(doc) THEN
                CASE WHEN doc = '' THEN 'blank' ELSE 'malformed_json' END
            WHEN NOT prefix(doc, '{{') THEN 'not_an_object'
            WHEN key IS NULL THEN 'no_key'
       END AS problem
FROM (
    SELECT line, doc,
           TRY_CAST(CASE WHEN regexp_full_match(key_text, '-?[0-9]+') THEN key_text END AS BIGINT) AS key
    FROM (
        SELECT line, doc, TRY(json_extract(doc, $path))::VARCHAR AS key_text
        FROM (
            SELECT line,
                   CASE WHEN prefix(text, '{{') AND suffix(text, '}}') THEN text
                        ELSE regexp_replace(text, '^\\s*{BOM}?\\s*|\\s+$', '', 'g')
                   END AS doc
            FROM (SELECT line, TRY(decode(raw)) AS text FROM jsonlines_raw)
        )
    )
)
"""


def clean(line: bytes) -> bytes:
    """The line as the rule reads it (the replay sends file lines as messages): no byte-order mark at its
    start, no surrounding whitespace. It reads as :data:`CLASSIFY_SQL` reads lines (a test checks)."""
    return line.strip().removeprefix(BOM.encode())


@dataclass
class FileSkips:
    """What one file lost: lines skipped per reason, with the first line numbers of each; and how far it
    was read (``lines_read`` lines, ``bytes_read`` bytes: where a reader appending to it resumes)."""

    key: str
    counts: Counter = field(default_factory=Counter)
    lines: dict[str, list[int]] = field(default_factory=dict)
    lines_read: int = 0
    bytes_read: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, reason: str, count: int, lines: Iterable[int]) -> None:
        self.counts[reason] += count
        listed = self.lines.setdefault(reason, [])
        listed.extend(sorted(lines)[: LISTED - len(listed)])

    def reason_text(self, reason: str) -> str:
        return REASONS[reason].format(key=self.key)

    def as_dict(self) -> dict:
        """``{"skipped": n, "reasons": {reason: {"count": n, "text": ..., "lines": [...]}}}``."""
        return {
            "skipped": self.total,
            "reasons": {
                reason: {"count": count, "text": self.reason_text(reason), "lines": self.lines[reason]}
                for reason, count in sorted(self.counts.items())
            },
        }


@dataclass
class Skips:
    """Skipped lines of every file a load read, by file name (as the data folder names it)."""

    files: dict[str, FileSkips] = field(default_factory=dict)

    def of(self, name: str, key: str) -> FileSkips:
        return self.files.setdefault(name, FileSkips(key))

    @property
    def total(self) -> int:
        return sum(skips.total for skips in self.files.values())

    def counts(self) -> dict[str, int]:
        """Skipped lines per file, for the files that lost any."""
        return {name: skips.total for name, skips in self.files.items() if skips.total}

    def as_dict(self) -> dict[str, dict]:
        return {name: skips.as_dict() for name, skips in self.files.items() if skips.total}

    @classmethod
    def from_dict(cls, found: Mapping[str, dict], key_of: Mapping[str, str]) -> Skips:
        """Skips as :meth:`as_dict` wrote them (``key_of``: each file's key)."""
        skips = cls()
        for name, file in found.items():
            file_skips = skips.of(name, key_of.get(name, "id"))
            for reason, detail in file["reasons"].items():
                file_skips.add(reason, detail["count"], detail["lines"])
        return skips

    def forget(self, names: Iterable[str]) -> None:
        """Drop what is known about these files (they are read again)."""
        for name in list(names):
            self.files.pop(name, None)

    def log(self, logger: logging.Logger = log) -> None:
        """One warning per listed line, and a total per reason where more were skipped than listed."""
        for name, skips in self.files.items():
            for reason, count in sorted(skips.counts.items()):
                listed = skips.lines[reason]
                for number in listed:
                    logger.warning("%s line %d: %s; line skipped", name, number, skips.reason_text(reason))
                if count > len(listed):
                    logger.warning(
                        "%s: %d lines skipped in all as %s (the first %d are listed above)",
                        name,
                        count,
                        skips.reason_text(reason),
                        len(listed),
                    )


def summary(skipped: Mapping, listed: int = 5) -> str:
    """One file's skips (as :meth:`FileSkips.as_dict` writes them) in words, with the first ``listed`` line
    numbers of each reason: "2 not valid JSON (lines 22, 3007); 1 not a JSON object (line 3001)"."""
    parts = []
    for reason in skipped["reasons"].values():
        numbers = ", ".join(str(number) for number in reason["lines"][:listed])
        more = ", …" if reason["count"] > min(listed, len(reason["lines"])) else ""
        lines = "lines" if reason["count"] > 1 else "line"
        parts.append(f"{reason['count']:,} {reason['text']} ({lines} {numbers}{more})")
    return "; ".join(parts)


def raw_lines(
    path: Path, start: int = 0, first: int = 1, chunk_bytes: int | None = None, batches: int = 8
) -> Iterator[tuple[pa.Table, int]]:
    """The file's lines from byte ``start`` (line number ``first``) as Arrow tables of ``line`` and ``raw``
    (its bytes without the "\\n" that ends it), each in a few record batches so that DuckDB reads them on
    every core, with the number of the file's bytes each table covers."""
    rest = b""
    with path.open("rb") as file:
        file.seek(start)
        while True:
            chunk = file.read(CHUNK_BYTES if chunk_bytes is None else chunk_bytes)
            block = rest + chunk
            if not block:
                return
            cut = len(block) if not chunk else block.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a chunk: read on
                rest = block
                continue
            block, rest = block[:cut], block[cut:]
            newlines = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
            # Without the newlines, line i ends where its newline was, less the i newlines before it.
            text = block.replace(b"\n", b"")
            ends = newlines - np.arange(len(newlines))
            if not len(newlines) or newlines[-1] != len(block) - 1:
                ends = np.append(ends, len(text))
            offsets = np.concatenate([[0], ends]).astype(np.int64)
            values = pa.LargeBinaryArray.from_buffers(
                pa.large_binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(text)]
            )
            numbers = pa.array(np.arange(first, first + len(ends), dtype=np.int64))
            first += len(ends)
            table = pa.table({"line": numbers, "raw": values})
            yield pa.Table.from_batches(table.to_batches(max_chunksize=-(-len(ends) // batches))), len(block)
            if not chunk:
                return


def load(
    duck: duckdb.DuckDBPyConnection,
    table: str,
    files: Mapping[str, Path],
    key: str,
    skips: Skips,
    fields: Mapping[str, object] | None = None,
    keep_doc: bool = False,
    unique: bool = False,
    resume: Mapping[str, tuple[int, int]] | None = None,
    temporary: bool = False,
) -> int:
    """Read ``files`` (name -> path, in order) into a new DuckDB ``table``; return how many rows it holds.

    Each row has ``file`` (its name), ``line``, the key (named ``key``), the cleaned JSON text as ``doc``
    when ``keep_doc``, and the document's ``fields``: a structure for DuckDB's ``from_json`` (give
    ``VARCHAR`` and cast in SQL: a value of another type then reads as its JSON text instead of failing).
    With ``unique``, the first line of each key is kept and the later ones are skipped as duplicates.
    ``resume`` names files to read from a byte offset on, as (offset, lines before it): lines appended since
    a file was last read. ``temporary``: the table is a connection's temporary one, in memory (spilled to the
    temporary folder when memory runs short), for a caller that reshapes it into a table of a database file:
    written into the file, the raw table cost half of reading the profile documents, measured.
    """
    extract = f", from_json(doc, {_literal(orjson.dumps(dict(fields)).decode())}) AS fields" if fields else ""
    selected = ", ".join(
        ["line", f"key AS {key}"] + (["doc"] if keep_doc else []) + (["unnest(fields)"] if fields else [])
    )
    good = (
        f"SELECT $file::VARCHAR AS file, {selected} "
        f"FROM (SELECT line, key, doc{extract} FROM jsonlines_lines WHERE problem IS NULL)"
    )
    params = {"path": f"$.{key}"}
    duck.register(
        "jsonlines_raw", pa.table({"line": pa.array([], pa.int64()), "raw": pa.array([], pa.binary())})
    )
    duck.execute(f"CREATE OR REPLACE TEMP TABLE jsonlines_lines AS {CLASSIFY_SQL}", params)
    kind = "TEMP TABLE" if temporary else "TABLE"
    duck.execute(f"CREATE OR REPLACE {kind} {table} AS {good}", {"file": ""})
    for name, path in files.items():
        file_skips = skips.of(name, key)
        start, before = (resume or {}).get(name, (0, 0))
        file_skips.lines_read, file_skips.bytes_read = before, start
        for batch, covered in raw_lines(path, start, before + 1):
            file_skips.lines_read += batch.num_rows
            file_skips.bytes_read += covered
            duck.register("jsonlines_raw", batch)
            duck.execute(
                f"CREATE OR REPLACE TEMP TABLE jsonlines_lines AS {CLASSIFY_SQL}",
                params,
            )
            duck.execute(f"INSERT INTO {table} {good}", {"file": name})
            problems = duck.execute(
                f"SELECT problem, count(*), list(line ORDER BY line)[1:{LISTED}] FROM jsonlines_lines "
                "WHERE problem NOT IN ('blank') GROUP BY problem"
            ).fetchall()
            for reason, count, lines in problems:
                file_skips.add(reason, count, lines)
    duck.unregister("jsonlines_raw")
    duck.execute("DROP TABLE jsonlines_lines")
    if unique:
        _drop_repeated_keys(duck, table, list(files), key, skips)
    return duck.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def _drop_repeated_keys(
    duck: duckdb.DuckDBPyConnection, table: str, names: list[str], key: str, skips: Skips
) -> None:
    """Keep the first line of each key (files in the order given) and skip the others as duplicates."""
    rank = "CASE file " + " ".join(f"WHEN {_literal(n)} THEN {i}" for i, n in enumerate(names)) + " END"
    duck.execute(
        f"CREATE OR REPLACE TEMP TABLE jsonlines_repeated AS SELECT file, line FROM {table} "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {rank}, line) > 1"
    )
    found = duck.execute(
        f"SELECT file, count(*), list(line ORDER BY line)[1:{LISTED}] FROM jsonlines_repeated GROUP BY file"
    ).fetchall()
    for name, count, lines in found:
        skips.of(name, key).add("duplicate_key", count, lines)
    if found:
        duck.execute(f"DELETE FROM {table} WHERE (file, line) IN (SELECT file, line FROM jsonlines_repeated)")
    duck.execute("DROP TABLE jsonlines_repeated")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
