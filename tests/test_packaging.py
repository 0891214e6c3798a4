"""The project's own files: one dependency list mirrored for conda, the README's settings table, style."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from connectors import config

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"python-confluent-kafka": "confluent-kafka", "python-duckdb": "duckdb", "redis-py": "redis"}
ALLOWED_TOP_LEVEL = {
    "dashboard",
    "models",
    "connectors",
    "assets",
    "tests",
    "environment.yml",
    "README.md",
    "pyproject.toml",
    "Makefile",
    ".ci",
    "bench",
    "examples",
    ".gitignore",
    "requirements.lock",
}


def _requirement(text: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", text.strip()).groups()
    return name.lower(), spec.replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = dict(
        _requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]
    )
    conda_side = {}
    dependencies = (ROOT / "environment.yml").read_text().split("\ndependencies:\n", 1)[1]
    for line in dependencies.splitlines():
        match = re.match(r"^\s+- ([A-Za-z].*)$", line)
        if match and not match.group(1).startswith(("python>", "pip")):
            name, spec = _requirement(match.group(1))
            conda_side[CONDA_NAMES.get(name, name)] = spec
    assert conda_side == pip_side


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    for env, flag, _default, _meaning in config.table():
        assert re.search(rf"\|\s*`{env}`\s*\|\s*`{flag}`\s*\|", readme), f"{env} missing from README table"


def test_top_level_holds_only_the_design_cards_folders():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    top = {line.split("/")[0] for line in tracked.splitlines() if line}
    assert top <= ALLOWED_TOP_LEVEL


@pytest.mark.skipif(
    shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="ruff not installed"
)
def test_code_is_ruff_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    lint = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run([ruff, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout


def _locked() -> list[tuple[str, str, str, int]]:
    """(name, version, marker, number of hashes) of each requirements.lock entry."""
    entries = []
    for block in re.split(r"\n(?=[^\s#])", (ROOT / "requirements.lock").read_text()):
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?\n", block)
        if match:
            name, version, marker = match.group(1).lower(), match.group(2), (match.group(3) or "").strip()
            entries.append((name, version, marker, block.count("--hash=sha256:")))
    return entries


def test_the_lock_pins_every_dependency_within_its_range_with_hashes():
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = dict(
        _requirement(r)
        for r in project["project"]["dependencies"]
        + project["project"]["optional-dependencies"]["test"]
        + project["build-system"]["requires"]
    )
    locked = _locked()
    for name, spec in wanted.items():
        versions = [version for entry, version, _, _ in locked if entry == name.replace("_", "-")]
        assert versions, f"{name} is not in requirements.lock: run `make lock`"
        assert all(SpecifierSet(spec).contains(v) for v in versions), (name, spec, versions)
    assert len(locked) > len(wanted) and all(hashes for *_, hashes in locked)


def test_the_installed_versions_are_the_locked_ones():
    from importlib.metadata import PackageNotFoundError, version

    from packaging.markers import Marker

    installed = {}
    for name, locked_version, marker, _ in _locked():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            installed[name] = version(name)
        except PackageNotFoundError:
            installed[name] = None
        assert installed[name] == locked_version, (
            f"{name}: installed {installed[name]}, locked {locked_version}"
        )
