"""A simulated history of offers: in some of the contact center's past calls and chats the representative
presented one to three products, and the customer accepted, declined or did not discuss each.

The offers of a contact are drawn at random among the products the customer does not hold, as in the random
arm of an experiment: that makes the history a fair test of any ranking (``python -m models.evaluate``
compares the acceptance of the offers a ranking would have made first). Whether a customer accepts depends on
their hidden traits, so a ranking that knows the customer does better than one that knows only their persona:
the product they are about to buy (``truth/customers.parquet``'s ``next_product``) is accepted far more
often, as is a product common in their true segment; a customer with an affinity for products says yes more
often and a dissatisfied one less. Each product also has an appeal of its own on the phone that no source
shows (a mortgage is seldom agreed to in a call, an insurance often): only the recorded outcomes reveal it.
The later an offer comes in the call, the likelier it was not discussed at all.

The history is written into the desk's store (``desk/desk.sqlite``, the tables of
:mod:`connectors.desk.schema`) in the shape representatives' records have, with source ``simulated``:
every offer shown (at the start of the contact) and its outcome (when the contact ended, before the data's
today). A contact's key is ``sim-<contact_id>``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from connectors.catalog import OFFER_RESPONSES, PRODUCTS
from connectors.desk import schema
from connectors.sample.traits import ADOPTION, P, People, sigmoid

OFFERED_SHARE = 0.3  # of the contacts a representative could pitch in
NOT_PITCHED = ("card_lost_stolen", "disputed_transaction", "fraud_alert", "close_account")
MAX_OFFERS = 3
MODEL_VERSION = "simulated"
KEY_PREFIX = "sim-"
# Log-odds of accepting: an appeal per product on the phone (in PRODUCTS order), then the pull of the hidden
# traits. The appeal is what only outcomes reveal.
APPEAL = np.array([-1.4, -1.9, -2.6, -3.4, -2.6, -2.9, -2.2, -2.0, -1.6, -1.5, -1.7, -2.3])
NEXT_PRODUCT_PULL = 2.6
SEGMENT_PULL = 2.5  # times the product's adoption in the customer's true segment
AFFINITY_PULL = 0.8  # times the log of the customer's affinity for products
DISSATISFACTION_PULL = -0.35
NOT_DISCUSSED = (0.06, 0.16, 0.3)  # by the offer's place in the call
SHOWN_AFTER_S = 5  # an offer shows this long after the contact started, the next one as long after
RESPONSES = tuple(OFFER_RESPONSES)
OUTCOME_COLUMNS = (
    "contact_key",
    "product",
    "customer_id",
    "offer_rank",
    "model_version",
    "response",
    "recorded_at",
    "source",
)
SHOWN_COLUMNS = (
    "customer_id",
    "product",
    "offer_rank",
    "model_version",
    "shown_at",
    "agent",
    "session",
    "source",
)


def acceptance(people: People, owner: np.ndarray, product: np.ndarray) -> np.ndarray:
    """The probability that the customer ``owner`` (an index into ``people``) accepts ``product`` once it is
    discussed, from their hidden traits."""
    logit = (
        APPEAL[product]
        + NEXT_PRODUCT_PULL * (people.interest[owner] == product)
        + SEGMENT_PULL * ADOPTION[people.segment[owner], product]
        + AFFINITY_PULL * np.log(people.affinity[owner])
        + DISSATISFACTION_PULL * people.dissatisfaction[owner]
    )
    return sigmoid(logit)


def draw_offers(seed: np.random.SeedSequence, people: People, contacts: pd.DataFrame) -> pd.DataFrame:
    """The offers presented in a chunk's contacts, one row per offer: ``contact`` (the contact's row in
    ``contacts``), customer_id, product (index), offer_rank, response (index into OFFER_RESPONSES), shown_at,
    recorded_at and agent. ``contacts`` is the chunk's contact frame (customer_id, started_at, reason,
    duration_s, agent); its own stream of draws leaves every other draw of the chunk as it was."""
    rng = np.random.default_rng(seed)
    owner = (contacts["customer_id"].to_numpy() - people.ids[0]).astype(np.int64)
    pitched = ~contacts["reason"].isin(NOT_PITCHED).to_numpy()
    candidates = P - people.holds[owner].sum(axis=1)
    chosen = np.flatnonzero((rng.random(len(owner)) < OFFERED_SHARE) & pitched & (candidates > 0))
    count = np.minimum(rng.integers(1, MAX_OFFERS + 1, len(chosen)), candidates[chosen])
    keys = np.where(people.holds[owner[chosen]], np.inf, rng.random((len(chosen), P)))
    order = np.argsort(keys, axis=1, kind="stable")  # a random order of the products not held
    contact = np.repeat(chosen, count)
    rank = np.arange(len(contact)) - np.repeat(np.cumsum(count) - count, count)
    product = order[np.repeat(np.arange(len(chosen)), count), rank]
    who = owner[contact]
    silent = rng.random(len(contact)) < np.array(NOT_DISCUSSED)[rank]
    accepted = rng.random(len(contact)) < acceptance(people, who, product)
    response = np.where(
        silent,
        RESPONSES.index("not_discussed"),
        np.where(accepted, RESPONSES.index("accepted"), RESPONSES.index("declined")),
    )
    started = contacts["started_at"].to_numpy()[contact]
    ended = started + contacts["duration_s"].to_numpy()[contact].astype("timedelta64[s]")
    return pd.DataFrame(
        {
            "contact": contact,
            "customer_id": people.ids[who],
            "product": product.astype(np.int8),
            "offer_rank": (rank + 1).astype(np.int8),
            "response": response.astype(np.int8),
            "shown_at": started + ((rank + 1) * SHOWN_AFTER_S).astype("timedelta64[s]"),
            "recorded_at": ended,
            "agent": contacts["agent"].to_numpy()[contact],
        }
    )


def _times(values: np.ndarray) -> np.ndarray:
    """Times as the desk's SQLite tables hold them: ISO 8601 text, UTC, to the microsecond."""
    text = np.datetime_as_string(values.astype("datetime64[us]"), unit="us")
    return np.char.replace(text, "T", " ").astype(object)


