"""The login: with C360_BASIC_AUTH set, `python -m dashboard` serves the login page first; failed attempts
are logged (user, address, time, never the password) and slowed, and the trailing-slash address works."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from http.cookiejar import CookieJar

import pytest
from panel.io.server import LoginUrlMixin

from connectors.desk import SQLiteDesk, utc_now
from connectors.layout import Layout
from connectors.logins import FREE_FAILURES
from tests.dashboard.conftest import DashboardServer
from tests.servers import wait_until

PASSWORD = "s3cret-demo"
WRONG = [f"wrong-guess-{n}" for n in range(FREE_FAILURES + 2)]


@pytest.fixture(scope="module")
def login_server(dashboard_data, tmp_path_factory):
    log = tmp_path_factory.mktemp("login") / "server.log"
    server = DashboardServer(
        dashboard_data, {"C360_BASIC_AUTH": PASSWORD, "C360_COOKIE_SECRET": "test-cookie-secret"}, log
    )
    server.start(ready="/login")
    try:
        yield server
    finally:
        server.stop()


def _post(opener, url: str, user: str, password: str) -> tuple[int, str]:
    """A login form sent: the status and the page."""
    form = urllib.parse.urlencode({"username": user, "password": password}).encode()
    try:
        with opener.open(url, data=form, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _opener():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


@pytest.mark.slow
def test_the_screen_is_behind_the_login_and_the_right_password_opens_it(login_server):
    opener = _opener()
    with opener.open(login_server.url, timeout=30) as response:
        assert "/login" in response.url, "an anonymous visitor is sent to the login page"
    status, page = _post(opener, f"{login_server.base}/login", "lead", "wrong")
    assert status == 401 and "Wrong user name or password." in page and "Customer 360" not in page
    status, _ = _post(opener, f"{login_server.base}/login", "lead", PASSWORD)
    assert status == 200
    with opener.open(login_server.url, timeout=60) as response:
        assert "/login" not in response.url and "Customer 360" in response.read().decode()
    assert "login of user 'lead' from 127.0.0.1 at " in login_server.logged()


@pytest.mark.slow
def test_the_address_with_a_trailing_slash_reaches_the_login_and_then_the_screen(login_server):
    opener = _opener()
    with opener.open(f"{login_server.url}/", timeout=30) as response:
        assert response.status == 200 and urllib.parse.urlsplit(response.url).path == "/login"
    status, _ = _post(opener, f"{login_server.base}/login", "rep2", PASSWORD)
    assert status == 200
    with opener.open(f"{login_server.url}/", timeout=60) as response:
        assert "Customer 360" in response.read().decode()


@pytest.mark.slow
def test_failed_logins_are_logged_without_the_password_and_slowed(login_server):
    url, opener = f"{login_server.base}/login", _opener()
    for password in WRONG[:FREE_FAILURES]:
        status, page = _post(opener, url, "rep", password)
        assert status == 401 and "waits longer" not in page, "the first failures cost nothing"
    answer: dict = {}
    slowed = threading.Thread(target=lambda: answer.update(page=_post(opener, url, "rep", WRONG[-2])))
    slowed.start()  # this failure's answer waits a second ...
    wait_until(lambda: f"({FREE_FAILURES + 1} failed in a row)" in login_server.logged(), timeout=30)
    status, page = _post(opener, url, "rep", PASSWORD)  # ... and meanwhile even the right one is refused
    assert status == 429 and "Too many failed attempts: try again in 1 s." in page
    slowed.join(timeout=30)
    assert answer["page"][0] == 401 and "each answer waits longer" in answer["page"][1]
    logged = login_server.logged()
    assert logged.count("failed login for user 'rep' from 127.0.0.1 at 20") == FREE_FAILURES + 1
    assert all(f"({number} failed in a row)" in logged for number in range(1, FREE_FAILURES + 2))
    assert "login refused for user 'rep' from 127.0.0.1" in logged
    assert not any(password in logged for password in [*WRONG, PASSWORD])


def test_panels_login_redirect_is_still_relative_to_the_page():
    """The workaround in dashboard/login.py's ``get_user``: Panel redirects anonymous visitors to
    ``./login``, which from ``/customer360/`` is a page that does not exist. When Panel makes it absolute,
    this fails and the trailing-slash redirect can go."""

    class Handler(LoginUrlMixin):
        class application:
            class auth_provider:
                get_login_url = None
                login_url = "/login"

    assert Handler().get_login_url() == "./login"


@pytest.mark.slow
def test_the_audit_names_the_logged_in_user_not_what_the_page_says(login_server, dashboard_data):
    opener = _opener()
    status, _ = _post(opener, f"{login_server.base}/login", "auditor-7", PASSWORD)
    assert status == 200
    with opener.open(f"{login_server.url}?user=someone-else", timeout=60) as response:
        assert "Customer 360" in response.read().decode()
    layout = Layout(dashboard_data)
    desk = SQLiteDesk(layout.desk)
    try:
        customer = layout.read_manifest()["featured_customers"][0]
        since = utc_now() - timedelta(minutes=10)

        def agents() -> list[str]:
            return desk.audit(customer, since, utc_now() + timedelta(seconds=1))["agent"].tolist()

        wait_until(lambda: "auditor-7" in agents(), timeout=30, message="the opening in the audit")
        assert "someone-else" not in agents()
    finally:
        desk.close()
