"""The directory as the tests compute it from the files, independently of the code under test: a brute-force
scan to compare searches with, and small helpers to change a copy of the sample's sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from connectors.directory import fold
from connectors.layout import Layout

SORTS = ["name", "phone", "email", "first_visit", "tenure"]
FIELDS = {"any": ["name_key", "email_key", "phone_key"], "name": ["name_key"]}
FIELDS |= {"email": ["email_key"], "phone": ["phone_key"]}
SORT_KEY = {"phone": "phone", "email": "email_key", "first_visit": "first_visit", "tenure": "first_visit"}


def scanned(layout: Layout) -> pd.DataFrame:
    """The directory as the test computes it from the file, independently of the code under test."""
    documents = [orjson.loads(line) for line in layout.profiles.read_bytes().splitlines() if line.strip()]
    frame = pd.DataFrame(
        {
            "id": [d["id"] for d in documents],
            "name": [d.get("name") for d in documents],
            "email": [d.get("email") for d in documents],
            "phone": [d.get("phone_number") for d in documents],
            "first_visit": [d.get("first_visit") for d in documents],
            "web_user_id": [d.get("web_user_id") for d in documents],
        }
    )
    frame["name_key"] = frame["name"].map(fold)
    frame["email_key"] = frame["email"].map(lambda e: fold(e) if isinstance(e, str) else None)
    frame["phone_key"] = frame["phone"].map(
        lambda p: p + "|" + p.replace("-", "") if isinstance(p, str) else None
    )
    frame = frame.sort_values(["name_key", "id"]).reset_index(drop=True)
    frame["position"] = np.arange(1, len(frame) + 1)
    return frame


def brute_force(profiles: pd.DataFrame, text: str, field: str, sort: str, descending: bool) -> pd.DataFrame:
    """Brute force: every row whose folded key contains the folded text, in the documented order."""
    needle = fold(text.replace("\x00", "").replace("\x1f", "")).strip()
    rows = profiles
    if needle:
        found = np.zeros(len(profiles), dtype=bool)
        for column in FIELDS[field]:
            found |= profiles[column].fillna("").str.contains(needle, regex=False).to_numpy()
        rows = profiles[found]
    ascending = not descending if sort != "tenure" else descending
    if sort == "name":
        return rows.sort_values("position", ascending=ascending)
    key = SORT_KEY[sort]
    valued = rows[rows[key].notna()].sort_values([key, "position"], ascending=ascending)
    return pd.concat([valued, rows[rows[key].isna()].sort_values("position", ascending=ascending)])


def texts(profiles: pd.DataFrame) -> list[str]:
    """Fixed cases and fragments of real names, emails and phone numbers (deterministic)."""
    rng = np.random.default_rng(3)
    texts = ["", "e", "er", "jos", "JOSÉ", "  maria  ", "@mail", "zzqx", "qx", "6289", "628-", "o'", "ez"]
    for column in ("name", "email", "phone"):
        for value in profiles[column].dropna().sample(6, random_state=7):
            start = int(rng.integers(0, max(1, len(value) - 2)))
            texts.append(value[start : start + int(rng.integers(1, 7))])
    return texts


def copy_data(layout: Layout, folder: Path) -> Layout:
    """A copy of a data folder to change, without its directory builds."""
    shutil.copytree(layout.root, folder, ignore=shutil.ignore_patterns("index"))
    return Layout(folder)


def append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)


def new_profile(customer_id: int, **fields) -> str:
    document = {"id": customer_id, "first_visit": "2020-02-02", "photo": "avatar-001.jpg"} | fields
    document.setdefault("address", {"state": "TX"})
    return orjson.dumps(document).decode()
