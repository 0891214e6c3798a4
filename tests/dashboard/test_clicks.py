"""The live click views: clicks produced into Kafka reach each session's own plots and badges."""

from __future__ import annotations

import gc
import weakref

import pandas as pd
import panel as pn
import param
import pytest

from connectors import config
from dashboard.clicks import CustomerActivity, LiveClicks, StreamHealth, shared_rates, timeline_window
from tests.sample_data import browsers, web_user
from tests.servers import free_port, panel_server, wait_until

HOSTILE_URL = "https://bank.example/<script>alert(1)</script>"
HOSTILE_TAG = "<img src=x onerror=alert(1)>"
PAGE = "https://bank.example/page-"


class Selection(param.Parameterized):
    """What the click views need of a session's CustomerStore: the selected customer."""

    customer_id = param.Integer(default=None, allow_None=True)


def pulled(view) -> bool:
    """A wait_until predicate: pull once, then say whether the view's plot has clicks."""
    view.refresh()
    return sum(view.source.data["total"]) > 0


@pytest.mark.kafka
def test_views_alone_show_produced_clicks_with_pages_escaped(
    kafka_settings, click_streams, send_messages, click_message, web_users
):
    stream = click_streams(kafka_settings)
    clicks, activity = (
        LiveClicks(stream=stream),
        CustomerActivity(stream=stream, store=Selection(customer_id=1)),
    )
    health = StreamHealth(stream=stream)
    for view in (clicks, activity, health):
        pn.panel(view).get_root()  # renders outside a server, as in a notebook
    erika = web_user(web_users, 1)
    send_messages(
        kafka_settings, [click_message(erika, "auto_loan"), click_message(erika, "roth_ira", HOSTILE_URL)]
    )

    wait_until(lambda: pulled(clicks), message="clicks in the line's data")
    wait_until(lambda: activity.refresh() or "online now" in activity.badge.object)
    wait_until(lambda: activity.refresh() or len(activity.timeline.data["time"]) == 2)
    assert set(activity.timeline.data["label"]) == {"Auto Loan", "Roth IRA"}
    shown = activity.badge.object + activity.__panel__().objects[2].object
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>" not in shown
    assert "Roth IRA" in activity.__panel__().objects[3].object  # viewed in the last hour
    health.refresh()
    assert "Click stream: live" in health.panel.object and "dropped: none" in health.panel.object


@pytest.mark.kafka
def test_two_sessions_share_the_global_stream_and_keep_their_own_customer(
    kafka_settings, click_streams, send_messages, click_message, web_users
):
    stream = click_streams(kafka_settings)
    sessions = {
        customer: (
            LiveClicks(stream=stream),
            CustomerActivity(stream=stream, store=Selection(customer_id=customer)),
        )
        for customer in browsers(web_users, 2)
    }
    urls = {customer: f"https://bank.example/only-for-{customer}" for customer in sessions}
    send_messages(
        kafka_settings, [click_message(web_user(web_users, c), "401k", url) for c, url in urls.items()] * 3
    )

    for customer, (clicks, activity) in sessions.items():
        wait_until(lambda clicks=clicks: pulled(clicks))
        wait_until(lambda activity=activity: activity.refresh() or len(activity.timeline.data["time"]) == 3)
        assert set(activity.timeline.data["url"]) == {urls[customer]}
    first, second = (pd.DataFrame(clicks.source.data) for clicks, _ in sessions.values())
    common = first.merge(second, on="time", suffixes=("_1", "_2"))
    assert len(common) > 0
    assert (common["total_1"] == common["total_2"]).all()


@pytest.mark.kafka
def test_selecting_another_customer_updates_the_activity_at_once(
    kafka_settings, click_streams, send_messages, click_message, web_users
):
    stream = click_streams(kafka_settings)
    _, browsing, idle = browsers(web_users, 3)
    send_messages(kafka_settings, [click_message(web_user(web_users, browsing), "medical_insurance")])
    wait_until(lambda: stream.last_seen(browsing) is not None)
    store = Selection(customer_id=idle)
    activity = CustomerActivity(stream=stream, store=store)
    assert "not seen on the website" in activity.badge.object
    store.customer_id = browsing
    assert "online now" in activity.badge.object and "Medical Insurance" in activity.badge.object


def test_health_says_offline_when_the_broker_is_unreachable(sample_layout, click_streams):
    argv = ["--data-dir", str(sample_layout.root), "--kafka-bootstrap", f"127.0.0.1:{free_port()}"]
    health = StreamHealth(stream=click_streams(config.load(argv, environ={})))
    wait_until(lambda: health.refresh() or "stream offline — reconnecting" in health.panel.object, timeout=15)
    assert "c360-stream-offline" in health.panel.object


def test_closing_a_view_stops_its_pulls_and_empties_its_buffers(sample_layout, click_streams):
    stream = click_streams(config.load(["--data-dir", str(sample_layout.root)], environ={}))
    clicks = LiveClicks(stream=stream)
    wait_until(lambda: pulled(clicks))
    assert clicks.running
    clicks.close()
    assert not clicks.running and len(clicks.source.data["total"]) == 0


