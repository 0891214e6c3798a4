"""The notebooks of examples/ run top to bottom in a real kernel, on the tests' small data set."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOK = EXAMPLES / "customer360.ipynb"


def _execute(path: Path) -> list:
    """Run a notebook in a fresh kernel (an error in any cell fails the test); every cell's outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return outputs


def _text(outputs: list) -> str:
    """What the cells printed and showed (a Panel pane's HTML output carries its text in its model)."""
    shown = ("text/plain", "text/html", "application/javascript")
    return "\n".join(
        str(o.get("text", "")) + "".join(str(o.get("data", {}).get(k, "")) for k in shown) for o in outputs
    )


@pytest.mark.slow
def test_example_notebook_executes_without_errors(dashboard_data, monkeypatch):
    monkeypatch.setenv("C360_DATA_DIR", str(dashboard_data))
    outputs = _execute(NOTEBOOK)
    rendered = [o for o in outputs if o.output_type in ("display_data", "execute_result")]
    assert len(rendered) >= 5, "the screen, the components and the heatmap display inline"
    assert any("Gallardo" in str(o.get("data", {})) or "Customer" in str(o.get("data", {})) for o in rendered)


@pytest.mark.slow
def test_the_integration_notebook_ends_in_one_customers_360_record(dashboard_data, monkeypatch):
    monkeypatch.setenv("C360_DATA_DIR", str(dashboard_data))
    text = _text(_execute(EXAMPLES / "integration.ipynb"))
    assert "CREATE OR REPLACE TABLE directory" in text and "from_json" in text
    assert "DuckDB: profile document" in text and "Erika Gallardo" in text and "debit_card" in text


@pytest.mark.slow
@pytest.mark.kafka
def test_the_streaming_notebooks_live_plot_updates_inside_the_kernel(dashboard_data, monkeypatch):
    monkeypatch.setenv("C360_DATA_DIR", str(dashboard_data))
    text = _text(_execute(EXAMPLES / "streaming.ipynb"))
    moved = int(text.split("the live line moved on by ")[1].split()[0])
    assert moved >= 3, "the view's data source took new points while the kernel waited"
    assert "'source': 'kafka'" in text and "'state': 'live'" in text


@pytest.mark.slow
def test_the_models_notebook_trains_evaluates_and_explains(dashboard_data, monkeypatch):
    monkeypatch.setenv("C360_DATA_DIR", str(dashboard_data))
    text = _text(_execute(EXAMPLES / "models.ipynb"))
    assert "churn_auc" in text and "churn risk:" in text and "persona:" in text and "lifetime value:" in text
    left, right = text.split(" == ", 1)
    assert left.split()[-1] == right.split()[0], "the factors add up to the score"


@pytest.mark.slow
def test_the_map_notebook_shows_every_option(dashboard_data, monkeypatch):
    monkeypatch.setenv("C360_DATA_DIR", str(dashboard_data))
    text = _text(_execute(EXAMPLES / "map.ipynb"))
    assert "customers of persona" in text and "10 years or more" in text


def test_every_notebook_is_stored_without_outputs():
    for path in EXAMPLES.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        assert not [c for c in notebook.cells if c.cell_type == "code" and c.outputs], path.name
