"""The workarounds of Panel and Bokeh behaviour (README "Workarounds") still do their job.

Each test exercises the library mechanism a workaround rests on, so an upgrade that removes or changes it
fails here, next to the README row that says what the workaround is for.
"""

from __future__ import annotations

import asyncio
import inspect
import threading

import panel as pn
import param
from bokeh.document import Document
from bokeh.models import Div, Row

from dashboard.app import pause_while_collapsed
from dashboard.markup import HTMLText


def _count_recomputes(document: Document, monkeypatch) -> list[int]:
    calls: list[int] = []
    recompute = document.models.recompute
    monkeypatch.setattr(document.models, "recompute", lambda: (calls.append(1), recompute())[1])
    return calls


def test_a_frozen_document_walks_its_models_once_for_many_changes(monkeypatch):
    """customer360.py builds the page inside ``document.models.freeze()``."""
    document = Document()
    row = Row()
    document.add_root(row)
    calls = _count_recomputes(document, monkeypatch)
    for _ in range(5):
        row.children.append(Div())
    unfrozen = len(calls)
    calls.clear()
    with document.models.freeze():
        for _ in range(5):
            row.children.append(Div())
        for _ in range(3):
            document.add_root(Div())
    assert unfrozen == 5 and len(calls) == 1


def test_panels_hold_with_freeze_defers_the_walk_until_it_ends(monkeypatch):
    """CustomerStore.select batches a selection's updates with ``pn.io.hold(freeze=True)``."""
    assert "freeze" in inspect.signature(pn.io.hold).parameters
    document = Document()
    row = Row()
    document.add_root(row)
    calls = _count_recomputes(document, monkeypatch)
    with pn.io.hold(document, freeze=True):
        for _ in range(5):
            row.children.append(Div())
        assert calls == []
    assert len(calls) == 1


def test_the_private_pane_update_hooks_htmltext_overrides_still_exist():
    """dashboard/markup.py replaces Panel's ``_update(ref, model)`` and calls ``_process_param_change``."""
    assert list(inspect.signature(pn.pane.HTML._update).parameters) == ["self", "ref", "model"]
    assert HTMLText._update is not pn.pane.HTML._update
    processed = HTMLText("<b>x</b>")._process_param_change({"object": "<b>y</b>"})
    assert set(processed) == {"text"}


def test_background_periodic_callbacks_skip_panels_busy_bookkeeping(monkeypatch):
    """dashboard/timer.py runs its ticks as background callbacks without a log line each."""
    busy: list[str] = []
    monkeypatch.setattr(pn.state, "_add_busy_event", busy.append)
    monkeypatch.setattr(pn.state, "_remove_busy_event", lambda event: None)
    assert "log" in pn.io.PeriodicCallback.param
    for background in (False, True):
        callback = pn.io.PeriodicCallback(
            callback=lambda: None, period=1000, background=background, log=False
        )
        tick = threading.Thread(target=asyncio.run, args=(callback._periodic_callback(),))
        tick.start()  # a thread of its own: an earlier test may have left this thread's loop running
        tick.join()
    assert len(busy) == 1  # the foreground callback only


class _View(param.Parameterized):
    paused = param.Boolean(default=True)


def test_a_collapsed_cards_views_are_paused():
    """Panel makes a collapsed card's child visible again whenever it updates: its views pause instead."""
    views = [_View(), _View()]
    card = pause_while_collapsed(pn.Card(pn.pane.Str("x"), collapsed=True), views)
    assert card.collapsed and all(view.paused for view in views)
    card.collapsed = False
    assert not any(view.paused for view in views)
    card.collapsed = True
    assert all(view.paused for view in views)
