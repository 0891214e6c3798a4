"""Where trained models live and how to tell whether they still match the data and the code.

``<data_dir>/models/`` holds one folder per training run (``<time>-<data fingerprint>``) and a ``CURRENT``
file naming the one in use. A run writes its folder completely before ``CURRENT`` moves to it, so a reader
never sees half an artifact, and an interrupted training leaves the previous models in place.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import orjson

from connectors.files import replace_bytes
from connectors.layout import Layout

FORMAT = 5  # 2: closed_on per customer (former customers); 3: the reason model (meta "reason",
# reasons.parquet); 4: the scores also as uncompressed Arrow; 5: the offer outcomes' factors (meta "nba")
CURRENT = "CURRENT"
META = "meta.json"
CUSTOMERS = "customers.parquet"  # every customer's scores and explanations, for analysis and evaluation
SERVED = "customers.arrow"  # the same, uncompressed: servers memory-map it and share its pages
REASONS = "reasons.parquet"  # held-out customers' contacts ranked by the reason model and its baselines
KEEP = 2  # training runs kept: the current one and the one before
CODE_FILES = (
    "models/ltv.py",
    "models/churn.py",
    "models/personas.py",
    "models/sentiment.py",
    "models/nba.py",
    "models/reason.py",
    "models/heatmap.py",
    "models/train.py",
    "connectors/features.py",
    "connectors/catalog.py",
)
ROOT = Path(__file__).resolve().parents[1]


class ModelsMissing(FileNotFoundError):
    """No trained models for a data folder; the message says how to train them."""


def models_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models"


def code_version() -> str:
    """A hash of the code that turns sources into artifacts: change it and the models are stale."""
    digest = hashlib.sha256(str(FORMAT).encode())
    for name in CODE_FILES:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:12]


def current(folder: Path) -> Path | None:
    """The folder of the models in use, or None."""
    pointer = folder / CURRENT
    if not pointer.is_file():
        return None
    run = folder / pointer.read_text().strip()
    complete = all((run / name).is_file() for name in (META, CUSTOMERS, SERVED))
    return run if complete else None


def read_meta(run: Path) -> dict:
    return orjson.loads((run / META).read_bytes())


def is_stale(layout: Layout, folder: Path) -> bool:
    """True when there are no models, or they were trained on other data or by other code."""
    run = current(folder)
    if run is None:
        return True
    meta = read_meta(run)
    return meta.get("fingerprint") != layout.fingerprint() or meta.get("code_version") != code_version()


def publish(folder: Path, run: Path) -> None:
    """Make ``run`` the current models (atomically), then drop runs older than the previous one."""
    replace_bytes(folder / CURRENT, f"{run.name}\n".encode())
    runs = sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name
    )
    for old in runs[:-KEEP]:
        if old != run:
            shutil.rmtree(old, ignore_errors=True)
