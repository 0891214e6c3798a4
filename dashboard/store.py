"""The state one browser session shares between its views: which customer is on the line.

Views take a ``CustomerStore`` and depend on its parameters, as in Panel's intermediate tutorials, so
selecting a customer anywhere updates every view together, and each view also works alone (in a notebook,
give it a store of its own). The store loads the selected customer's 360 record and insights once per
selection, so views never query anything themselves.
"""

from __future__ import annotations

import logging
import time

import panel as pn
import param

from dashboard.services import Services

log = logging.getLogger(__name__)


class CustomerStore(param.Parameterized):
    """Per-session selection state over the process-wide services."""

    services = param.ClassSelector(class_=Services, constant=True, doc="directory, stream and models")
    customer_id = param.Integer(default=None, allow_None=True, doc="the selected customer's id")
    persona = param.Integer(default=None, allow_None=True, doc="persona filter chosen on the heatmap")
    record = param.Parameter(default=None, doc="the selected customer's CustomerRecord")
    insights = param.Parameter(default=None, doc="the selected customer's CustomerInsights, or None")
    error = param.String(default="", doc="why the selected customer could not be loaded")
    last_sql = param.String(default="", doc="the SQL that last ran for this session")
    last_ms = param.Number(default=0.0, doc="how long it took, in milliseconds")

    def __init__(self, services: Services, **params):
        super().__init__(services=services, **params)
        if self.customer_id is None and services.featured:
            self.customer_id = services.featured[0]
        else:
            self._load()

    def select(self, customer_id: int) -> None:
        """Put a customer on screen; every view's update goes out as one batch.

        Panel's ``hold(freeze=True)`` sends the views' changes together and lets Bokeh walk the page's
        model graph once, where each plot update would walk it on its own (most of a selection's server
        time, profiled). Setting ``customer_id`` directly works too, without the batching.
        """
        with pn.io.hold(freeze=True):
            self.customer_id = customer_id

    def record_query(self, sql: str, elapsed_ms: float) -> None:
        """Remember the SQL a view ran, for the behind-the-scenes panel."""
        self.param.update(last_sql=sql, last_ms=elapsed_ms)

    @param.depends("customer_id", watch=True)
    def _load(self) -> None:
        if self.customer_id is None:
            self.param.update(record=None, insights=None, error="")
            return
        started = time.perf_counter()
        try:
            record = self.services.directory.customer(self.customer_id)
        except LookupError:
            self.param.update(record=None, insights=None, error=f"No customer with id {self.customer_id}.")
            return
        insights = self.services.insights_for(self.customer_id, record)
        self.param.update(record=record, insights=insights, error="")
        self.record_query(record.sql, (time.perf_counter() - started) * 1000)
