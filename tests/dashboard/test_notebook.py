"""examples/customer360.ipynb runs top to bottom in a real kernel: the same components, inline."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "customer360.ipynb"


@pytest.mark.slow
def test_example_notebook_executes_without_errors(dashboard_data, monkeypatch):
    monkeypatch.setenv("C360_DATA_DIR", str(dashboard_data))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    rendered = [o for o in outputs if o.output_type in ("display_data", "execute_result")]
    assert len(rendered) >= 5, "the screen, the components and the heatmap display inline"
    assert any("Gallardo" in str(o.get("data", {})) or "Customer" in str(o.get("data", {})) for o in rendered)
