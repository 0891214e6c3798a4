"""Panes whose updates send only what their object sets: no restyling of the page on a new customer."""

from __future__ import annotations

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc

from connectors.sample.avatars import draw_avatars
from dashboard.markup import SCREEN_CSS, HTMLText, JPGImage, escape


def _changes(pane, new_object) -> list[str]:
    """The model properties a new object changes, for a pane rendered in a Bootstrap template."""
    document = Document()
    with set_curdoc(document):
        page = pn.template.BootstrapTemplate(title="t")
        page.main.append(pane)
        page.server_doc(document)
        changed: list[str] = []
        document.on_change(lambda event: changed.append(getattr(event, "attr", type(event).__name__)))
        pane.object = new_object
    return changed


def test_a_new_object_sends_only_the_text():
    assert "stylesheets" in _changes(pn.pane.HTML("<p>a</p>"), "<p>b</p>")  # what Panel's own pane sends
    assert _changes(HTMLText("<p>a</p>"), "<p>b</p>") == ["text"]


def test_text_is_escaped_once_as_panel_does():
    pane = HTMLText("<b>a</b>")
    model = pane.get_root()
    pane.object = f"<b>{escape('<img src=x>')}</b>"
    assert model.text == pn.pane.HTML(pane.object).get_root().text


def test_a_new_photo_sends_only_the_image(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(draw_avatars(seed=1, count=1)[0])
    changed = _changes(JPGImage(None, width=160, height=160), photo)
    assert "stylesheets" not in changed and "text" in changed


def test_panes_carry_the_screen_stylesheet_from_their_first_render():
    """Panel draws a pane's HTML in a shadow root, which the page's own stylesheet does not reach."""
    assert SCREEN_CSS in HTMLText("<span class='c360-badge'>x</span>").get_root().stylesheets
    assert SCREEN_CSS in JPGImage(None, width=10, height=10).get_root().stylesheets
