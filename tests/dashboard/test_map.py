"""The customer map against the real services: every customer in the image, colours, selection, filter."""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.document import Document
from bokeh.models import GlyphRenderer, HoverTool, ImageRGBA

from connectors import config
from dashboard.map import COLOURINGS, NOT_SCORED, MapView, build_customer_map
from dashboard.services import build_services
from dashboard.store import CustomerStore
from tests.dashboard.conftest import HOSTILE_ID, HOSTILE_NAME


@pytest.fixture
def store(services):
    return CustomerStore(services)


def _rendered(view: MapView):
    """The view rendered into a Bokeh document, as a served page or a notebook would."""
    return view.__panel__().get_root(Document())


def _renderers(root, image: bool) -> list[GlyphRenderer]:
    return [r for r in root.select({"type": GlyphRenderer}) if isinstance(r.glyph, ImageRGBA) == image]


def _image(root) -> np.ndarray:
    (renderer,) = _renderers(root, image=True)
    return np.asarray(renderer.data_source.data["image"][0])


def _marker(root) -> dict:
    (renderer,) = _renderers(root, image=False)
    return dict(renderer.data_source.data)


def test_every_customer_is_on_the_map_with_the_models_categories(services):
    customers = build_customer_map(services)
    frame = customers.frame
    assert len(frame) == services.directory.health()["customers"]
    segments = services.models.segments().set_index("customer_id")
    joined = segments.loc[frame["id"]]
    for colouring in ("sentiment", "churn", "persona"):
        shown = frame[colouring].astype(str).str.split(":", n=1).str[1].to_numpy()
        assert (shown == joined[colouring].astype(str).to_numpy()).all()
    assert NOT_SCORED not in set(frame["sentiment"].astype(str).str.split(":").str[1])
    assert set(customers.colours) >= {
        c for column in COLOURINGS.values() for c in frame[column].cat.categories
    }


def test_the_browser_gets_an_image_of_the_customers_not_the_points(store):
    view = MapView(store=store)
    root = _rendered(view)
    image = _image(root)
    assert image.dtype == np.uint32 and image.ndim == 2
    assert (image != 0).sum() > 500, "customers drawn across the country"
    assert "customers" in view.note.object
    counts = [
        int(part.split("</span>")[0].replace(",", ""))
        for part in view.legend.object.split("c360-muted'>")[1:]
    ]
    assert sum(counts) == len(view.data.frame)


def test_colouring_changes_the_colours_and_the_legend(store):
    view = MapView(store=store)
    root = _rendered(view)
    sentiment = _image(root).copy()
    view.colour_by = "Persona"
    assert all(name in view.legend.object for name in store.services.persona_names.values())
    assert "tenure and persona" in view.title.object
    assert not np.array_equal(_image(root), sentiment)


def test_zooming_draws_the_image_again_for_the_new_view(store):
    view = MapView(store=store)
    root = _rendered(view)
    country = _image(root).copy()
    view.view.event(x_range=(-95.0, -93.0), y_range=(38.0, 40.0))
    (renderer,) = _renderers(root, image=True)
    assert renderer.data_source.data["x"][0] == pytest.approx(-95.0, abs=0.05)
    assert not np.array_equal(_image(root), country)


def test_the_selected_customer_is_marked_and_the_view_moves_to_them(store):
    view = MapView(store=store)
    root = _rendered(view)
    erika = _marker(root)
    assert erika["name"] == ["Erika Gallardo"] and erika["place"] == ["Kansas City, MO 64111"]
    frame = view.data.frame.set_index("id")
    store.select(7)
    marker = _marker(root)
    assert marker["name"] == [store.record.profile["name"]]
    assert marker["longitude"][0] == pytest.approx(frame.loc[7, "longitude"])
    assert f"{frame.loc[7, 'tenure_years']:.1f} years" == marker["tenure"][0]
    x_range = view._figure.x_range
    assert x_range.start < marker["longitude"][0] < x_range.end
    assert x_range.end - x_range.start <= 8.0 + 1e-6
    assert view.view.x_range == (x_range.start, x_range.end), "the image is drawn for the new view"


def test_a_hostile_name_reaches_the_hover_as_data_not_markup(store):
    view = MapView(store=store)
    root = _rendered(view)
    store.select(HOSTILE_ID)
    assert _marker(root)["name"] == [HOSTILE_NAME]
    (renderer,) = _renderers(root, image=False)
    hover = [t for t in root.select({"type": HoverTool}) if renderer in (t.renderers or [])]
    assert hover and all(isinstance(tip, tuple) for tip in hover[0].tooltips), "text fields, no HTML template"


def test_the_heatmaps_persona_filter_filters_the_map(store):
    view = MapView(store=store)
    root = _rendered(view)
    everyone = _image(root).copy()
    persona = store.insights.persona.id
    store.persona = persona
    members = int((view.data.frame["persona_id"] == persona).sum())
    assert f"{members:,} customers of persona" in view.note.object
    assert (_image(root) != 0).sum() < (everyone != 0).sum()
    store.persona = None
    assert f"{len(view.data.frame):,} customers ·" in view.note.object


def test_without_models_the_map_colours_by_tenure(sample_layout, caplog):
    settings = config.load(["--data-dir", str(sample_layout.root)], environ={})
    services = build_services(settings)
    try:
        assert services.models is None
        view = MapView(store=CustomerStore(services))
        assert view.colour_by == "Tenure" and view.param.colour_by.objects == ["Tenure"]
        assert (_image(_rendered(view)) != 0).sum() > 500
        assert "10 years or more" in view.legend.object
        assert "failed to update" not in caplog.text  # views log their errors instead of raising them
    finally:
        services.close()
