"""The management API's ground rules, on amqpd and the reference alike: logins,
paths, status codes, error bodies, and the list parameters every list shares."""

from __future__ import annotations

import time
import uuid

import pika
import pytest

from conformance.http_api import ApiClient, path


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def names(api):
    """Unique queue and exchange names in vhost "/", deleted afterwards."""
    made: list[tuple[str, str]] = []

    def make(kind: str, what: str = "x") -> str:
        name = f"http-{what}-{uuid.uuid4().hex[:8]}"
        made.append((kind, name))
        return name

    yield make
    for kind, name in made:
        api.delete(path(kind, "/", name))


def test_whoami_names_the_user_and_tags(api):
    answer = api.get("/api/whoami")
    assert answer.status == 200
    assert answer.json["name"] == "guest" and "administrator" in answer.json["tags"]


def test_a_wrong_password_is_401_with_a_challenge(api):
    answer = api.as_user("guest", "not-the-password").get("/api/overview")
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == 'Basic realm="RabbitMQ Management"'
    assert answer.json == {"error": "not_authorized", "reason": "Login failed"}


def test_no_credentials_is_401_with_an_empty_body(api):
    answer = api.get("/api/overview", auth=False)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == 'Basic realm="RabbitMQ Management"'
    assert answer.body == b""


@pytest.mark.parametrize(
    "target",
    ["/api/nothing-here", "/api/queues/no-such-vhost/q", path("queues", "/", "no-such-queue")],
)
def test_what_is_not_there_is_404_object_not_found(api, target):
    answer = api.get(target)
    assert answer.status == 404
    assert answer.json == {"error": "Object Not Found", "reason": "Not Found"}


def test_put_creates_with_201_then_answers_204(api, names):
    name = names("queues")
    assert api.put(path("queues", "/", name), {"durable": False}).status == 201
    assert api.put(path("queues", "/", name), {"durable": False}).status == 204
    assert api.get(path("queues", "/", name)).json["durable"] is False


def test_a_name_with_a_slash_is_one_encoded_segment_and_a_trailing_slash_is_ignored(api, names):
    name = names("queues", "a/b")
    assert api.put(path("queues", "/", name), {"durable": False}).status == 201
    answer = api.get(path("queues", "/", name) + "/")
    assert answer.status == 200 and answer.json["name"] == name


