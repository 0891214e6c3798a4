"""Write a seeded, deterministic sample data set: every source in its native shape.

    python -m connectors.sample --customers 100000 [--data-dir DIR] [--seed N] [--force]   (or c360-sample)

The folder it writes (``C360_DATA_DIR``) holds

    crm/profiles.jsonl            CRM profiles as JSON documents (a document store's export)
    banking/accounts.parquet      core-banking accounts, open and closed, loadable into MySQL
                                  (python -m connectors.tools.mysql_load)
    banking/transactions.parquet  card transactions, months of history per customer
    surveys/responses-YYYY-MM.json survey answers, newline-delimited JSON, one file a month
    clicks/clickstream.jsonl      website clicks in the original demo's message format
    contact_center/contacts.parquet the contact center's calls and chats, loadable into MySQL
    desk/desk.sqlite              the desk's store, holding a simulated history of offers made in past
                                  contacts and their outcomes (connectors.sample.offers)
    photos/avatar-NNN.jpg         customer photos (binary JPEG)
    truth/customers.parquet       hidden ground truth, for model evaluation only
    truth/contacts.parquet        each contact's reason probabilities as the generator drew them (evaluation only)
    manifest.json                 what was generated, with row counts

Everything is written to a temporary folder beside the target and moved into place at the end, so an
interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import TypeVar

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from connectors import config
from connectors.desk.sqlite import carry_over
from connectors.layout import Layout
from connectors.sample import draws
from connectors.sample.avatars import draw_avatars
from connectors.sample.clicks import write_clicks
from connectors.sample.offers import write_history
from connectors.sample.pools import Pools

# 2: former customers, whose accounts are closed (status, closed_date)
# 3: the contact center's history (contact_center/contacts.parquet, its oracle in truth/contacts.parquet) and
#    the transactions' fee, declined and disputed columns with the unusual charges that lead to contacts
# 4: real US places (addresses of real ZIP codes, weighted by population, coordinates at the ZIP code);
#    clicks come in visits with a time-of-day rhythm
# 5: the desk's store with a simulated history of offers and their outcomes (desk/desk.sqlite)
FORMAT_VERSION = 5
DEFAULT_AS_OF = date(2026, 11, 1)
MAX_CUSTOMERS = 100_000_000
CHUNK_SIZE = 200_000
ROW_GROUP_ROWS = 65_536  # banking Parquet row groups: small enough to skip when looking one customer up
PHOTO_COUNT = 48
FEATURED = 12


class SampleError(Exception):
    """The generator cannot do what was asked; the message says why and what to change."""


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)


class _ParquetSink:
    """Append chunks to one Parquet file in row groups of ``ROW_GROUP_ROWS``.

    Rows are in customer order, so small row groups let a reader looking up one customer skip all but one
    (a 360 record's transactions: 4 ms instead of 17 ms at 100,000 customers, measured with DuckDB).
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.writer, self.rows = path, None, 0

    def write(self, frame: pd.DataFrame) -> None:
        table = _table(frame)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self.rows += len(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _write_surveys(folder: Path, rows: list[dict]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    rows.sort(key=lambda r: (r["submitted"], r["customer_id"]))
    by_month: dict[str, list[bytes]] = {}
    for number, row in enumerate(rows, start=1):
        row = {"response_id": number, **row}
        by_month.setdefault(row["submitted"][:7], []).append(orjson.dumps(row))
    for month, lines in by_month.items():
        (folder / f"responses-{month}.json").write_bytes(b"\n".join(lines) + b"\n")
    return len(rows)


def generate(
    data_dir: Path,
    customers: int,
    seed: int = 360,
    as_of: date = DEFAULT_AS_OF,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Generate a data set into ``data_dir`` and return its manifest."""
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise SampleError(f"--customers must be between 1 and {MAX_CUSTOMERS:,}, got {customers:,}")
    data_dir = Path(data_dir).absolute()
    target = Layout(data_dir)
    if data_dir.exists() and any(data_dir.iterdir()) and not force:
        what = "a data set" if target.exists() else "files"
        raise SampleError(f"{data_dir} already holds {what}; pass --force to replace it")
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.tmp-", dir=data_dir.parent))
    except OSError as error:
        raise SampleError(
            f"cannot write in {data_dir.parent}: {error.strerror}; choose another folder with --data-dir "
            "or C360_DATA_DIR"
        ) from None
    try:
        manifest = _generate_into(Layout(work), customers, seed, as_of, progress)
        carried = carry_over(target.desk, Layout(work).desk)
        if any(carried.values()):
            log.info("kept what representatives wrote in %s: %s", target.desk, carried)
        if data_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.old-", dir=data_dir.parent))
            data_dir.rename(old / "data")
            work.rename(data_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(data_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def ensure(data_dir: Path, customers: int, seed: int = 360) -> Layout:
    """The data set in ``data_dir`` if it is of the current format, else a new one of ``customers`` there
    (notebooks and benchmarks that need some data quickly)."""
    layout = Layout(Path(data_dir))
    if not layout.exists() or layout.read_manifest().get("format") != FORMAT_VERSION:
        generate(layout.root, customers, seed=seed, force=True, progress=False)
    return layout


log = logging.getLogger(__name__)
T = TypeVar("T")
Job = tuple[int, int, int, int, date]  # seed, chunk index, first customer id, customers, as_of
_worker_pools: Pools | None = None


def _init_worker(seed: int) -> None:
    global _worker_pools
    _worker_pools = Pools.build(seed)


def _make_chunk(seed: int, index: int, first_id: int, count: int, as_of: date) -> draws.Chunk:
    assert _worker_pools is not None
    return draws.generate_chunk(_worker_pools, seed, index, first_id, count, as_of, PHOTO_COUNT)


def _jobs(customers: int, seed: int, as_of: date) -> list[Job]:
    return [
        (seed, index, first_id, min(CHUNK_SIZE, customers + 1 - first_id), as_of)
        for index, first_id in enumerate(range(1, customers + 1, CHUNK_SIZE))
    ]


def _workers(seed: int, workers: int) -> ProcessPoolExecutor | None:
    """The worker processes (forked while the main process is still small), or None to work in this one:
    one core, or a single chunk."""
    if workers <= 1:
        _init_worker(seed)
        return None
    return ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(seed,))


def _chunks(
    pool: ProcessPoolExecutor | None, jobs: list[Job], in_flight: int
) -> Iterator[tuple[int, draws.Chunk]]:
    """Chunks in id order, computed on every core. Two a worker are in flight, so a worker never waits
    for the main process to write the chunk before it (measured at 1M: 6 s of idle workers with one), and
    memory stays bounded whatever the size."""
    if pool is None:
        for job in jobs:
            yield job[3], _make_chunk(*job)
        return
    pending: deque = deque()
    for job in jobs:
        pending.append((job[3], pool.submit(_make_chunk, *job)))
        if len(pending) > in_flight:
            count, future = pending.popleft()
            yield count, future.result()
    while pending:
        count, future = pending.popleft()
        yield count, future.result()


def _beside(pool: ProcessPoolExecutor | None, function: Callable[..., T], *args: object) -> Future[T]:
    """``function(*args)`` in a worker while the main process goes on, or here and now without workers."""
    if pool is not None:
        return pool.submit(function, *args)
    future: Future[T] = Future()
    future.set_result(function(*args))
    return future


def _generate_into(out: Layout, customers: int, seed: int, as_of: date, progress: bool) -> dict:
    out.profiles.parent.mkdir(parents=True)
    accounts, transactions, contacts, truth, contact_truth = (
        _ParquetSink(out.accounts),
        _ParquetSink(out.transactions),
        _ParquetSink(out.contacts),
        _ParquetSink(out.truth),
        _ParquetSink(out.contact_truth),
    )
    surveys: list[dict] = []
    clicks: list[pd.DataFrame] = []
    former: list[np.ndarray] = []
    offers: list[pd.DataFrame] = []
    bar = tqdm(total=customers, unit=" customers", desc="Generating", disable=not progress, unit_scale=True)
    jobs = _jobs(customers, seed, as_of)
    workers = min(os.cpu_count() or 1, len(jobs), 4)
    pool = _workers(seed, workers)
    try:
        with out.profiles.open("wb") as profiles:
            for count, chunk in _chunks(pool, jobs, 2 * workers):
                profiles.write(chunk.profiles)
                accounts.write(chunk.accounts)
                first_tx = transactions.rows + 1
                chunk.transactions.insert(
                    0, "transaction_id", np.arange(first_tx, first_tx + len(chunk.transactions))
                )
                transactions.write(chunk.transactions)
                contact_ids = np.arange(contacts.rows + 1, contacts.rows + 1 + len(chunk.contacts))
                chunk.contacts.insert(0, "contact_id", contact_ids)
                chunk.contact_truth.insert(0, "contact_id", contact_ids)
                contacts.write(chunk.contacts)
                offers.append(chunk.offers.assign(contact=contact_ids[chunk.offers["contact"].to_numpy()]))
                contact_truth.write(chunk.contact_truth)
                truth.write(chunk.truth)
                surveys.extend(chunk.surveys)
                clicks.append(chunk.clicks)
                former.append(chunk.truth.loc[chunk.truth["former"], "customer_id"].to_numpy())
                bar.update(count)
        bar.set_description("Writing clicks, surveys and the offer history")
        # The offer history (10 s at 1M) is written by a worker while this process writes the clicks.
        history = _beside(
            pool,
            write_history,
            out.desk,
            pd.concat(offers, ignore_index=True),
            np.datetime64(as_of.isoformat(), "s"),
        )
        for sink in (accounts, transactions, contacts, truth, contact_truth):
            sink.close()
        survey_rows = _write_surveys(out.surveys, surveys)
        click_rows = write_clicks(out.clicks, clicks)
        offer_rows = history.result()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    out.photos.mkdir()
    for number, jpeg in enumerate(draw_avatars(seed, PHOTO_COUNT)):
        (out.photos / f"avatar-{number:03d}.jpg").write_bytes(jpeg)
    bar.close()
    web_users = set(pd.concat(clicks)["user_id"].unique()) if clicks else set()
    manifest = {
        "format": FORMAT_VERSION,
        "seed": seed,
        "customers": customers,
        "as_of": as_of.isoformat(),
        "rows": {
            "profiles": customers,
            "accounts": accounts.rows,
            "transactions": transactions.rows,
            "surveys": survey_rows,
            "clicks": click_rows,
            "contacts": contacts.rows,
            "offers": offer_rows,
            "photos": PHOTO_COUNT,
        },
        "featured_customers": _featured(out.profiles, web_users, set(np.concatenate(former).tolist())),
    }
    out.manifest.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return manifest


def _featured(profiles: Path, web_users: set[int], former: set[int]) -> list[int]:
    """The first customers who browse the website and are still customers: the kiosk and the demo start
    with them."""
    featured = []
    with profiles.open("rb") as lines:
        for line in lines:
            doc = orjson.loads(line)
            if doc.get("web_user_id") in web_users and doc["id"] not in former:
                featured.append(doc["id"])
                if len(featured) == FEATURED:
                    break
    return featured


def _customer_count(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of customers, got {text!r}") from None
    if not 1 <= value <= MAX_CUSTOMERS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_CUSTOMERS:,} customers, got {value:,}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate the sample data set."""
    parser = argparse.ArgumentParser(prog="python -m connectors.sample", description=__doc__.split("\n")[0])
    config.add_arguments(parser, only=["data_dir", "seed"])
    parser.add_argument(
        "--customers", type=_customer_count, default=None, help="how many customers [C360_CUSTOMERS]"
    )
    parser.add_argument("--as-of", type=date.fromisoformat, default=DEFAULT_AS_OF, help="the data's 'today'")
    parser.add_argument("--force", action="store_true", help="replace an existing data set")
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when a data set of the current format already exists (an older one is replaced)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    settings = config.load_or_exit(parser, args)
    customers = args.customers or settings.customers
    existing = Layout(settings.data_dir)
    replace_older = False
    if args.if_missing and existing.exists():
        found = existing.read_manifest().get("format")
        if found == FORMAT_VERSION:
            print(f"Sample data already in {settings.data_dir}; not regenerated (use --force to replace it).")
            return 0
        print(
            f"Sample data in {settings.data_dir} is of format {found}; regenerating it as format {FORMAT_VERSION}."
        )
        replace_older = True
    try:
        manifest = generate(
            settings.data_dir,
            customers,
            settings.seed,
            args.as_of,
            args.force or replace_older,
            not args.quiet,
        )
    except SampleError as error:
        parser.exit(2, f"error: {error}\n")
    rows = ", ".join(f"{v:,} {k}" for k, v in manifest["rows"].items())
    print(f"Wrote {rows} to {settings.data_dir}")
    return 0
