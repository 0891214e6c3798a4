"""Compose the Customer 360 page from its views; `customer360.py` serves what this builds.

One function builds the page for a browser session (``create_app``), one builds the kiosk
(``create_kiosk``); both take their services from ``dashboard.services`` and hand every view the same
per-session ``CustomerStore``.
"""

from __future__ import annotations

import panel as pn

from connectors import config
from connectors.config import ConfigError, Settings
from connectors.layout import Layout
from dashboard.behind import BehindTheScenes, SkippedLinesMarker
from dashboard.clicks import CustomerActivity, LiveClicks, StreamHealth
from dashboard.desk import CallerView, Private, VerifyView, WrapUpView
from dashboard.directory import DirectoryView
from dashboard.insights import InsightsView
from dashboard.kiosk import KioskRotation, rotate_seconds
from dashboard.markup import SCREEN_CSS, HTMLText, escape
from dashboard.memory import track_session
from dashboard.profile import ProfileView
from dashboard.reason import ReasonView
from dashboard.services import get_services
from dashboard.spend import SpendView
from dashboard.store import CustomerStore
from dashboard.survey import SurveyView
from dashboard.timeline import TimelineView
from dashboard.timer import WhenQuiet
from dashboard.watchdog import ConnectionWatchdog

TITLE = "Customer 360"
QUIET_MS = 1500  # the heatmap and the map are built once the page has been left alone this long
# Templates get no busy spinner: Panel updates every session's spinner on every periodic callback of any
# session, which made the cost of live views grow with the square of the number of open sessions.

pn.extension("tabulator", notifications=True)


def problem_page(message: str) -> pn.template.BootstrapTemplate:
    """A page that says what is wrong and how to fix it, instead of a stack trace."""
    page = pn.template.BootstrapTemplate(title=TITLE, busy_indicator=None)
    page.main.append(pn.pane.Alert(message, alert_type="warning"))
    return page


def _settings_or_problem(settings: Settings | None):
    try:
        settings = settings or config.load()
    except ConfigError as error:
        return None, problem_page(f"Configuration problem: {error}")
    if not Layout(settings.data_dir).exists():
        return None, problem_page(
            f"No data set in {settings.data_dir}. Generate one with `make data` (or "
            "`python -m connectors.sample`), or point C360_DATA_DIR at your data."
        )
    return settings, None


def create_store(settings: Settings | None = None, desk: bool = True) -> CustomerStore:
    """A session's store over the process-wide services (for notebooks and single views); ``desk=False``
    for a screen that is no call (the kiosk): no verification, no audit, no wrap-ups."""
    return CustomerStore(get_services(settings or config.load()), desk=desk)


def create_app(settings: Settings | None = None) -> pn.template.BootstrapTemplate:
    """The representative's screen for one browser session."""
    settings, problem = _settings_or_problem(settings)
    if problem is not None:
        return problem
    store = create_store(settings)
    track_session()
    page = pn.template.BootstrapTemplate(
        title=TITLE, header_background="#0b3d91", sidebar_width=0, busy_indicator=None
    )
    directory = DirectoryView(store=store)
    middle = pn.Column(
        VerifyView(store=store),
        Private(
            store=store, objects=[ReasonView(store=store), InsightsView(store=store), SpendView(store=store)]
        ),
        LiveClicks(stream=store.services.stream),
        sizing_mode="stretch_width",
    )
    customer = Private(
        store=store,
        objects=[
            ProfileView(store=store),
            SurveyView(store=store),
            CustomerActivity(store=store, stream=store.services.stream),
        ],
        public=CallerView(store=store),
    )
    behind = behind_the_scenes(store)
    page.header.append(SkippedLinesMarker(store=store, card=behind))
    timeline = TimelineView(store=store, stream=store.services.stream)
    page.main.extend(
        [
            pn.Row(directory, middle, customer, sizing_mode="stretch_width"),
            pn.Row(
                Private(store=store, objects=[timeline], what="the timeline"),
                WrapUpView(store=store),
                sizing_mode="stretch_width",
            ),
            below_the_call(store),
            behind,
            ConnectionWatchdog(),
        ]
    )
    return page


