"""Settings: environment, flags overriding it, one clear message per bad value, and no secret echoed."""

from __future__ import annotations

import json
import logging
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
    assert target.redacted() == "mysql://bank:***@db.internal:3307/core"
    assert config.load([], environ={"C360_MYSQL_URL": "mysql://root@h:1/db"}).mysql.redacted() == (
        "mysql://root@h:1/db"
    )


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
        ("redis://:topsecret@h:port/0", "the port 'port' is not a number"),
        ("redis://:topsecret@h:6379/zero", "the database 'zero' is not a number"),
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


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("mysql://c360:pw@127.0.0.1:13306/", "mysql://c360:***@127.0.0.1:13306/"),
        ("mysql://u:p@ss@h:1/db", "mysql://u:***@h:1/db"),  # as URL parsers read it: up to the last @
        ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
        ("c360:pw@host/db", "c360:***@host/db"),  # no scheme
        ("SASL_SSL://user:pw@broker:9092,b2:9092", "SASL_SSL://user:***@broker:9092,b2:9092"),
        ("got 'mysql://a:b@h/db' and redis://c:d@h", "got 'mysql://a:***@h/db' and redis://c:***@h"),
        ("mysql://root@h:1/db", "mysql://root@h:1/db"),
        ("http://host:8080/path", "http://host:8080/path"),
        ("k1:9092,k2:9093", "k1:9092,k2:9093"),
    ],
)
def test_redact_replaces_every_url_password(text, redacted):
    assert config.redact(text) == redacted


def test_a_bad_mysql_url_is_named_without_its_password():
    """The issue's case: no database name. The message names the problem, never the password."""
    for url, problem in [
        ("mysql://c360:pw-7781@127.0.0.1:13306/", "the database name is missing"),
        ("mysql://c360:pw-7781@127.0.0.1:99999/db", "the port 99999 is not from 1 to 65535"),
        ("mysql://c360:pw-7781@127.0.0.1:abc/db", "the port 'abc' is not a number"),
        ("c360:pw-7781@127.0.0.1/db", "the scheme must be mysql://"),
    ]:
        with pytest.raises(ConfigError, match="C360_MYSQL_URL") as raised:
            config.load([], environ={"C360_MYSQL_URL": url})
        assert problem in str(raised.value) and "pw-7781" not in str(raised.value)
        assert "c360:***@127.0.0.1" in str(raised.value)


def test_a_bad_bootstrap_list_is_named_without_credentials():
    with pytest.raises(ConfigError, match="C360_KAFKA_BOOTSTRAP") as raised:
        config.load([], environ={"C360_KAFKA_BOOTSTRAP": "SASL_SSL://user:pw-7781@broker:9092"})
    assert "pw-7781" not in str(raised.value)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "eighty"}, "PORT (or --port): expected a whole number, got 'eighty'"),
        ({"C360_REPLAY_RATE": "fast"}, "C360_REPLAY_RATE (or --replay-rate): expected a number, got 'fast'"),
        ({"C360_ADDRESS": "999.1.1.1"}, "C360_ADDRESS (or --address): '999.1.1.1' is not an IP address"),
        ({"C360_BASIC_AUTH": "/nowhere/users.json"}, "cannot read /nowhere/users.json"),
    ],
)
def test_messages_say_what_was_expected_in_words(environ, message):
    with pytest.raises(ConfigError) as raised:
        config.load([], environ=environ)
    assert message in str(raised.value)


def test_a_listen_address_may_be_an_ip_address_or_a_host_name():
    assert config.load(["--address", "0.0.0.0"], environ={}).address == "0.0.0.0"
    assert config.load(["--address", "localhost"], environ={}).address == "localhost"


def test_login_passwords_come_from_one_password_or_a_json_file(tmp_path):
    assert config.load([], environ={"C360_BASIC_AUTH": "opensesame"}).logins == "opensesame"
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"rep": "one", "lead": "two"}))
    assert config.load([], environ={"C360_BASIC_AUTH": str(users)}).logins == {"rep": "one", "lead": "two"}
    users.write_text(json.dumps(["rep"]))
    with pytest.raises(ConfigError, match="must hold"):
        config.load([], environ={"C360_BASIC_AUTH": str(users)})


def test_secrets_stay_out_of_the_settings_repr_and_of_every_log_record(tmp_path, caplog):
    kafka = tmp_path / "kafka.properties"
    kafka.write_text("security.protocol=SASL_SSL\nsasl.username=c360\nsasl.password=kafka-pw-5521\n")
    environ = {
        "C360_MYSQL_URL": "mysql://c360:mysql-pw-5521@db:3306/core",
        "C360_REDIS_URL": "redis://:redis-pw-5521@cache:6379/0",
        "C360_BASIC_AUTH": "login-pw-5521",
        "C360_COOKIE_SECRET": "cookie-5521",
        "C360_KAFKA_BOOTSTRAP": "broker:9092",
        "C360_KAFKA_CONFIG": str(kafka),
    }
    settings = config.load([], environ=environ)
    secrets = ["mysql-pw-5521", "redis-pw-5521", "login-pw-5521", "cookie-5521", "kafka-pw-5521"]
    assert settings.secrets == set(secrets)
    assert not any(secret in repr(settings) for secret in secrets)
    with caplog.at_level(logging.INFO):
        logging.getLogger("anywhere").info("settings: %s", " ".join(secrets))
        logging.getLogger("anywhere").warning("connecting to mysql://someone:other-pw@db/core")
    assert caplog.records and not any(secret in caplog.text for secret in [*secrets, "other-pw"])
    assert "settings: *** *** *** *** ***" in caplog.text


@pytest.mark.parametrize(("raw", "value"), [("on", True), ("OFF", False), ("true", True), ("0", False)])
def test_caller_verification_is_on_by_default_and_switched_by_name(raw, value):
    assert config.load([], environ={}).verify is True
    assert config.load([], environ={"C360_VERIFY": raw}).verify is value
    child = config.environment(config.load(["--verify", raw], environ={}))
    assert config.load([], environ=child).verify is value, "it travels to a child process"


def test_a_bad_verification_switch_names_the_setting():
    with pytest.raises(
        config.ConfigError, match=r"C360_VERIFY \(or --verify\): expected on or off, got 'maybe'"
    ):
        config.load([], environ={"C360_VERIFY": "maybe"})
