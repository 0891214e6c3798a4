"""Settings: environment, flags overriding it, and one clear message per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import config
from connectors.config import ConfigError


def test_defaults_need_no_environment():
    settings = config.load([], environ={})
    assert settings.port == 5006
    assert settings.mysql is None and settings.kafka_servers == []
    assert settings.kafka_topic == "clicks"
    assert settings.data_dir == config.DEFAULT_DATA_DIR


def test_flags_override_the_environment():
    env = {"PORT": "7000", "C360_KAFKA_TOPIC": "env-topic", "C360_DATA_DIR": "/tmp/from-env"}
    settings = config.load(["--port", "8080", "--kafka-topic", "flag-topic"], environ=env)
    assert (settings.port, settings.kafka_topic, settings.data_dir) == (
        8080,
        "flag-topic",
        Path("/tmp/from-env"),
    )


def test_mysql_url_is_parsed_and_redacted():
    target = config.load([], environ={"C360_MYSQL_URL": "mysql://bank:s%40cret@db.internal:3307/core"}).mysql
    assert (target.host, target.port, target.user, target.password, target.database) == (
        "db.internal",
        3307,
        "bank",
        "s@cret",
        "core",
    )
    assert "s@cret" not in target.redacted() and target.redacted() == "mysql://bank@db.internal:3307/core"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"PORT": "eighty"}, "PORT (or --port)"),
        ({"PORT": "70000"}, "PORT (or --port)"),
        ({"C360_MYSQL_URL": "postgres://x@h/db"}, "C360_MYSQL_URL"),
        ({"C360_MYSQL_URL": "mysql://root@host:port/db"}, "C360_MYSQL_URL"),
        ({"C360_MYSQL_URL": "mysql://root@host:3306"}, "C360_MYSQL_URL"),
        ({"C360_KAFKA_BOOTSTRAP": "localhost"}, "C360_KAFKA_BOOTSTRAP"),
        ({"C360_KAFKA_BOOTSTRAP": "a:9092,b:99999"}, "C360_KAFKA_BOOTSTRAP"),
        ({"C360_KAFKA_TOPIC": " "}, "C360_KAFKA_TOPIC"),
        ({"C360_REPLAY_RATE": "0"}, "C360_REPLAY_RATE"),
        ({"C360_CUSTOMERS": "-1"}, "C360_CUSTOMERS"),
    ],
)
def test_bad_values_name_the_setting_to_fix(environ, named):
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        config.load([], environ=environ)


def test_a_file_as_data_dir_is_refused(tmp_path):
    file = tmp_path / "f"
    file.write_text("")
    with pytest.raises(ConfigError, match="C360_DATA_DIR"):
        config.load(["--data-dir", str(file)], environ={})


def test_kafka_bootstrap_list_is_split():
    settings = config.load(["--kafka-bootstrap", "k1:9092, k2:9093"], environ={})
    assert settings.kafka_servers == ["k1:9092", "k2:9093"]


def test_redis_url_is_parsed_with_its_tls_options_and_its_password_never_shown():
    url = "rediss://c360:s%40cret@redis.internal:6380/2?ssl_ca_certs=/etc/ssl/ca.pem"
    settings = config.load([], environ={"C360_REDIS_URL": url})
    target = settings.redis
    assert (target.host, target.port, target.database, target.user, target.password, target.tls) == (
        "redis.internal",
        6380,
        2,
        "c360",
        "s@cret",
        True,
    )
    assert target.options == {"ssl_ca_certs": "/etc/ssl/ca.pem"}
    assert target.redacted() == "rediss://c360:***@redis.internal:6380/2?ssl_ca_certs=/etc/ssl/ca.pem"
    assert "s%40cret" not in repr(settings) + repr(target)
    assert config.load([], environ={}).redis is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://h:6379", "scheme"),
        ("redis://:pw@:6379", "host"),
        ("redis://:topsecret@h:port/0", "numbers"),
        ("redis://:topsecret@h:6379/0?ssl_certs=x", "unknown option 'ssl_certs'"),
    ],
)
def test_a_bad_redis_url_names_the_setting_and_hides_the_password(url, problem):
    with pytest.raises(ConfigError, match="C360_REDIS_URL") as raised:
        config.load([], environ={"C360_REDIS_URL": url})
    assert problem in str(raised.value) and "topsecret" not in str(raised.value)


def test_processes_ports_and_proxy_are_checked():
    settings = config.load(["--processes", "3", "--port", "8000"], environ={})
    assert settings.backend_ports == [8001, 8002, 8003]
    assert config.load(
        ["--processes", "2", "--proxy", "none", "--port", "8000"], environ={}
    ).backend_ports == [
        8000,
        8001,
    ]
    for argv, named in [
        (["--processes", "0"], "C360_PROCESSES"),
        (["--proxy", "nginx"], "C360_PROXY"),
        (["--processes", "2", "--port", "8000", "--backend-port", "7999"], "C360_BACKEND_PORT"),
        (["--processes", "2", "--backend-port", "65535"], "C360_BACKEND_PORT"),
        (["--aggregator-group", " "], "C360_AGGREGATOR_GROUP"),
    ]:
        with pytest.raises(ConfigError, match=named):
            config.load(argv, environ={})


def test_settings_travel_to_a_child_process_through_its_environment():
    settings = config.load(
        ["--redis-url", "redis://:pw@h:1/0", "--processes", "2", "--port", "9000"], environ={}
    )
    assert config.load([], environ=config.environment(settings)) == settings