def below_the_call(store: CustomerStore) -> pn.viewable.Viewable:
    """The heatmap and the map, built once the page has shown and then been left alone for
    :data:`QUIET_MS` (a selection starts the wait again), one per turn of the event loop.

    They are below the call's views and the slowest to draw (about 0.15 s and 0.3 s of the process's
    event loop, in which nothing else of any session moves): built as soon as the page had shown
    (Panel's ``defer_load``), they were what a selection made at once waited for, the p95 of
    ``bench.scale``'s selections through the proxy.

    Their modules are imported by the first build too: HoloViews and Datashader (with xarray and Numba)
    were a fifth of a restarted server's time to its first page (``bench.startup``), which needs neither.
    A forked process has them already (``dashboard.prefork.preload``).
    """
    row = pn.Row(
        HTMLText("<p class='c360-muted'>The persona heatmap and the customer map follow in a moment.</p>"),
        sizing_mode="stretch_width",
    )

    def build_map() -> None:
        from dashboard.map import MapView

        row.append(MapView(store=store))

    def build() -> None:
        from dashboard.heatmap import HeatmapView

        row.objects = [HeatmapView(store=store)]
        pn.state.execute(build_map, schedule=True)

    quiet = WhenQuiet(build, QUIET_MS)
    store.param.watch(lambda _event: quiet.poke(), "customer_id")
    return row


def behind_the_scenes(store: CustomerStore) -> pn.Card:
    """The collapsed card for the curious; its views refresh only while it is open."""
    views = [
        BehindTheScenes(store=store, paused=True),
        StreamHealth(stream=store.services.stream, paused=True),
    ]
    card = pn.Card(*views, title="Behind the scenes", collapsed=True, sizing_mode="stretch_width")
    return pause_while_collapsed(card, views)


def pause_while_collapsed(card: pn.Card, views: list) -> pn.Card:
    """Keep the ``paused`` parameter of ``views`` equal to the card's ``collapsed``.

    Panel hides a collapsed card's children by making them invisible in the browser, and every update of
    a child made it visible again for a moment: a relayout every few seconds for a panel nobody looks at.
    """

    def follow(event) -> None:
        for view in views:
            view.paused = event.new

    card.param.watch(follow, "collapsed")
    return card


def create_kiosk(
    settings: Settings | None = None, rotate: str | None = None, dark: bool = False
) -> pn.template.BootstrapTemplate:
    """The wall display: large type, masked, no editing controls, rotating through who is online."""
    settings, problem = _settings_or_problem(settings)
    if problem is not None:
        return problem
    period, note = rotate_seconds(rotate)
    store = create_store(settings, desk=False)
    track_session()
    page = pn.template.BootstrapTemplate(
        title=f"{TITLE} · live",
        theme="dark" if dark else "default",
        header_background="#0b3d91",
        busy_indicator=None,
        sidebar_width=0,
    )
    if note:
        page.main.append(pn.pane.Alert(escape(note), alert_type="info"))  # the note quotes the URL
    stream = store.services.stream
    page.main.extend(
        [
            pn.Column(
                KioskRotation(store=store, rotate=period),
                pn.Row(
                    pn.Column(
                        ProfileView(store=store, public=True),
                        CustomerActivity(store=store, stream=stream),
                        TimelineView(store=store, stream=stream, kiosk=True),
                    ),
                    pn.Column(ReasonView(store=store), InsightsView(store=store), LiveClicks(stream=stream)),
                    sizing_mode="stretch_width",
                ),
                css_classes=["c360-kiosk", *(["c360-dark"] if dark else [])],
                stylesheets=[SCREEN_CSS],  # large type and the dark colours, inherited by every view
                sizing_mode="stretch_width",
            ),
            ConnectionWatchdog(),
        ]
    )
    return page
