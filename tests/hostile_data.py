"""Hostile variants of the generated sources: every bad line, mark and injection the careful operator and
the hostile user of issue 18 tried, written into a copy of the sample with what a reader must make of them.

Profiles keep their ids in line order (line N is customer N), so what each planted line costs is known here
and not computed by the code under test.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from connectors.layout import Layout

BOM = "\ufeff".encode()
# Scripts that would leave a mark on the page if they ever ran (the browser tests look for it).
PWNED = "__c360_pwned"
SCRIPT_NAME = f"<script>window.{PWNED}='name'</script>"
IMG_NAME = f"<img src=x onerror=\"window.{PWNED}='img'\">"
SCRIPT_COMMENT = f"<script>window.{PWNED}='comment'</script> great bank"
SCRIPT_URLS = (
    f"javascript:window.{PWNED}='url'",
    f"https://www.c360bank.example/products/auto-loan/<img src=x onerror=window.{PWNED}='url'>",
)
KIOSK_QUERY = f"?kiosk=1&rotate=<script>window.{PWNED}='rotate'</script>&theme=<b>dark"
LONG_NAME = "W" * 500  # one unbroken word: it must wrap inside the profile card

BOM_LINES = (1, 14)  # a byte-order mark at the start of these profile lines: they are read all the same
TRUNCATED = 22  # this profile line is cut short: that customer is lost
SCRIPT_ID, IMG_ID, LONG_ID = 30, 31, 40
DUPLICATED = 5  # a later line repeats this id with another name: the first line wins
DUPLICATE_NAME = "Dora Duplicate"


@dataclass
class HostileData:
    """A data folder with hostile sources, and what the readers must make of it."""

    layout: Layout
    customers: int  # the good customers: every one must be found
    lost: set[int]  # customers whose only line is unreadable
    skipped: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # file -> reason -> lines
    names: dict[int, str] = field(default_factory=dict)  # planted names by customer id

    @property
    def good_ids(self) -> set[int]:
        return set(range(1, self.customers + len(self.lost) + 1)) - self.lost

    @property
    def skipped_total(self) -> int:
        return sum(len(lines) for reasons in self.skipped.values() for lines in reasons.values())


def write_hostile(sample: Layout, folder: Path) -> HostileData:
    """Copy ``sample`` (without builds or models) into ``folder`` and plant every hostile case."""
    shutil.copytree(sample.root, folder, ignore=shutil.ignore_patterns("index", "models"))
    layout = Layout(folder)
    data = HostileData(layout, customers=0, lost={TRUNCATED})
    data.skipped[layout.relative(layout.profiles)] = _profiles(layout.profiles, data)
    survey = max(layout.survey_files(), key=lambda path: path.stat().st_size)
    data.skipped[layout.relative(survey)] = _surveys(survey)
    data.skipped[layout.relative(layout.clicks)] = _clicks(layout.clicks, sample)
    return data


def _profiles(path: Path, data: HostileData) -> dict[str, list[int]]:
    lines = path.read_bytes().splitlines()
    count = len(lines)
    for number in BOM_LINES:
        lines[number - 1] = BOM + lines[number - 1]
    lines[TRUNCATED - 1] = lines[TRUNCATED - 1][:40]
    for customer, name in ((SCRIPT_ID, SCRIPT_NAME), (IMG_ID, IMG_NAME), (LONG_ID, LONG_NAME)):
        document = orjson.loads(lines[customer - 1])
        document["name"] = name
        lines[customer - 1] = orjson.dumps(document)
        data.names[customer] = name
    lines[49] += b"\r"  # a Windows line end
    duplicate = orjson.loads(lines[DUPLICATED - 1]) | {"name": DUPLICATE_NAME}
    anonymous = orjson.loads(lines[5])
    del anonymous["id"]
    lines += [
        b"[1,2,3]",  # count + 1: not an object
        b'{"id":"abc"}',  # count + 2: an id that is no number
        orjson.dumps(duplicate),  # count + 3
        orjson.dumps(anonymous),  # count + 4: no id at all
        b'{"id": 1.5, "name": "Half"}',  # count + 5
        b"",  # count + 6: blank lines are passed over, not counted
        b'{"id": 9999, "name": "\xff\xfe"}',  # count + 7: not UTF-8
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    data.customers = count - len(data.lost)
    return {
        "malformed_json": [TRUNCATED, count + 7],
        "not_an_object": [count + 1],
        "no_key": [count + 2, count + 4, count + 5],
        "duplicate_key": [count + 3],
    }


def _surveys(path: Path) -> dict[str, list[int]]:
    lines = path.read_bytes().splitlines()
    answer = orjson.loads(lines[0])
    answer["comment"] = SCRIPT_COMMENT
    lines[0] = orjson.dumps(answer)
    lines[3] = BOM + lines[3]
    lines.insert(2, b'{"response_id": 0, "customer_id": 5, "rating": ')  # line 3
    lines.append(b'"just text"')
    path.write_bytes(b"\n".join(lines) + b"\n")
    return {"malformed_json": [3], "not_an_object": [len(lines)]}


def _clicks(path: Path, sample: Layout) -> dict[str, list[int]]:
    """A broken line and a marked line near the end (the replay reaches them), and the first featured
    customer's latest clicks on pages whose addresses are scripts."""
    lines = path.read_bytes().splitlines()
    featured = sample.read_manifest()["featured_customers"][0]
    web_user = orjson.loads(sample.profiles.read_bytes().splitlines()[featured - 1])["web_user_id"]
    last = orjson.loads(lines[-1])
    hostile = [orjson.dumps(last | {"user_id": web_user, "url": url}) for url in SCRIPT_URLS]
    lines[-10] = BOM + lines[-10]
    broken = len(lines) - 5
    lines.insert(broken - 1, b'{"user_id": 1, "datetime": "2026-')
    lines += hostile
    path.write_bytes(b"\n".join(lines) + b"\n")
    return {"malformed_json": [broken]}
