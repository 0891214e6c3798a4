"""The one place where Customer 360 reads its settings.

Every setting comes from an environment variable and can be overridden by a command-line flag
(``panel serve dashboard/customer360.py --args --port 8080`` or any ``python -m`` command of the
project). Values are validated when they are read, so a typo stops the program with one message that
names the variable and the flag to fix, instead of failing later somewhere deep inside a connector.

No secret is ever echoed: every message that shows a setting shows it through :func:`redact`, and every
process that loads settings keeps their secrets (passwords in URLs, the login passwords, the cookie secret,
Kafka's secret options) out of its log records.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = PROJECT_ROOT / ".data"


class ConfigError(ValueError):
    """A setting has a value the program cannot use; the message names the setting."""


@dataclass(frozen=True)
class MySQLTarget:
    """Where the core-banking tables live, parsed from ``C360_MYSQL_URL``."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def connect_kwargs(self) -> dict:
        """Keyword arguments for ``pymysql.connect``."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
        }

    def redacted(self) -> str:
        """The URL with ``***`` for its password, safe to show on screen and in logs."""
        user = f"{self.user}:***" if self.password else self.user
        return f"mysql://{user}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class RedisTarget:
    """Where the shared live click state lives, parsed from ``C360_REDIS_URL``.

    The URL is handed to redis-py as it is (``redis.Redis.from_url``), so its user and password (Redis 6
    ACLs), database number and TLS options (``rediss://…?ssl_ca_certs=…``) all pass through.
    """

    url: str = field(repr=False)
    host: str
    port: int
    database: int
    user: str | None
    password: str | None = field(repr=False)
    tls: bool
    options: dict[str, str]

    def redacted(self) -> str:
        """The URL with ``***`` for its password, safe to show on screen and in logs."""
        return redact(self.url)


# A URL's password: what follows "scheme://user:" (or "user:" at the start of a word, without a scheme) up to
# the last "@" before the host, as URL parsers read "user:p@ss@host".
_URL_PASSWORD = re.compile(
    r"""([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'"]*:|(?:^|(?<=[\s'"(=,]))[^\s:/@'"]+:(?!//))[^\s'"]*@"""
)
REDACTED = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` safe to show and log: the password of every URL in it replaced by ``***``
    (``scheme://user:***@host…``), and so is every one of ``secrets`` it contains.

    The one redaction of the project: error messages, status lines and log records all go through it.
    """
    text = _URL_PASSWORD.sub(lambda found: f"{found.group(1)}{REDACTED}@", text)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


SECRET_OPTION = re.compile(r"password|secret|\.key\.pem$|oauthbearer\.config", re.IGNORECASE)  # Kafka's
MIN_SECRET = 4  # characters: shorter values are too common in text to be replaced wherever they appear
_logged_secrets: set[str] = set()
_logs_lock = threading.Lock()


def keep_out_of_logs(secrets: Iterable[str]) -> None:
    """Redact ``secrets`` (and URL passwords) from every log record this process makes from now on.

    A log record factory does it, so that every logger and handler (ours, Bokeh's, librdkafka's) gets the
    redacted message; settings loaded later add theirs.
    """
    global _make_record
    with _logs_lock:
        _logged_secrets.update(secrets)
        if logging.getLogRecordFactory() is not _redacted_record:
            _make_record = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_redacted_record)


_make_record = logging.getLogRecordFactory()


def _redacted_record(*args, **kwargs) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed call: logging reports it when the record is handled
        return record
    safe = redact(message, _logged_secrets)
    if safe != message:
        record.msg, record.args = safe, None
    return record


def _setting(env: str, flag: str, help: str, default=None, kind=str, secret: bool = False):
    """A setting's field; a ``secret`` one (it may hold a password) is left out of the settings' repr."""
    return field(
        default=default, repr=not secret, metadata={"env": env, "flag": flag, "help": help, "kind": kind}
    )


@dataclass(frozen=True)
class Settings:
    """All settings of a run. Build it with :func:`load`."""

    data_dir: Path = _setting(
        "C360_DATA_DIR", "--data-dir", "folder of the generated or real source data", DEFAULT_DATA_DIR, Path
    )
    index_dir: Path | None = _setting(
        "C360_INDEX_DIR",
        "--index-dir",
        "folder of the directory's builds and the click replay's summary, shared by every server process;"
        " unset: <data dir>/index",
        kind=Path,
    )
    mysql_url: str | None = _setting(
        "C360_MYSQL_URL",
        "--mysql-url",
        "mysql://user:password@host:port/database of the core-banking tables; unset: embedded files",
        secret=True,
    )
    kafka_bootstrap: str | None = _setting(
        "C360_KAFKA_BOOTSTRAP",
        "--kafka-bootstrap",
        "host:port[,host:port] of the Kafka cluster with the click stream; unset: replay generated clicks",
    )
    kafka_topic: str = _setting("C360_KAFKA_TOPIC", "--kafka-topic", "topic of the click stream", "clicks")
    kafka_config: Path | None = _setting(
        "C360_KAFKA_CONFIG",
        "--kafka-config",
        "file of extra Kafka client settings, one key=value a line (security.protocol, sasl.*, ssl.*)",
        kind=Path,
    )
    port: int = _setting("PORT", "--port", "port of the dashboard server", 5006, int)
    address: str = _setting(
        "C360_ADDRESS",
        "--address",
        "address the dashboard listens on (0.0.0.0 for every interface)",
        "127.0.0.1",
    )
    allowed_origins_text: str | None = _setting(
        "C360_ALLOWED_ORIGINS",
        "--allowed-origins",
        "extra host[:port] names browsers may use to reach the dashboard, comma-separated",
    )
    basic_auth: str | None = _setting(
        "C360_BASIC_AUTH",
        "--basic-auth",
        "turn on Panel's login: one shared password, or a JSON file of user: password",
        secret=True,
    )
    cookie_secret: str | None = _setting(
        "C360_COOKIE_SECRET",
        "--cookie-secret",
        "secret that signs login cookies; unset: random per start",
        secret=True,
    )
    customers: int = _setting(
        "C360_CUSTOMERS", "--customers", "size of the sample data set `make demo` generates", 100_000, int
    )
    seed: int = _setting("C360_SEED", "--seed", "seed of the sample data generator", 360, int)
    replay_rate: float = _setting(
        "C360_REPLAY_RATE", "--replay-rate", "clicks per second replayed when no Kafka is set", 50.0, float
    )
    # Beyond one machine: the click aggregators, the shared live state and many dashboard processes.
    redis_url: str | None = _setting(
        "C360_REDIS_URL",
        "--redis-url",
        "redis://[user:password@]host:port[/db] (rediss:// for TLS) of the live click state the aggregators "
        "write; unset: each dashboard process keeps its own",
        secret=True,
    )
    aggregator_group: str = _setting(
        "C360_AGGREGATOR_GROUP",
        "--aggregator-group",
        "Kafka consumer group id of the click aggregators",
        "customer360-aggregators",
    )
    processes: int = _setting(
        "C360_PROCESSES",
        "--processes",
        "dashboard processes `python -m dashboard` starts behind HAProxy (1: one process, no proxy)",
        1,
        int,
    )
    backend_port: int | None = _setting(
        "C360_BACKEND_PORT",
        "--backend-port",
        "first of the consecutive ports of the dashboard processes behind the proxy; unset: PORT + 1 "
        "(PORT with --proxy none)",
        kind=int,
    )
    verify: bool = _setting(
        "C360_VERIFY",
        "--verify",
        "ask the caller's date of birth, ZIP and last four of the SSN before private details show: on or off "
        "(off for demos; the page says so)",
        True,
        lambda raw: parse_switch("verify", raw),
    )
    proxy: str = _setting(
        "C360_PROXY",
        "--proxy",
        "what fronts the processes: haproxy (started on PORT), or none (a proxy on another machine does)",
        "haproxy",
    )

    @property
    def index_folder(self) -> Path:
        """Where the directory's builds and the click replay's summary live (``C360_INDEX_DIR``, by default
        inside the data folder)."""
        return Path(self.index_dir) if self.index_dir else Path(self.data_dir) / "index"

    @property
    def mysql(self) -> MySQLTarget | None:
        """The parsed MySQL target, or None for the embedded banking tables."""
        return parse_mysql_url(self.mysql_url) if self.mysql_url else None

    @property
    def allowed_origins(self) -> list[str]:
        """Extra websocket origins for panel serve."""
        return [o.strip() for o in (self.allowed_origins_text or "").split(",") if o.strip()]

    @property
    def kafka_options(self) -> dict[str, str]:
        """Extra librdkafka settings read from ``kafka_config`` (empty when it is unset)."""
        return parse_kafka_config(self.kafka_config) if self.kafka_config else {}

    @property
    def redis(self) -> RedisTarget | None:
        """The parsed Redis target, or None when every process keeps its own live state."""
        return parse_redis_url(self.redis_url) if self.redis_url else None

    @property
    def backend_ports(self) -> list[int]:
        """The ports of the dashboard processes behind the proxy (``processes`` of them): from
        ``backend_port``, else after the proxy's PORT, or from PORT on when the proxy is elsewhere."""
        first = self.backend_port or (self.port + 1 if self.proxy == "haproxy" else self.port)
        return list(range(first, first + self.processes))

    @property
    def kafka_servers(self) -> list[str]:
        """The bootstrap servers as a list (empty when Kafka is not configured)."""
        return parse_bootstrap(self.kafka_bootstrap) if self.kafka_bootstrap else []

    @property
    def logins(self) -> dict[str, str] | str | None:
        """The login's passwords: ``{user: password}`` from a JSON file, one shared password, or None
        (no login)."""
        return parse_basic_auth(self.basic_auth) if self.basic_auth else None

    @property
    def secrets(self) -> set[str]:
        """Every secret these settings hold, for :func:`redact`: the passwords of the MySQL and Redis URLs,
        the login's passwords, the cookie secret and Kafka's secret options."""
        found = {self.cookie_secret or ""}
        for target in (self.mysql, self.redis):
            found.add(target.password or "" if target else "")
        logins = self.logins
        found.update(logins.values() if isinstance(logins, dict) else [logins or ""])
        found.update(value for key, value in self.kafka_options.items() if SECRET_OPTION.search(key))
        return {secret for secret in found if len(secret) >= MIN_SECRET}


def describe(name: str) -> str:
    """How messages name a setting: its variable and its flag."""
    meta = {f.name: f.metadata for f in fields(Settings)}[name]
    return f"{meta['env']} (or {meta['flag']})"


def parse_mysql_url(url: str) -> MySQLTarget:
    """Parse ``mysql://user:password@host:port/database``; raise ConfigError naming the setting."""
    parts = urlsplit(url)
    problem = None
    if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
        problem = "the scheme must be mysql://"
    elif not parts.hostname:
        problem = "a host is missing"
    elif not parts.path.strip("/"):
        problem = "the database name is missing (…/c360)"
    else:
        port, problem = _url_port(parts, 3306)
    if problem:
        raise ConfigError(
            f"{describe('mysql_url')}: {problem}; expected mysql://user:password@host:port/database, "
            f"got {redact(url)!r}"
        )
    return MySQLTarget(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=parts.path.strip("/"),
    )


REDIS_URL_OPTIONS = frozenset(
    {
        "db",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_password",
        "ssl_cert_reqs",
        "ssl_check_hostname",
        "ssl_min_version",
        "ssl_ciphers",
        "socket_timeout",
        "socket_connect_timeout",
        "health_check_interval",
        "client_name",
        "protocol",
    }
)


def parse_redis_url(url: str) -> RedisTarget:
    """Parse ``redis://`` or ``rediss://`` (TLS); raise ConfigError naming the setting, password hidden."""
    parts = urlsplit(url)
    problem = None
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - REDIS_URL_OPTIONS)
    if parts.scheme not in ("redis", "rediss"):
        problem = "the scheme must be redis:// (or rediss:// for TLS)"
    elif not parts.hostname:
        problem = "a host is missing"
    elif unknown:
        problem = f"unknown option {unknown[0]!r} (known: {', '.join(sorted(REDIS_URL_OPTIONS))})"
    else:
        port, problem = _url_port(parts, 6379)
        database_text = parts.path.strip("/") or options.get("db") or "0"
        if problem is None and not database_text.isdigit():
            problem = f"the database {database_text!r} is not a number"
        database = int(database_text) if problem is None else 0
    if problem:
        raise ConfigError(
            f"{describe('redis_url')}: {problem}; expected redis://[user:password@]host:port[/db], "
            f"got {redact(url)!r}"
        )
    return RedisTarget(
        url=url,
        host=parts.hostname,
        port=port,
        database=database,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=parts.scheme == "rediss",
        options=options,
    )


def _url_port(parts: SplitResult, default: int) -> tuple[int, str | None]:
    """A URL's port (``default`` when it names none), or why it is no port."""
    text = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
    if not text:
        return default, None
    if not text.isdigit():
        return default, f"the port {text!r} is not a number"
    if not 0 < int(text) < 65536:
        return default, f"the port {text} is not from 1 to 65535"
    return int(text), None


_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def parse_bootstrap(value: str) -> list[str]:
    """Split and check a Kafka bootstrap list; raise ConfigError naming the setting."""
    servers = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in servers if not _HOST_PORT.match(s) or not 0 < int(s.rsplit(":", 1)[1]) < 65536]
    if not servers or bad:
        raise ConfigError(
            f"{describe('kafka_bootstrap')}: expected host:port[,host:port], got {redact(value)!r}"
        )
    return servers


def parse_kafka_config(path: Path) -> dict[str, str]:
    """``key=value`` lines of a Kafka client properties file (``#`` comments allowed)."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{describe('kafka_config')}: cannot read {path}: {error.strerror}") from None
    options = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{describe('kafka_config')}: {path} line {number} is not key=value")
        options[key.strip()] = value.strip()
    return options


KIND_NAMES = {int: "a whole number", float: "a number"}
SWITCH = {
    "on": True,
    "true": True,
    "1": True,
    "yes": True,
    "off": False,
    "false": False,
    "0": False,
    "no": False,
}


def parse_switch(name: str, raw: str) -> bool:
    """An on/off setting: on, true, 1, yes or off, false, 0, no (any case); raise ConfigError naming it."""
    value = SWITCH.get(str(raw).strip().lower())
    if value is None:
        raise ConfigError(f"{describe(name)}: expected on or off, got {raw!r}")
    return value


def _convert(name: str, kind, raw: str):
    try:
        value = kind(raw)
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError(f"{describe(name)}: expected {KIND_NAMES[kind]}, got {raw!r}") from None
    return value


def parse_basic_auth(value: str) -> dict[str, str] | str:
    """``C360_BASIC_AUTH``: the path of a JSON file of ``{"user": "password"}``, or one shared password."""
    path = Path(value)
    if not (value.endswith(".json") or path.is_file()):
        return value
    try:
        logins = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{describe('basic_auth')}: cannot read {path}: {error.strerror}") from None
    except ValueError:
        raise ConfigError(f"{describe('basic_auth')}: {path} is not JSON") from None
    if (
        not isinstance(logins, dict)
        or not logins
        or not all(
            isinstance(user, str) and isinstance(password, str) and password
            for user, password in logins.items()
        )
    ):
        raise ConfigError(f'{describe("basic_auth")}: {path} must hold {{"user": "password", …}}')
    return logins


def _check_address(address: str) -> None:
    """The address to listen on must be an IP address or a name this machine resolves."""
    try:
        ipaddress.ip_address(address)
        return
    except ValueError:
        pass
    try:
        socket.getaddrinfo(address, None)
    except (OSError, UnicodeError):
        raise ConfigError(
            f"{describe('address')}: {address!r} is not an IP address or a host name this machine "
            "resolves; use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
        ) from None


def _validate(settings: Settings) -> Settings:
    if not 0 < settings.port < 65536:
        raise ConfigError(f"{describe('port')}: expected a port from 1 to 65535, got {settings.port}")
    if settings.customers < 1:
        raise ConfigError(f"{describe('customers')}: expected at least 1, got {settings.customers}")
    if not settings.replay_rate > 0:
        raise ConfigError(f"{describe('replay_rate')}: expected a positive rate, got {settings.replay_rate}")
    if not settings.kafka_topic.strip():
        raise ConfigError(f"{describe('kafka_topic')}: the topic name is empty")
    if settings.data_dir.exists() and not settings.data_dir.is_dir():
        raise ConfigError(f"{describe('data_dir')}: {settings.data_dir} is a file, not a folder")
    if settings.index_folder.exists() and not settings.index_folder.is_dir():
        raise ConfigError(f"{describe('index_dir')}: {settings.index_folder} is a file, not a folder")
    _validate_scaling(settings)
    _check_address(settings.address)
    settings.mysql  # noqa: B018 - parsing validates the URL
    settings.redis  # noqa: B018 - parsing validates the URL
    settings.kafka_servers  # noqa: B018 - parsing validates the list
    settings.kafka_options  # noqa: B018 - parsing validates the file
    settings.logins  # noqa: B018 - reading the file validates it
    return settings


def _validate_scaling(settings: Settings) -> None:
    if not 1 <= settings.processes <= 64:
        raise ConfigError(f"{describe('processes')}: expected 1 to 64 processes, got {settings.processes}")
    if settings.proxy not in ("haproxy", "none"):
        raise ConfigError(f"{describe('proxy')}: expected haproxy or none, got {settings.proxy!r}")
    if not settings.aggregator_group.strip():
        raise ConfigError(f"{describe('aggregator_group')}: the consumer group id is empty")
    ports = settings.backend_ports
    if settings.processes > 1 and not 0 < ports[0] <= ports[-1] < 65536:
        raise ConfigError(
            f"{describe('backend_port')}: the ports {ports[0]}–{ports[-1]} are not all between 1 and 65535"
        )
    if settings.processes > 1 and settings.proxy == "haproxy" and settings.port in ports:
        raise ConfigError(
            f"{describe('backend_port')}: the processes' ports {ports[0]}–{ports[-1]} include the proxy's "
            f"port {settings.port}"
        )


def environment(settings: Settings) -> dict[str, str]:
    """The settings as environment variables, for a child process that must run with the same ones.

    Children get them in their environment rather than on their command line, where any user of the
    machine could read a password (``ps``).
    """
    variables = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is not None:
            variables[f.metadata["env"]] = str(value)
    return variables


def add_arguments(parser: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    """Add the settings' flags to a command's parser (all of them, or those named in ``only``)."""
    for f in fields(Settings):
        if only is None or f.name in only:
            parser.add_argument(
                f.metadata["flag"],
                dest=f.name,
                default=None,
                help=f"{f.metadata['help']} [{f.metadata['env']}]",
            )


def load(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    namespace: argparse.Namespace | None = None,
) -> Settings:
    """Settings from the environment, overridden by flags in ``argv`` (default: the command line).

    Under ``panel serve app.py --args --port 8080`` the app's command line is what follows ``--args``.
    Unknown flags are ignored, so a host program's own flags do not get in the way.
    """
    environ = os.environ if environ is None else environ
    if namespace is None:
        parser = argparse.ArgumentParser(add_help=False)
        add_arguments(parser)
        namespace, _ = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    values = {}
    for f in fields(Settings):
        raw = getattr(namespace, f.name, None)
        if raw is None:
            raw = environ.get(f.metadata["env"]) or None
        if raw is not None:
            values[f.name] = _convert(f.name, f.metadata["kind"], raw)
    settings = _validate(Settings(**values))
    keep_out_of_logs(settings.secrets)
    return settings


def load_or_exit(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> Settings:
    """Settings for a command line tool: a bad value ends the command with one line and exit code 2."""
    try:
        return load(namespace=namespace)
    except ConfigError as error:
        parser.exit(2, f"error: {error}\n")


def table() -> list[tuple[str, str, str, str]]:
    """(variable, flag, default, meaning) rows: the README's configuration table is checked against it."""
    return [
        (
            f.metadata["env"],
            f.metadata["flag"],
            "" if f.default is None else str(f.default),
            f.metadata["help"],
        )
        for f in fields(Settings)
    ]
