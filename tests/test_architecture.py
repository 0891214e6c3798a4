"""The folder tree shows the data's way: what each part may import, checked on the code itself.

Sources are read in connectors/ (the generator and the tools beside them are never imported by the rest),
learning is in models/ (no Panel), presentation is in dashboard/ (no database driver).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_PACKAGES = ("connectors.sample", "connectors.tools")
DATABASE_DRIVERS = ("duckdb", "sqlite3", "pymysql", "confluent_kafka", "redis")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, by its absolute name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _files(folder: str, *, excluding: tuple[str, ...] = ()) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not any(path.is_relative_to(ROOT / part) for part in excluding)
    ]


def _offenders(files: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in files:
        bad = sorted(n for n in _imports(path) if any(n == f or n.startswith(f"{f}.") for f in forbidden))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_nothing_outside_the_generator_and_the_tools_imports_them():
    serving = (
        _files("connectors", excluding=("connectors/sample", "connectors/tools"))
        + _files("models")
        + _files("dashboard")
    )
    assert _offenders(serving, OFFLINE_PACKAGES) == {}


def test_models_never_import_panel_and_presentation_never_opens_a_database():
    assert _offenders(_files("models"), ("panel", "bokeh")) == {}
    assert _offenders(_files("dashboard"), DATABASE_DRIVERS) == {}


WHO_IMPORTS = """
import json, sys

loaded_by = {}


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "tqdm" and name not in loaded_by:
            frame = sys._getframe(1)
            while frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen")):
                frame = frame.f_back
            loaded_by[name] = frame.f_globals.get("__name__")
        return None


sys.meta_path.insert(0, Watch())
import dashboard.app, dashboard.services, models.insights  # noqa: E401

print(json.dumps({"modules": sorted(sys.modules), "loaded_by": loaded_by}))
"""


@pytest.fixture(scope="module")
def server_imports() -> dict:
    """What a server process has imported once the app and its services are importable."""
    done = subprocess.run(
        [sys.executable, "-c", WHO_IMPORTS], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_the_serving_path_imports_neither_the_generator_nor_the_tools_nor_faker(server_imports):
    loaded = server_imports["modules"]
    prefixes = (*OFFLINE_PACKAGES, "faker")
    assert [m for m in loaded if m in prefixes or m.startswith(tuple(f"{p}." for p in prefixes))] == []


def test_tqdm_reaches_the_server_only_through_panel(server_imports):
    """Panel's progress indicator imports tqdm whenever it is installed (panel/widgets/indicators.py); none of
    our server's modules does."""
    importer = server_imports["loaded_by"].get("tqdm")
    assert importer in (None, "panel.widgets.indicators")
