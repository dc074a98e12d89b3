"""A fuzz of the management API: whatever a client sends, no 500, no traceback,
RabbitMQ's JSON error bodies, and a refused request changes nothing.

Requests are drawn from the route table itself (so new endpoints are fuzzed as
they land): a method, a path whose {names} are filled with known, random and
oddly percent-encoded segments, a query string, a body (JSON of any shape,
JSON objects with the keys the endpoints read, or bytes that are not JSON) and
headers (content types, logins good and bad). Runs against a broker of its own,
since accepted requests change it, with a bounded number of examples.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import string
import tempfile
from urllib.parse import quote, urlencode, urlparse

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from amqpd.config import BrokerConfig
from amqpd.management.resources import build_router
from amqpd.testing import BrokerThread

EXAMPLES = int(os.environ.get("AMQPD_FUZZ_EXAMPLES", "200"))  # more to hunt, fewer in CI
ROUTES = [r for r in build_router().routes]
# What the snapshot compares: every list that exists (others answer 404 until built).
SNAPSHOT_LISTS = [
    "/api/queues?columns=vhost,name,durable,auto_delete,exclusive,arguments,messages",
    "/api/exchanges?columns=vhost,name,type,durable,auto_delete,internal,arguments",
    "/api/bindings",
    "/api/vhosts?columns=name,tags,description",
    "/api/users",
    "/api/permissions",
    "/api/topic-permissions",
    "/api/policies",
    "/api/operator-policies",
    "/api/parameters",
    "/api/global-parameters",
]
GUEST = "Basic " + base64.b64encode(b"guest:guest").decode()


@pytest.fixture(scope="module")
def api():
    with tempfile.TemporaryDirectory(prefix="amqpd-fuzz-") as data_dir:
        with BrokerThread(BrokerConfig(data_dir=data_dir)) as broker:
            parsed = urlparse(broker.management_url)
            yield parsed.hostname, parsed.port


def send(api, method: str, target: str, body: bytes | None, headers: dict[str, str]):
    connection = http.client.HTTPConnection(*api, timeout=10)  # a hang is a finding
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def snapshot(api) -> dict[str, object]:
    state = {}
    for target in SNAPSHOT_LISTS:
        status, _headers, body = send(api, "GET", target, None, {"Authorization": GUEST})
        if status == 200:
            state[target] = sorted(json.dumps(item, sort_keys=True) for item in json.loads(body))
    return state


# ---- what a request is made of -----------------------------------------------------------
KNOWN_NAMES = [
    "/", "amq.default", "amq.direct", "amq.topic", "amq.rabbitmq.reply-to", "guest",
    "fuzz-q", "fuzz-x", "~", "ab", "", " ", "..", ".", "é",
]  # fmt: skip
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
segment = st.one_of(
    st.sampled_from(KNOWN_NAMES).map(lambda s: quote(s, safe="")),
    text.map(lambda s: quote(s, safe="")),
    st.text(string.ascii_letters + string.digits + "%._-~!$&'()*+,;=:@", max_size=8),
    st.sampled_from(["%", "%2", "%zz", "%C3", "%FF%FE", "%00", "%2F%2F", "%252F"]),
)


@st.composite
def paths(draw) -> tuple[str, str]:
    """(the route's pattern, a path for it); now and then one segment more or less."""
    route = draw(st.sampled_from(ROUTES))
    parts = [draw(segment) if p.startswith("{") else p for p in route.pattern]
    cut = draw(st.sampled_from(["as is"] * 8 + ["drop", "add", "slash"]))
    if cut == "drop" and len(parts) > 1:
        parts = parts[:-1]
    elif cut == "add":
        parts.append(draw(segment))
    elif cut == "slash":
        parts.append("")
    return "/".join(route.pattern), "/" + "/".join(parts)


QUERY_KEYS = [
    "columns", "sort", "sort_reverse", "page", "page_size", "name", "use_regex",
    "if-empty", "if-unused", "disable_stats", "enable_queue_totals", "pagination",
]  # fmt: skip
query_value = st.one_of(
    st.sampled_from(["true", "false", "1", "0", "-1", "501", "name", "messages", "a.b", ".*",
                     "(", "[", "name,messages"]),
    text,
)  # fmt: skip
queries = st.one_of(
    st.just(""),
    st.dictionaries(st.sampled_from(QUERY_KEYS), query_value, max_size=4).map(urlencode),
    st.text(string.ascii_letters + string.digits + "%&=+", max_size=20),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
BODY_KEYS = [
    "durable", "auto_delete", "internal", "type", "arguments", "node", "routing_key",
    "destination", "destination_type", "properties", "payload", "payload_encoding",
    "count", "ackmode", "encoding", "truncate", "requeue", "password", "tags", "configure",
    "write", "read", "pattern", "definition", "priority", "apply-to", "value", "vhost",
]  # fmt: skip
body_value = st.one_of(
    json_values,
    st.sampled_from(["true", "false", "direct", "topic", "ack_requeue_true", "auto", "base64",
                     "string", "queue", "exchange", "quorum", "classic"]),
    st.dictionaries(st.sampled_from(["x-max-length", "x-message-ttl", "x-queue-type",
                                     "x-dead-letter-exchange", "alternate-exchange"]),
                    json_values, max_size=2),
)  # fmt: skip
bodies = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(BODY_KEYS), body_value, max_size=6).map(
        lambda d: json.dumps(d).encode()
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.sampled_from([b"{", b"[1,", b"\xff\xfe", b"null", b'"x"', b"{}", b"[]", b"  "]),
)


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


auths = st.sampled_from(
    [GUEST] * 6
    + [None, "Basic", "Basic !!!", "Bearer x", basic(b"guest:no"), basic(b"nobody:x"), basic(b"x")]
)
content_types = st.sampled_from(
    [None, "application/json", "application/json; charset=utf-8", "text/plain",
     "application/x-www-form-urlencoded", "multipart/form-data", "*/*"]
)  # fmt: skip
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]


