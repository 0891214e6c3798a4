"""Benchmark search-as-you-type in the customer directory against a naive full scan.

    python -m bench.directory --json [--customers 1000000] [--data-dir DIR] [--queries 600]
                                     [--baseline-queries N] [--reuse-build]

Builds (or reuses) a generated data set of that size (default folder ``/tmp/c360-bench-<N>``), opens a
``connectors.directory.Directory`` on it (``startup_s``: the directory built anew — sources read, joined and
indexed — unless ``--reuse-build``), attaches synthetic
churn scores so the churn-risk order can be measured too, and times ``Directory.search`` over a mix of what a
representative types: the first 1, 2 and 3 letters of a first name, partial first and last names, a full
name being typed, phone and email fragments, and strings that match nobody, each under a rotating sort order
(name, phone, email, first visit, tenure, churn risk; ascending and descending). The latency of a call is
wall time around it: SQL, count and the page's DataFrame.

The baseline is the naive query over the same rows, measured in the same run: DuckDB ``ILIKE '%text%'`` on
name, email and phone (with ``%``, ``_`` and ``\\`` escaped so it is literal too), ORDER BY the sort column,
LIMIT one page, with ``count(*) OVER ()`` for the total. At 10M it takes 2–3 s a query: ``--baseline-queries``
runs it on the first N timed queries of the mix only (every one by default).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import string
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from bench import command
from connectors.config import Settings
from connectors.directory import CAP, Directory, fold, sql
from connectors.layout import Layout
from connectors.sample import generate

PAGE_SIZE = 25
WARMUP = 20
SORT_ROTATION = [
    (sort, descending)
    for sort in ("name", "phone", "email", "first_visit", "tenure", "churn_risk")
    for descending in (False, True)
]
BASELINE_ORDER = {
    "name": "name",
    "phone": "phone",
    "email": "email",
    "first_visit": "first_visit",
    "tenure": "first_visit",
    "churn_risk": "churn_risk",
}


def baseline_engine(layout: Layout) -> duckdb.DuckDBPyConnection:
    """The naive engine, holding the rows both search: read once, outside any timing."""
    profiles = sql.literal(str(layout.profiles))
    engine = duckdb.connect()
    engine.execute(
        f"""
        CREATE TABLE customers AS
        SELECT CAST(json->>'$.id' AS BIGINT) AS id, json->>'$.name' AS name, json->>'$.first_name' AS first_name,
               json->>'$.last_name' AS last_name, json->>'$.email' AS email, json->>'$.phone_number' AS phone,
               TRY_CAST(json->>'$.first_visit' AS DATE) AS first_visit
        FROM read_json_objects({profiles}, format = 'newline_delimited', ignore_errors = true)
        WHERE json_type(json, '$.id') IN ('UBIGINT', 'BIGINT')
        """
    )
    return engine


def typed_queries(engine: duckdb.DuckDBPyConnection, count: int, seed: int) -> list[tuple[str, str]]:
    """(kind, text) pairs: what a representative types, from randomly chosen customers."""
    rng = np.random.default_rng(seed)
    picks = engine.execute(
        f"""SELECT name, first_name, last_name, email, phone
        FROM customers USING SAMPLE reservoir({int(count)} ROWS) REPEATABLE ({int(seed)})"""
    ).df()
    picks = picks.iloc[rng.permutation(len(picks))].fillna("")
    letters = string.ascii_lowercase
    kinds = ["1-3 letters", "first name", "last name", "full name", "phone", "email", "no match"]
    mix = []
    for number, row in enumerate(picks.itertuples(index=False)):
        kind = kinds[number % len(kinds)]
        first, last = fold(row.first_name or row.name or "x"), fold(row.last_name or row.name or "x")
        phone, email = row.phone or "555-555-5555", row.email or "nobody@example.com"
        if kind == "1-3 letters":
            text = first[: 1 + number // len(kinds) % 3]
        elif kind == "first name":
            text = first[: rng.integers(4, 7)]
        elif kind == "last name":
            start = rng.integers(0, max(1, len(last) - 3))
            text = last[start : start + rng.integers(4, 7)]
        elif kind == "full name":
            text = f"{first} {last[: rng.integers(1, 4)]}"
        elif kind == "phone":
            digits = phone.replace("-", "")
            start = rng.integers(0, len(digits) - 4)
            text = digits[start : start + 4] if number % 2 else phone[: rng.integers(3, 6)]
        elif kind == "email":
            local = email.split("@")[0]
            start = rng.integers(0, max(1, len(local) - 4))
            text = local[start : start + rng.integers(4, 8)]
        else:
            text = (
                "".join(rng.choice(list(letters), size=2)) + "qx" + "".join(rng.choice(list(letters), size=2))
            )
        mix.append((kind, text))
    return mix


def synthetic_scores(ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Churn risk and persona for every customer, random: only the sort order's speed is measured."""
    personas = rng.integers(0, 6, size=len(ids))
    return pd.DataFrame(
        {
            "customer_id": ids,
            "churn_risk": rng.random(len(ids)),
            "persona": personas,
            "persona_name": [f"persona {p}" for p in personas],
        }
    )


