"""The sample data generator: a seeded, deterministic data set with every source in its native shape.

    writer.py      generate(): chunks on every core, written to a temporary folder, moved into place
    draws.py       one chunk of customers and all their records
    traits.py      the hidden traits every source is drawn from, and who left the bank
    featured.py    the caller the demo opens with
    clicks.py      website clicks in the original demo's message format
    contacts.py    the contact center's calls and chats, the episodes that lead to them, and their oracle
    offers.py      the offers made in past contacts and their outcomes, in the desk's store
    documents.py   CRM profile documents and survey answers
    pools.py       names, streets and payees drawn once from Faker, and the places
    places.py      real US ZIP codes, drawn where people live
    vocabulary.py  segments, spending amounts, devices and comment phrases
    avatars.py     customer photos

Only tools, tests and benchmarks import it: the server reads what it wrote through connectors/.
"""

from connectors.sample.writer import (
    DEFAULT_AS_OF,
    FORMAT_VERSION,
    MAX_CUSTOMERS,
    SampleError,
    ensure,
    generate,
    main,
)

__all__ = ["DEFAULT_AS_OF", "FORMAT_VERSION", "MAX_CUSTOMERS", "SampleError", "ensure", "generate", "main"]
