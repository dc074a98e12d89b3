"""A small client of the management HTTP API, for tests that run against any broker.

Answers are (status, headers, body): the body parsed as JSON when it is JSON,
else the raw bytes. Names go into paths one percent-encoded segment each.
"""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass
from urllib.parse import quote, urlparse


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: object

    @property
    def json(self) -> object:
        return self.body


def path(*segments: str) -> str:
    """/api/... with each segment percent-encoded (a vhost "/" becomes %2F)."""
    return "/api/" + "/".join(quote(s, safe="") for s in segments)


class ApiClient:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parsed = urlparse(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 15672
        self.user = parsed.username or "guest"
        self.password = parsed.password or "guest"
        self.timeout = timeout

    def as_user(self, user: str, password: str) -> ApiClient:
        other = ApiClient(f"http://{self.host}:{self.port}", self.timeout)
        other.user, other.password = user, password
        return other

    def request(
        self,
        method: str,
        target: str,
        body: object = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Answer:
        sent = dict(headers or {})
        if auth:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            sent.setdefault("Authorization", f"Basic {token}")
        data = raw
        if data is None and body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, target, body=data, headers=sent)
            response = connection.getresponse()
            payload = response.read()
            got = {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()
        parsed: object = payload
        if payload and got.get("content-type", "").startswith("application/json"):
            parsed = json.loads(payload)
        return Answer(response.status, got, parsed)

    def get(self, target: str, **kw: object) -> Answer:
        return self.request("GET", target, **kw)

    def put(self, target: str, body: object = None, **kw: object) -> Answer:
        return self.request("PUT", target, {} if body is None else body, **kw)

    def delete(self, target: str, **kw: object) -> Answer:
        return self.request("DELETE", target, **kw)

    def post(self, target: str, body: object = None, **kw: object) -> Answer:
        return self.request("POST", target, {} if body is None else body, **kw)
