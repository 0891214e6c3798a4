"""Process-wide services every session shares: the directory, the live click state, the trained models and
the desk's store (wrap-ups, the audit, verification attempts).

They are built once per server process and kept in ``pn.state.cache`` (Panel's documented place for
process-wide work), so a new browser session costs a store and some views, not a data load. The live
click state is the process's own ``ClickStream`` by default, or, with ``C360_REDIS_URL`` set, the state
the aggregator group keeps in Redis (the process then consumes nothing from Kafka).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import panel as pn

from connectors.clickstream import ClickStream, LastSeen, LiveState
from connectors.clickstream.redis_state import RedisClickState
from connectors.config import Settings
from connectors.desk import DeskStore, open_store
from connectors.directory import Directory
from connectors.layout import Layout
from dashboard.memory import collect_garbage
from models.insights import Insights, ModelsMissing

log = logging.getLogger(__name__)
_build_lock = threading.Lock()
T = TypeVar("T")
CLICKING_S = 5  # while a customer clicks more often than this, her live answers are shared per window


def live_key(stream: LiveState, customer_id: int) -> tuple:
    """What a customer's live answers (reasons, offers, timeline, her clicks) depend on: see :func:`seen_key`."""
    return seen_key(stream.last_seen(customer_id))


def seen_key(seen: LastSeen | None, now: float | None = None) -> tuple:
    """The key of answers computed from a customer's clicks, given her last click ``seen``: that click;
    while she clicks within ``CLICKING_S`` of now, the ``CLICKING_S``-second window instead.

    At 150,000 clicks a second over 100,000 customers each clicks 1.5 times a second, so twenty sessions
    polling her at different moments each saw a new last click and computed alone (14% of a core,
    ``bench.scale``). A window's answer may miss her clicks later in it; the next window, or her last
    click once she stops, brings them.
    """
    if seen is None:
        return (None,)
    now = time.time() if now is None else now
    if now - seen.at.timestamp() > CLICKING_S:
        return (seen,)
    return ("clicking", int(now // CLICKING_S))


def record_key(record, *parts: Hashable) -> tuple | None:
    """The key of an answer computed from a 360 ``record`` (or from none) and ``parts``; None, never
    shared, for a record without a version (a copy changed by hand: its content is not what it names)."""
    if record is None:
        return (None, *parts)
    return (record.version, *parts) if record.version else None


class SharedResults:
    """What one session computed for a question, reused by every session of the process that asks it.

    Twenty representatives with the same customer on screen re-scored her reasons and rebuilt her
    timeline twenty times per click of hers (most of an idle server's CPU, profiled); keyed by what the
    answer depends on (the record's version, her last click, the minute), it is computed once. Bounded:
    the least recently used answers go first.
    """

    def __init__(self, size: int = 512):
        self.size = size
        self._answers: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable | None, compute: Callable[[], T]) -> T:
        """The answer for ``key``, computed (outside the lock) when no session has asked yet; a key of
        None is computed every time and kept for nobody."""
        if key is None:
            return compute()
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = compute()
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        return answer


@dataclass
class Services:
    """What every view may ask: data through connectors, predictions through models, the desk's writes
    through its store."""

    settings: Settings
    directory: Directory
    stream: LiveState
    models: Insights | None
    models_error: str = ""
    featured: list[int] = field(default_factory=list)
    desk: DeskStore | None = None  # the representatives' writes; opened from the settings when not given
    shared: SharedResults = field(default_factory=SharedResults)  # answers every session may reuse

    def __post_init__(self) -> None:
        if self.desk is None:
            self.desk = open_store(self.settings)

    @property
    def has_scores(self) -> bool:
        """Whether model scores (churn risk, persona) are attached to the directory."""
        return self.models is not None

    @property
    def persona_names(self) -> dict[int, str]:
        """Persona id to its human name; empty before models are trained."""
        if self.models is None:
            return {}
        personas = self.models.personas()
        return dict(zip(personas["persona"].astype(int), personas["name"], strict=True))

    def close(self) -> None:
        """Stop the stream and release the sources (tests and notebooks; a server just exits)."""
        self.stream.stop()
        self.directory.close()
        self.desk.close()

    def insights_for(self, customer_id: int, record=None):
        """The customer's insights with their live browsing, or None when models are not trained; with
        their 360 ``record``, the likely reasons for their call too.

        The same for every session within a minute until she clicks again (the evidence says "2 min
        ago"; the hour of interest slides), so sessions share it (``shared``), keyed by the record's
        version and ``live_key``.
        """
        if self.models is None:
            return None
        asked = record_key(
            record, "insights", customer_id, live_key(self.stream, customer_id), int(time.time() // 60)
        )
        return self.shared.get(asked, lambda: self._insights(customer_id, record))

    def _insights(self, customer_id: int, record):
        interest = self.stream.recent_interest(customer_id, window=timedelta(hours=1))
        live = self.stream.customer_activity(customer_id) if record is not None else None
        return self.models.for_customer(
            customer_id, recent_interest=interest, record=record, live_clicks=live
        )


def build_services(settings: Settings) -> Services:
    """Open the sources, load the models and start the click stream (once per process)."""
    directory = Directory(settings)
    featured = Layout(settings.data_dir).read_manifest().get("featured_customers", [])
    try:
        models = Insights.load(settings.data_dir)
        models_error = ""
        directory.attach_scores(models.scores, version=models.version)
    except ModelsMissing as error:
        models, models_error = None, str(error)
        log.warning("%s", error)
    stream = _live_state(settings, directory, featured, models)
    stream.start()
    return Services(settings, directory, stream, models, models_error, featured)


def _live_state(
    settings: Settings, directory: Directory, featured: list[int], models: Insights | None
) -> LiveState:
    """The aggregators' shared state when ``C360_REDIS_URL`` is set, else this process's own stream."""
    if settings.redis is not None:
        return RedisClickState(settings)
    left = models.former_customers() if models is not None else ()  # the replay leaves their clicks out
    return ClickStream(settings, web_users=directory.web_users(), featured=featured, left=left)


def _build_for_the_process(settings: Settings) -> Services:
    """Build the services, then move everything alive into the collector's permanent generation.

    The services hold millions of objects for the life of the process; every full collection scanned them
    again (about 0.3 s each, at random moments of a page build). Frozen, they are left out, as loaded
    pages are (``dashboard.memory``).
    """
    services = build_services(settings)
    # Stopped before the interpreter tears down: a daemon thread still inside librdkafka or DuckDB when the
    # server exits on SIGTERM aborted the process ("terminate called after throwing an instance of").
    atexit.register(services.close)
    collect_garbage()
    return services


def get_services(settings: Settings) -> Services:
    """The process's services for these settings, built on first use."""
    key = f"customer360-services-{hash(settings)}"
    with _build_lock:
        return pn.state.as_cached(key, _build_for_the_process, settings=settings)
