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
