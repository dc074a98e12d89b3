"""The management API as the commands see it: JSON in, JSON out, one error type.

The broker is found, in this order, from ``--url http://user:pass@host:port``, the
``AMQPD_MANAGEMENT_URL`` environment variable, or the ``--config`` file the broker runs with
(its bind address, management port and default user); else ``http://guest:guest@127.0.0.1:15672``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import urllib.parse
from dataclasses import dataclass

from amqpd.config import BrokerConfig, ConfigError, load_toml
from amqpd.ctl.errors import UNAVAILABLE, CtlError

ENV_URL = "AMQPD_MANAGEMENT_URL"
DEFAULT_TIMEOUT = 60.0
JsonValue = object


class ApiError(Exception):
    """The API answered with an error status; ``reason`` is its JSON reason (or the body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def quote(segment: str) -> str:
    """One path segment, percent-encoded as the API routes it (a '/' never splits it)."""
    return urllib.parse.quote(segment, safe="")


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    user: str
    password: str

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"


def target_from_url(url: str) -> Target:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise CtlError(f"Error: --url must look like http://user:pass@host:port, not '{url}'", 64)
    user = urllib.parse.unquote(parts.username or "guest")
    password = urllib.parse.unquote(parts.password or "guest")
    return Target(parts.hostname, parts.port or 15672, user, password)


def target_from_config(path: str) -> Target:
    try:
        config = load_toml(path)
    except (ConfigError, OSError) as err:
        raise CtlError(f"Error: {err}", 64) from None
    if config.management_port is None:
        raise CtlError(f"Error: the management API is off in {path} (management_port)", 64)
    return _target(config)


def _target(config: BrokerConfig) -> Target:
    host = "127.0.0.1" if config.bind in ("0.0.0.0", "::", "") else config.bind
    port = config.management_port or 15672
    return Target(host, port, config.default_user, config.default_pass)


def find_target(url: str | None, config_path: str | None) -> Target:
    if url:
        return target_from_url(url)
    if os.environ.get(ENV_URL):
        return target_from_url(os.environ[ENV_URL])
    if config_path:
        return target_from_config(config_path)
    return _target(BrokerConfig())


class Client:
    """Blocking calls to one broker's API; every failure is an ApiError or a CtlError."""

    def __init__(self, target: Target, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = target
        self.timeout = timeout
        token = base64.b64encode(f"{target.user}:{target.password}".encode()).decode()
        self._headers = {"authorization": f"Basic {token}", "content-type": "application/json"}

    def get(self, path: str) -> JsonValue:
        return self.call("GET", path)

    def put(self, path: str, body: JsonValue = None) -> JsonValue:
        return self.call("PUT", path, {} if body is None else body)

    def post(self, path: str, body: JsonValue = None) -> JsonValue:
        return self.call("POST", path, {} if body is None else body)

    def delete(self, path: str, headers: dict[str, str] | None = None) -> JsonValue:
        return self.call("DELETE", path, headers=headers)

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return True

    def call(
        self,
        method: str,
        path: str,
        body: JsonValue = None,
        headers: dict[str, str] | None = None,
    ) -> JsonValue:
        data = None if body is None else json.dumps(body).encode()
        status, text = self._send(method, path, data, {**self._headers, **(headers or {})})
        if status >= 400:
            raise ApiError(status, _reason(text))
        return json.loads(text) if text.strip() else None

    def _send(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str]:
        conn = http.client.HTTPConnection(self.target.host, self.target.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except TimeoutError:
            raise CtlError(
                f"Error: operation timed out after {self.timeout:g} seconds", 75
            ) from None
        except OSError as err:
            raise unreachable(self.target, err) from None
        finally:
            conn.close()


def unreachable(target: Target, err: OSError) -> CtlError:
    why = err.strerror or str(err) or type(err).__name__
    return CtlError(
        f"Error: unable to reach the broker's management API at {target.address} ({why}); "
        "is amqpd running, and with the management port given by --url or --config?",
        UNAVAILABLE,
    )


def _reason(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(body, dict):
        return str(body.get("reason") or body.get("error") or text)
    return text.strip()
