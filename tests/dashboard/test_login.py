"""Optional login: with C360_BASIC_AUTH set, `python -m dashboard` serves Panel's login page first."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from tests.servers import answers, free_port, wait_until


@pytest.mark.slow
def test_basic_auth_setting_puts_the_screen_behind_a_login(dashboard_data):
    port = free_port()
    env = {**os.environ, "C360_BASIC_AUTH": "s3cret-demo", "C360_COOKIE_SECRET": "test-cookie-secret"}
    server = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--port", str(port), "--data-dir", str(dashboard_data)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/login") or server.poll() is not None, timeout=120, interval=0.5)
        assert server.poll() is None
        with urllib.request.urlopen(f"{base}/customer360", timeout=10) as response:
            assert "/login" in response.url, "an anonymous visitor is sent to the login page"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        wrong = urllib.parse.urlencode({"username": "rep", "password": "wrong"}).encode()
        with opener.open(f"{base}/login", data=wrong, timeout=10) as response:
            assert "Customer 360" not in response.read().decode()
        right = urllib.parse.urlencode({"username": "rep", "password": "s3cret-demo"}).encode()
        with opener.open(f"{base}/login", data=right, timeout=60) as response:
            assert response.status == 200
        with opener.open(f"{base}/customer360", timeout=60) as response:
            assert "/login" not in response.url and "Customer 360" in response.read().decode()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
