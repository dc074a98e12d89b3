"""Requests and responses as the resources see them: no ASGI, no sockets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from amqpd.management.errors import bad_request


@dataclass
class Request:
    method: str
    segments: list[str]  # the path, one decoded segment each, no empty trailing one
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # filled by the router
    user: object = None  # the authenticated access.User, filled by auth

    @classmethod
    def parse_query(cls, raw: bytes) -> dict[str, str]:
        parsed = parse_qs(raw.decode("latin-1"), keep_blank_values=True)
        return {key: values[-1] for key, values in parsed.items()}

    def json(self) -> object:
        """The body as JSON, with RabbitMQ's refusal when it is not."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting too
            raise bad_request("not_json") from None

    def json_object(self) -> dict:
        value = self.json()
        if not isinstance(value, dict):
            raise bad_request("not_json")
        return value


@dataclass
class Response:
    status: int = 200
    body: object = None  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


def created_or_updated(created: bool) -> Response:
    """PUT answers 201 when it created the object, 204 when it existed."""
    return Response(201 if created else 204)


NO_CONTENT = Response(204)
