"""The one reader of JSON-lines sources: which lines are read, which are skipped, and why, by line number."""

from __future__ import annotations

import duckdb
import orjson
import pytest

from connectors import jsonlines

GOOD = b'{"id": 1, "name": "Ann", "address": {"state": "MO"}}'
HOSTILE = [
    (b'{"id": 1, "name": "Ann"}', None),
    (b"\xef\xbb\xbf" + b'{"id": 2}', None),  # a byte-order mark on a line of its own
    (b'  \xef\xbb\xbf {"id": 3}  ', None),
    (b'{"id": 4}\r', None),  # a Windows line end
    (b"[1, 2, 3]", "not_an_object"),
    (b'"text"', "not_an_object"),
    (b'{"id": "abc"}', "no_key"),
    (b'{"id": "12"}', "no_key"),
    (b'{"id": 1.5}', "no_key"),
    (b'{"id": true}', "no_key"),
    (b'{"id": 99999999999999999999}', "no_key"),
    (b'{"name": "no id"}', "no_key"),
    (b'{"id": 5, "name": "trunc', "malformed_json"),
    (b"{bad", "malformed_json"),
    (b'{"id": 6, "name": "\xff\xfe"}', "malformed_json"),  # not UTF-8
    (b'{"id": -7}', None),
]


def _write(path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


def _load(tmp_path, lines: list[bytes], **options):
    path = tmp_path / "docs.jsonl"
    _write(path, lines)
    duck = duckdb.connect()
    skips = jsonlines.Skips()
    count = jsonlines.load(duck, "docs", {"crm/docs.jsonl": path}, "id", skips, **options)
    return duck, skips, count


def test_each_kind_of_bad_line_is_skipped_with_its_reason_and_line_number(tmp_path):
    lines = [line for line, _ in HOSTILE]
    duck, skips, count = _load(tmp_path, lines, keep_doc=True)
    expected = {}
    for number, (_, reason) in enumerate(HOSTILE, start=1):
        if reason:
            expected.setdefault(reason, []).append(number)
    found = skips.files["crm/docs.jsonl"]
    assert {reason: found.lines[reason] for reason in found.counts} == expected
    assert count == len(HOSTILE) - sum(map(len, expected.values()))
    read = duck.execute("SELECT line, id, doc FROM docs ORDER BY line").fetchall()
    assert [(line, key) for line, key, _ in read] == [(1, 1), (2, 2), (3, 3), (4, 4), (16, -7)]
    assert all(orjson.loads(doc) for _, _, doc in read)  # the text kept is the document, mark removed


def test_blank_lines_are_passed_over_and_line_numbers_stay_right(tmp_path):
    duck, skips, count = _load(tmp_path, [GOOD, b"", b"   ", b"{oops", b'{"id": 2}'])
    assert count == 2 and skips.files["crm/docs.jsonl"].lines == {"malformed_json": [4]}
    assert duck.execute("SELECT line FROM docs ORDER BY line").fetchall() == [(1,), (5,)]


def test_the_first_line_of_a_repeated_key_wins_and_the_others_are_named(tmp_path):
    duck, skips, count = _load(
        tmp_path,
        [b'{"id": 1, "v": "first"}', b'{"id": 2}', b'{"id": 1, "v": "second"}'],
        unique=True,
        fields={"v": "VARCHAR"},
    )
    assert count == 2 and skips.files["crm/docs.jsonl"].lines == {"duplicate_key": [3]}
    assert duck.execute("SELECT v FROM docs WHERE id = 1").fetchall() == [("first",)]
    assert (
        "already read on an earlier line"
        in skips.as_dict()["crm/docs.jsonl"]["reasons"]["duplicate_key"]["text"]
    )


def test_fields_of_another_type_read_as_their_text_or_null(tmp_path):
    duck, _, _ = _load(
        tmp_path,
        [b'{"id": 1, "name": 5, "address": "nowhere", "tags": "x"}', GOOD],
        fields={"name": "VARCHAR", "address": {"state": "VARCHAR"}, "tags": ["VARCHAR"]},
    )
    rows = duck.execute("SELECT id, name, address.state, tags FROM docs ORDER BY id").fetchall()
    assert rows == [(1, "5", None, None), (1, "Ann", "MO", None)]


def test_a_line_longer_than_a_chunk_and_a_file_without_a_final_line_end(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonlines, "CHUNK_BYTES", 64)
    long = b'{"id": 1, "text": "' + b"x" * 300 + b'"}'
    path = tmp_path / "docs.jsonl"
    path.write_bytes(long + b"\n" + b'{"id": 2}\n{"id": 3}')
    duck, skips = duckdb.connect(), jsonlines.Skips()
    assert jsonlines.load(duck, "docs", {"docs": path}, "id", skips) == 3
    assert duck.execute("SELECT line, id FROM docs ORDER BY line").fetchall() == [(1, 1), (2, 2), (3, 3)]


def test_counts_cover_every_line_and_the_listed_numbers_stop_at_the_limit(tmp_path):
    lines = [b"{bad"] * (jsonlines.LISTED + 5) + [GOOD]
    _, skips, count = _load(tmp_path, lines)
    found = skips.files["crm/docs.jsonl"]
    assert count == 1 and found.counts["malformed_json"] == jsonlines.LISTED + 5
    assert found.lines["malformed_json"] == list(range(1, jsonlines.LISTED + 1))


@pytest.mark.parametrize(("line", "reason"), HOSTILE)
def test_the_replays_line_cleaning_reads_lines_as_the_reader_does(line, reason):
    """The replay sends file lines as messages through ``clean``; they parse exactly when the reader keeps
    them (or fail for the same lines)."""
    try:
        document = orjson.loads(jsonlines.clean(line))
    except orjson.JSONDecodeError:
        document = None
    keeps = type(document) is dict and type(document.get("id")) is int and -(2**63) <= document["id"] < 2**63
    assert keeps == (reason is None)


def test_a_kept_document_is_its_line_without_the_line_end_and_every_byte_is_counted_read(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b'{"id": 1}\n\n{"id": 2}\r\n {"id": 3} \n{"id": 4}')
    duck, skips = duckdb.connect(), jsonlines.Skips()
    assert jsonlines.load(duck, "docs", {"docs": path}, "id", skips, keep_doc=True) == 4
    docs = duck.execute("SELECT line, doc FROM docs ORDER BY line").fetchall()
    assert docs == [(1, '{"id": 1}'), (3, '{"id": 2}'), (4, '{"id": 3}'), (5, '{"id": 4}')]
    read = skips.files["docs"]
    assert (read.lines_read, read.bytes_read) == (5, path.stat().st_size)
