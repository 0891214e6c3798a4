"""The embedded engine's SQL: fold() in DuckDB folds text exactly as the search box's text is folded."""

from __future__ import annotations

import pyarrow as pa

from connectors.directory import fold, integrate

TEXTS = [
    "Erika Gallardo",
    "JOSÉ Álvarez",
    "Åsa",
    "ǅemal",
    "Straße",
    "İstanbul",
    "",
    "  Ann  ",
    "ｆｕｌｌ",
    "plain",
]


def test_fold_in_sql_is_the_search_boxs_fold_for_ascii_accented_and_missing_text():
    duck = integrate.open_engine()
    rows = [*TEXTS, None] * 3
    duck.register(
        "texts",
        pa.Table.from_batches([pa.record_batch({"text": rows[i : i + 7]}) for i in (0, 7, 14, 21, 28)]),
    )
    found = duck.execute("SELECT text, fold(text) FROM texts").fetchall()
    assert found == [(text, None if text is None else fold(text)) for text in rows]
