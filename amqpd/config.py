"""Broker configuration: embedded defaults, a TOML file, then command-line flags."""

from __future__ import annotations

import dataclasses
import platform
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from amqpd import __version__, defaults
from amqpd.wire.connection import ConnectionSettings

# The RabbitMQ release whose behaviour amqpd follows (docs/compatibility.md).
RABBITMQ_VERSION = "3.10.8"


class ConfigError(Exception):
    """A configuration problem, worded for the person running the broker."""


@dataclass(frozen=True)
class BrokerConfig:
    bind: str = "0.0.0.0"
    port: int = 5672
    # The management HTTP API (RabbitMQ's port 15672); None ("off") turns it off.
    management_port: int | None = 15672
    # Prometheus metrics (rabbitmq_prometheus's port 15692); None ("off") turns them off.
    prometheus_port: int | None = 15692
    data_dir: str = "amqpd-data"
    # Where durable state lives: "sqlite" (a database in data_dir, survives
    # restarts) or "memory" (nothing survives the process; for tests).
    store: str = "sqlite"
    log_level: str = "info"
    default_user: str = "guest"
    default_pass: str = "guest"
    vhosts: tuple[str, ...] = ("/",)
    heartbeat: int = 60
    frame_max: int = 131072
    channel_max: int = 2047
    handshake_timeout: float = 10.0
    # While a connection's unsent output is over this many bytes, the commands
    # it sent wait and nothing more is read from it, until its client catches
    # up: a client that does not read cannot grow our memory.
    max_connection_output: int = 4 * 1024 * 1024
    # The largest message body accepted (RabbitMQ 3.10's default: 128 MiB).
    max_message_size: int = defaults.MAX_MESSAGE_SIZE
    # Unacked deliveries older than this (ms) close their channel; 0 turns it off.
    consumer_timeout: int = defaults.CONSUMER_TIMEOUT_MS
    # Publishers are blocked while the broker's memory is above this fraction of
    # the machine's, or free disk in the data folder is below disk_free_limit
    # bytes (RabbitMQ's defaults: 0.4 and 50 MB).
    memory_high_watermark: float = 0.4
    disk_free_limit: int = 50_000_000
    resource_check_interval: float = 1.0
    # What connection.start names: the RabbitMQ release amqpd behaves as. Clients
    # pick RabbitMQ's semantics by these (kombu's basic.qos, for one); amqpd's own
    # name and version are in the "information" property.
    product: str = "RabbitMQ"
    version: str = RABBITMQ_VERSION
    extra_users: dict[str, str] = field(default_factory=dict)
    # Users who may connect only from this machine, as RabbitMQ's loopback_users.
    loopback_users: tuple[str, ...] = ("guest",)
    # A definitions file imported at every start ("": none); with one, a first start
    # creates no default user or vhost, as RabbitMQ's load_definitions.
    load_definitions: str = ""

    def users(self) -> dict[str, str]:
        return {self.default_user: self.default_pass, **self.extra_users}

    def connection_settings(self) -> ConnectionSettings:
        return ConnectionSettings(
            frame_max=self.frame_max,
            channel_max=self.channel_max,
            heartbeat=self.heartbeat,
            handshake_timeout=self.handshake_timeout,
            server_properties=server_properties(self.product, self.version),
            max_message_size=self.max_message_size,
        )

    def replace(self, **changes: object) -> BrokerConfig:
        return dataclasses.replace(self, **changes)


# The capability keys RabbitMQ advertises; clients look them up before using a feature.
CAPABILITIES = (
    "publisher_confirms",
    "exchange_exchange_bindings",
    "basic.nack",
    "consumer_cancel_notify",
    "connection.blocked",
    "consumer_priorities",
    "authentication_failure_close",
    "per_consumer_qos",
    "direct_reply_to",
)


def server_properties(product: str, version: str) -> dict:
    return {
        "capabilities": {name: True for name in CAPABILITIES},
        "cluster_name": f"amqpd@{platform.node() or 'localhost'}",
        "copyright": "Copyright (c) the amqpd authors",
        "information": f"amqpd {__version__}, an AMQP 0-9-1 broker in Python that behaves as "
        f"RabbitMQ {RABBITMQ_VERSION}. Licensed under the MIT licence.",
        "platform": f"Python {platform.python_version()}",
        "product": product,
        "version": version,
    }


_TYPES = {f.name: f.type for f in dataclasses.fields(BrokerConfig)}


def load_toml(path: str | Path, base: BrokerConfig | None = None) -> BrokerConfig:
    """Read a TOML file over ``base``; unknown keys and wrong types are errors."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
    changes: dict[str, object] = {}
    for key, value in data.items():
        if key == "users":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ConfigError(f"{path}: 'users' must be a table of name = \"password\"")
            changes["extra_users"] = dict(value)
            continue
        if key not in _TYPES or key == "extra_users":
            raise ConfigError(f"{path}: unknown setting '{key}'")
        changes[key] = _coerce(path, key, value)
    return (base or BrokerConfig()).replace(**changes)


def _coerce(path: str | Path, key: str, value: object) -> object:
    expected = _TYPES[key]
    if expected == "int | None":  # a port that "off" turns off
        if value == "off":
            return None
        expected = "int"
    if expected == "tuple[str, ...]":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{path}: '{key}' must be a list of strings")
    if expected == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if expected == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected == "str" and isinstance(value, str):
        return value
    raise ConfigError(f"{path}: '{key}' must be of type {_TYPES[key]}, not {type(value).__name__}")