@pytest.mark.kafka
@pytest.mark.browser
def test_browser_sessions_get_live_clicks_and_closed_ones_let_go(
    browser, kafka_settings, click_streams, send_messages, click_message, web_users
):
    stream = click_streams(kafka_settings)
    sessions: dict[int, tuple[LiveClicks, CustomerActivity]] = {}

    def app() -> pn.viewable.Viewable:
        customer = int(pn.state.session_args["customer"][0])
        sessions[customer] = views = (
            LiveClicks(stream=stream),
            CustomerActivity(stream=stream, store=Selection(customer_id=customer)),
        )
        return pn.Column(*views)

    options = {"check_unused_sessions_milliseconds": 200, "unused_session_lifetime_milliseconds": 200}
    with panel_server("clicks", app, query="?customer=1", **options) as url:
        first, second = browsers(web_users, 2)
        contexts = {customer: browser.new_context() for customer in (first, second)}
        try:
            pages = {c: context.new_page() for c, context in contexts.items()}
            dialogs: list[str] = []
            for customer, page in pages.items():
                page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
                page.goto(f"{url}?customer={customer}")
            wait_until(lambda: len(sessions) == 2, timeout=30, message="both sessions")
            send_messages(
                kafka_settings,
                [
                    click_message(web_user(web_users, c), "auto_loan", f"{PAGE}{c}/{HOSTILE_TAG}")
                    for c in pages
                ],
            )
            for customer, page in pages.items():
                badge = page.locator(".c360-online").first
                wait_until(lambda badge=badge: "online now" in badge.inner_text(), timeout=30)
                assert f"{PAGE}{customer}/{HOSTILE_TAG}" in badge.inner_text()  # shown as text, not markup
                other = second if customer == first else first
                assert f"{PAGE}{other}/" not in badge.inner_text()
                page.locator(".c360-clicks canvas").first.wait_for(timeout=30_000)
                clicks, activity = sessions[customer]
                wait_until(lambda clicks=clicks: sum(clicks.source.data["total"]) > 0, timeout=15)
                assert clicks.running and activity.running

            assert dialogs == []
            contexts.pop(second).close()
            wait_until(
                lambda: not any(view.running for view in sessions[second]),
                timeout=15,
                message="callbacks stop",
            )
            assert (
                len(sessions[second][0].source.data["total"]) == 0
                and len(sessions[second][1].timeline.data["time"]) == 0
            )
            assert all(view.running for view in sessions[first])
        finally:
            for context in contexts.values():
                context.close()


def test_shared_rates_go_with_their_stream():
    class Stream:  # stands in for a ClickStream that is closed and dropped, as a test's or notebook's is
        def global_rates_since(self, cursor):
            raise AssertionError("not asked once the stream is gone")

    stream = Stream()
    rates = shared_rates(stream)
    assert shared_rates(stream) is rates  # one per stream, shared by its sessions
    gone = weakref.ref(stream)
    del stream
    gc.collect()
    assert gone() is None  # the registry's entry did not keep it alive
    assert rates.latest().cursor is None


@pytest.mark.kafka
@pytest.mark.redis
def test_views_on_the_shared_state_show_a_click_online_now_and_an_outage(
    group_settings, aggregators, shared_states, send_messages, click_message, web_users, redis_server
):
    """A dashboard process that reads Redis (and consumes nothing from Kafka) shows what the aggregators
    wrote; when Redis goes away its health view says so, and recovers by itself."""
    aggregators(group_settings)
    state = shared_states(group_settings)
    clicks = LiveClicks(stream=state)
    activity = CustomerActivity(stream=state, store=Selection(customer_id=1))
    health = StreamHealth(stream=state)
    send_messages(group_settings, [click_message(web_user(web_users, 1), "roth_ira", HOSTILE_URL)])

    wait_until(lambda: activity.refresh() or "online now" in activity.badge.object, timeout=30)
    assert "Roth IRA" in activity.badge.object and "<script>" not in activity.badge.object
    wait_until(lambda: pulled(clicks), timeout=30, message="the click in the live line")
    shows = ("Click stream: live", "aggregators alive: 1", "lag per partition")
    wait_until(lambda: health.refresh() or all(text in health.panel.object for text in shows), timeout=15)

    redis_server.stop()
    try:
        wait_until(
            lambda: health.refresh() or "live state unavailable — reconnecting" in health.panel.object,
            timeout=15,
        )
        assert "c360-stream-offline" in health.panel.object
    finally:
        redis_server.start()
    wait_until(lambda: health.refresh() or "Click stream: live" in health.panel.object, timeout=60)


def test_the_customers_timeline_spans_at_least_the_hour_up_to_the_latest_click():
    """One recent click read as microsecond ticks around a single point."""
    now = pd.Timestamp("2026-11-01 12:00:00", tz="UTC").to_pydatetime()
    one = pd.DataFrame({"time": pd.to_datetime(["2026-11-01 11:59:30"]), "product": ["auto_loan"]})
    start, end = timeline_window(one, now)
    click_ms = one["time"].iloc[0].timestamp() * 1000
    assert start < click_ms - 3_600_000 + 1 and click_ms < end and end - start >= 3_600_000
    days = pd.DataFrame(
        {"time": pd.to_datetime(["2026-10-29 08:00", "2026-11-01 11:00"]), "product": ["x"] * 2}
    )
    start, end = timeline_window(days, now)
    assert start < days["time"].iloc[0].timestamp() * 1000 and end > days["time"].iloc[1].timestamp() * 1000
    start, end = timeline_window(days.iloc[:0], now)
    assert end - start >= 3_600_000 and start < now.timestamp() * 1000 <= end