def test_counts_are_those_of_the_queue(api, api_target, names):
    name = names("queues")
    api.put(path("queues", "/", name), {"durable": False})
    connection = pika.BlockingConnection(pika.URLParameters(api_target.broker.url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(3):
            channel.basic_publish("", name, b"m")
        method, _props, _body = channel.basic_get(name, auto_ack=False)
        assert method is not None
        body = _eventually(api, path("queues", "/", name),
                           lambda q: q.get("messages_ready") == 2)  # fmt: skip
        assert body["messages_unacknowledged"] == 1 and body["messages"] == 3
    finally:
        connection.close()


def _eventually(api, target, condition, timeout=15.0):
    """RabbitMQ's counts lag by seconds; poll until they show (amqpd's are exact)."""
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(target).json
        if condition(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_an_inequivalent_declare_is_400_with_the_amqp_text(api, names):
    name = names("queues")
    api.put(path("queues", "/", name), {"durable": False})
    answer = api.put(path("queues", "/", name), {"durable": True})
    assert answer.status == 400
    assert answer.json == {
        "error": "bad_request",
        "reason": f"inequivalent arg 'durable' for queue '{name}' in vhost '/': "
        "received 'true' but current is 'false'",
    }


def test_a_body_that_is_not_json_is_400_not_json(api, names):
    name = names("queues")
    answer = api.request("PUT", path("queues", "/", name), raw=b"{oops",
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": "not_json"})
    assert api.get(path("queues", "/", name)).status == 404  # a refused request changes nothing


def test_a_reserved_name_is_refused_as_access_refused(api):
    answer = api.put(path("queues", "/", "amq.http-test"), {})
    assert (answer.status, answer.json) == (
        401,
        {"error": "not_authorised", "reason": "Access refused."},
    )


def test_delete_then_404(api, names):
    name = names("queues")
    api.put(path("queues", "/", name), {"durable": False})
    assert api.delete(path("queues", "/", name)).status == 204
    assert api.delete(path("queues", "/", name)).status == 404


def test_an_unsupported_method_is_405_with_allow(api, names):
    name = names("queues")
    answer = api.request("PATCH", path("queues", "/", name))
    assert answer.status == 405
    assert {m.strip() for m in answer.headers["allow"].split(",")} >= {"GET", "PUT", "DELETE"}


def test_the_default_exchange_is_amq_default_in_urls(api):
    answer = api.get(path("exchanges", "/", "amq.default"))
    assert answer.status == 200 and answer.json["name"] == "" and answer.json["type"] == "direct"
    refused = api.put(path("exchanges", "/", "amq.default"), {"type": "direct"})
    assert refused.status == 401


def test_the_paged_envelope(api, names):
    for _ in range(3):
        api.put(path("exchanges", "/", names("exchanges", "paged")), {"type": "fanout"})
    answer = api.get("/api/exchanges/%2F?page=1&page_size=2&name=http-paged")
    assert answer.status == 200
    body = answer.json
    assert {
        k: body[k] for k in ("filtered_count", "item_count", "page", "page_count", "page_size")
    } == {  # fmt: skip
        "filtered_count": 3,
        "item_count": 2,
        "page": 1,
        "page_count": 2,
        "page_size": 2,
    }
    assert body["total_count"] >= 3 + 6  # and the exchanges every vhost has


@pytest.mark.parametrize(("query", "error", "reason"), [
    ("page=0", "invalid_pagination_parameters",
     "Invalid pagination parameters: page number 0, page size undefined"),
    ("page=1&page_size=501", "invalid_pagination_parameters",
     "Invalid pagination parameters: page number 1, page size 501"),
    ("page=abc", "bad_request", "Pagination parameters are invalid"),
])  # fmt: skip
def test_bad_pagination_is_400(api, query, error, reason):
    answer = api.get(f"/api/exchanges/%2F?{query}")
    assert (answer.status, answer.json) == (400, {"error": error, "reason": reason})


def test_columns_and_sort(api, names):
    made = sorted(names("exchanges", "sorted") for _ in range(3))
    for name in made:
        api.put(path("exchanges", "/", name), {"type": "topic"})
    answer = api.get("/api/exchanges/%2F?columns=name,type&sort=name&sort_reverse=true")
    rows = [row for row in answer.json if row["name"] in made]
    assert rows == [{"name": n, "type": "topic"} for n in reversed(made)]


def test_a_binding_with_arguments_given_as_an_empty_list(api, names):
    """pyrabbit2 sends "arguments": [] for a binding without arguments."""
    queue = names("queues", "bound")
    api.put(path("queues", "/", queue), {"durable": False})
    answer = api.post(path("bindings", "/", "e", "amq.direct", "q", queue),
                      {"routing_key": "k", "arguments": []})  # fmt: skip
    assert answer.status == 201


def test_bulk_delete_without_users_is_400(api):
    answer = api.post("/api/users/bulk-delete", {})
    assert (answer.status, answer.json) == (
        400,
        {"error": "bad_request", "reason": "[{key_missing,users}]"},
    )


def test_nodes_take_columns(api):
    rows = api.get("/api/nodes?columns=name").json
    assert rows and all(set(row) == {"name"} for row in rows)


def test_put_without_durable_declares_transient_objects(api, names):
    queue, exchange = names("queues", "dflt"), names("exchanges", "dflt")
    assert api.put(path("queues", "/", queue), {}).status == 201
    assert api.put(path("exchanges", "/", exchange), {"type": "direct"}).status == 201
    assert api.get(path("queues", "/", queue)).json["durable"] is False
    assert api.get(path("exchanges", "/", exchange)).json["durable"] is False