def baseline_statement(text: str, sort: str, descending: bool) -> tuple[str, list]:
    """The naive search: a literal ILIKE over every row, sorted, one page, with the total."""
    order = f"{BASELINE_ORDER[sort]}{' DESC' if descending != (sort == 'tenure') else ''} NULLS LAST, id"
    where, params = "", []
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where = "WHERE name ILIKE ? ESCAPE '\\' OR email ILIKE ? ESCAPE '\\' OR phone ILIKE ? ESCAPE '\\'"
        params = [pattern] * 3
    statement = f"""
        SELECT id, name, phone, email, first_visit, count(*) OVER () AS total
        FROM customers {where}
        ORDER BY {order}
        LIMIT {PAGE_SIZE}"""
    return statement, params


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def run(args: argparse.Namespace) -> dict:
    data_dir = args.data_dir or Path(f"/tmp/c360-bench-{args.customers}")
    layout = Layout(data_dir)
    if not layout.exists():
        generate(data_dir, args.customers, seed=args.seed, progress=not args.json)
    load_before = os.getloadavg()
    baseline = baseline_engine(layout)
    ids = baseline.execute("SELECT id FROM customers").fetchnumpy()["id"]
    scores = synthetic_scores(ids, np.random.default_rng(args.seed))
    baseline.register("scores", scores[["customer_id", "churn_risk"]])
    baseline.execute(
        "CREATE OR REPLACE TABLE customers AS "
        "SELECT c.*, s.churn_risk FROM customers AS c JOIN scores AS s ON s.customer_id = c.id"
    )
    baseline.unregister("scores")
    mix = typed_queries(baseline, args.queries + WARMUP, args.seed)
    if args.baseline_queries is None:
        args.baseline_queries = args.queries

    settings = Settings(data_dir=data_dir)
    if not args.reuse_build:
        shutil.rmtree(settings.index_folder, ignore_errors=True)
    started = time.perf_counter()
    directory = Directory(settings)
    startup_s = time.perf_counter() - started
    started = time.perf_counter()
    directory.attach_scores(scores)
    attach_s = time.perf_counter() - started
    del scores, ids

    plan = [(kind, text, *SORT_ROTATION[n % len(SORT_ROTATION)]) for n, (kind, text) in enumerate(mix)]
    ours, naive, by_kind, exact = [], [], {}, 0
    try:
        # Each engine runs the whole mix on its own, so neither runs while the other's threads wind down.
        for number, (kind, text, sort, descending) in enumerate(plan):
            started = time.perf_counter()
            result = directory.search(text, sort=sort, descending=descending, page_size=PAGE_SIZE)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if number >= WARMUP:
                ours.append(elapsed_ms)
                by_kind.setdefault(kind, []).append(elapsed_ms)
                exact += result.exact
        for number, (_kind, text, sort, descending) in enumerate(plan[: WARMUP + args.baseline_queries]):
            statement, params = baseline_statement(text, sort, descending)
            started = time.perf_counter()
            baseline.execute(statement, params).fetchall()
            if number >= WARMUP:
                naive.append((time.perf_counter() - started) * 1000)
        health = directory.health()
    finally:
        directory.close()
    p95, baseline_p95 = percentile(ours, 95), percentile(naive, 95)
    return {
        "customers": health["customers"],
        "queries": len(ours),
        "p50_ms": percentile(ours, 50),
        "p95_ms": p95,
        "p99_ms": percentile(ours, 99),
        "max_ms": round(max(ours), 2),
        "baseline_p50_ms": percentile(naive, 50),
        "baseline_p95_ms": baseline_p95,
        "baseline_queries": len(naive),
        "speedup_p95": round(baseline_p95 / p95, 1),
        "startup_s": round(startup_s, 1),
        "built": not args.reuse_build,
        "attach_scores_s": round(attach_s, 1),
        "by_kind": {
            kind: {"n": len(v), "p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95)}
            for kind, v in by_kind.items()
        },
        "exact_counts": f"{exact} of {len(ours)} (counts stop at {CAP:,}: '{CAP:,}+')",
        "warmup_queries": WARMUP,
        "page_size": PAGE_SIZE,
        "cpu_count": os.cpu_count(),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "sqlite": sqlite3.sqlite_version,
        "duckdb": duckdb.__version__,
        "data_dir": str(data_dir),
    }


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=1_000_000, help="size of the generated data set")
    parser.add_argument("--data-dir", type=Path, help="use (or generate) the data set here instead of /tmp")
    parser.add_argument("--queries", type=int, default=600, help="timed searches (after a warm-up)")
    parser.add_argument(
        "--baseline-queries", type=int, help="timed naive queries: the mix's first N (default: all of them)"
    )
    parser.add_argument("--seed", type=int, default=360, help="seed of the data set and the query mix")
    parser.add_argument(
        "--reuse-build",
        action="store_true",
        help="search the directory's current build instead of building it anew (startup_s is then its opening)",
    )


def main(argv: list[str] | None = None) -> int:
    return command("directory", __doc__, _options, run, argv)


if __name__ == "__main__":
    sys.exit(main())
