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
CONDA_NAMES = {"python-confluent-kafka": "confluent-kafka", "python-duckdb": "duckdb"}
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
