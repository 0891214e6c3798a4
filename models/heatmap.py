"""The upsell heatmap: persona × product adoption (the original's "Customer Profiles"), with its numbers.

Each cell is the share of the persona's customers who hold the product; hovering shows the share, the count
of holders and the persona's size, so the colour can always be checked against the data behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from connectors.catalog import LABELS, PRODUCTS

if TYPE_CHECKING:
    import holoviews as hv

DIMMED = 0.3
TITLE = "Product adoption by persona"


def adoption_table(persona: np.ndarray, holdings: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Holders and adoption share per persona and product, long format, catalogue order."""
    k = len(names)
    holders = np.vstack([np.bincount(persona, holdings[:, j], minlength=k) for j in range(len(PRODUCTS))]).T
    return table_from_counts(holders, np.bincount(persona, minlength=k), names)


def table_from_counts(holders: np.ndarray, customers: np.ndarray, names: list[str]) -> pd.DataFrame:
    """The long table from holders (personas x products) and persona sizes."""
    k = len(names)
    holders = np.asarray(holders, dtype=np.int64).reshape(k, len(PRODUCTS))
    customers = np.asarray(customers, dtype=np.int64)
    return pd.DataFrame(
        {
            "persona": np.repeat(np.arange(k), len(PRODUCTS)),
            "persona_label": np.repeat([persona_label(i, n) for i, n in enumerate(names)], len(PRODUCTS)),
            "product": np.tile(PRODUCTS, k),
            "product_label": np.tile([LABELS[p] for p in PRODUCTS], k),
            "holders": holders.reshape(-1),
            "customers": np.repeat(customers, len(PRODUCTS)),
            "adoption": (holders / np.maximum(customers, 1)[:, None]).reshape(-1),
        }
    )


def persona_label(persona: int, name: str) -> str:
    return f"{persona} · {name}"


def highlighting(labels, persona: int | None) -> tuple[np.ndarray, str]:
    """Each cell's alpha (other personas dimmed when one is highlighted) and the title naming it, for
    the cells' persona labels (``persona_label``) in their order."""
    labels = np.asarray(labels, dtype=object)
    if persona is None:
        return np.ones(len(labels)), TITLE
    lit = np.array([str(label).startswith(persona_label(persona, "")) for label in labels], dtype=bool)
    title = f"{TITLE} (highlighted: {labels[lit][0]})" if lit.any() else TITLE
    return np.where(lit, 1.0, DIMMED), title


def heatmap(table: pd.DataFrame, highlight_persona: int | None = None) -> hv.HeatMap:
    """The heatmap of :func:`adoption_table`; other personas are dimmed when one is highlighted.

    HoloViews is imported here, by the first heatmap drawn: the tables above need only pandas, and a
    server's first page is built before any heatmap (``dashboard.app.below_the_call``).
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # registers the Bokeh options the heatmap sets

    alpha, title = highlighting(table["persona_label"], highlight_persona)
    data = table.assign(alpha=alpha)
    product_axis = hv.Dimension("product_label", label="Product", values=[LABELS[p] for p in PRODUCTS])
    persona_axis = hv.Dimension(
        "persona_label", label="Persona", values=list(dict.fromkeys(data["persona_label"]))
    )
    return hv.HeatMap(
        data,
        kdims=[product_axis, persona_axis],
        vdims=[hv.Dimension("adoption", label="Adoption", range=(0, 1)), "holders", "customers", "alpha"],
    ).opts(
        cmap="Blues",
        alpha="alpha",
        colorbar=True,
        clim=(0, 1),
        xrotation=40,
        title=title,
        tools=["hover"],
        hover_tooltips=[
            ("Persona", "@persona_label"),
            ("Product", "@product_label"),
            ("Adoption", "@adoption{0.0%}"),
            ("Holders", "@holders{0,0} of @customers{0,0}"),
        ],
        responsive=True,
        height=340,
        backend_opts={"plot.output_backend": "canvas"},  # 72 cells: WebGL would only add its startup
    )