def write_history(path: Path, offers: pd.DataFrame, end: np.datetime64) -> int:
    """Create the desk's store at ``path`` with the simulated history in it; return the offers written.

    ``offers`` are :func:`draw_offers`' rows with ``contact`` the contact's id as the writer numbered it; an
    outcome is recorded a second before ``end`` (the data's today) at the latest.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = np.char.add(KEY_PREFIX, offers["contact"].to_numpy().astype(str)).astype(object)
    products = np.array(PRODUCTS, dtype=object)[offers["product"].to_numpy()]
    customers = offers["customer_id"].to_numpy().tolist()
    ranks = offers["offer_rank"].to_numpy().tolist()
    n = len(offers)
    version, source = [MODEL_VERSION] * n, [schema.SIMULATED_SOURCE] * n
    recorded = np.minimum(offers["recorded_at"].to_numpy(), end - np.timedelta64(1, "s"))
    outcomes = zip(
        keys,
        products,
        customers,
        ranks,
        version,
        np.array(RESPONSES, dtype=object)[offers["response"].to_numpy()],
        _times(recorded),
        source,
        strict=True,
    )
    shown = zip(
        customers,
        products,
        ranks,
        version,
        _times(offers["shown_at"].to_numpy()),
        offers["agent"].astype(str).to_numpy(),
        keys,
        source,
        strict=True,
    )
    statements = schema.create_statements("sqlite")
    tables = [statement for statement in statements if statement.lstrip().startswith("CREATE TABLE")]
    connection = sqlite3.connect(path)
    try:
        # A new file in the generator's staging folder: no journal while it is filled (the folder is moved
        # into place only once complete) and the indexes made after the rows (10 s instead of 24 s for the
        # 1.4M offers of 1M customers), then the store's own WAL mode, which the file keeps.
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        with connection:
            for statement in tables:
                connection.execute(statement)
            connection.executemany(_insert("desk_offer_outcomes", OUTCOME_COLUMNS), outcomes)
            connection.executemany(_insert("desk_offers_shown", SHOWN_COLUMNS), shown)
            for statement in statements:
                if statement not in tables:
                    connection.execute(statement)
        connection.execute("PRAGMA journal_mode = WAL")
    finally:
        connection.close()
    return n


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
