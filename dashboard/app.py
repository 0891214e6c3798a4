"""Compose the Customer 360 page from its views; `customer360.py` serves what this builds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import panel as pn

from connectors import config
from connectors.config import Settings
from connectors.sample import Layout


@pn.cache
def load_overview(data_dir: str, rows: int = 200) -> tuple[dict, pd.DataFrame]:
    """The data set's manifest and its first customers, read once per process."""
    layout = Layout(Path(data_dir))
    profiles = pd.read_json(layout.profiles, lines=True, nrows=rows, dtype={"phone_number": str})
    return layout.read_manifest(), profiles[["id", "name", "phone_number", "email", "first_visit"]]


def create_app(settings: Settings | None = None) -> pn.template.FastListTemplate:
    """The whole page for one browser session."""
    settings = settings or config.load()
    layout = Layout(settings.data_dir)
    template = pn.template.FastListTemplate(title="Customer 360", theme_toggle=False)
    if not layout.exists():
        template.main.append(
            pn.pane.Alert(
                f"No data set in {settings.data_dir}. Generate one with `make data` "
                "(or `python -m connectors.sample`), or point C360_DATA_DIR at your data.",
                alert_type="warning",
            )
        )
        return template
    manifest, profiles = load_overview(str(settings.data_dir))
    counts = pd.DataFrame({"source": list(manifest["rows"]), "rows": list(manifest["rows"].values())})
    template.main.append(
        pn.Row(
            pn.Column(
                "## Customer directory",
                pn.widgets.Tabulator(
                    profiles, disabled=True, page_size=15, pagination="local", show_index=False
                ),
            ),
            pn.Column("## Sources", pn.widgets.Tabulator(counts, disabled=True, show_index=False)),
        )
    )
    return template