def destructive(pattern: str, method: str, path: str) -> bool:
    """Accepted requests that would lock the fuzz itself out (guest, vhost "/")."""
    if method in ("GET", "HEAD"):
        return False
    segments = path.split("/")
    if "guest" in segments and ("users" in segments or "permissions" in segments):
        return True
    return pattern.startswith("api/vhosts/") and "%2F" in segments


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=paths(),
    method=st.sampled_from(METHODS),
    query=queries,
    body=bodies,
    auth=auths,
    content_type=content_types,
)
def test_any_request_gets_a_clean_answer_and_a_refusal_changes_nothing(
    api, route, method, query, body, auth, content_type
):
    pattern, path = route
    assume(not destructive(pattern, method, path))
    headers = {}
    if auth is not None:
        headers["Authorization"] = auth
    if content_type is not None:
        headers["Content-Type"] = content_type
    target = path + (f"?{query}" if query else "")
    before = snapshot(api)
    status, got, raw = send(api, method, target, body, headers)

    request = f"{method} {target} {headers} {body!r}"
    # A failing health check is RabbitMQ's 503 {"status":"failed",...}, not a fault.
    # (A HEAD gets the same 503 without its body.)
    head_check = method == "HEAD" and not raw and path.startswith("/api/health/checks/")
    failed_check = status == 503 and (b'"status":"failed"' in raw or head_check)
    assert status < 500 or failed_check, f"{status} for {request}: {raw[:300]!r}"
    assert b"Traceback" not in raw and b'File "' not in raw, request
    if 400 <= status < 500 and method != "HEAD" and raw:
        # RabbitMQ sends no body with a 401 that had no credentials, nor with a 405.
        assert got.get("content-type", "").startswith("application/json"), request
        answer = json.loads(raw)
        assert set(answer) == {"error", "reason"}, request
    if status == 401 and raw == b"":
        assert "www-authenticate" in got, request
    if status >= 400:
        assert snapshot(api) == before, f"{status} changed the broker: {request}"
