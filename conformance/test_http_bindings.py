"""The management API's bindings, on amqpd and the reference alike: the lists,
the factories, properties keys and Location, one binding, and their faults."""

from __future__ import annotations

import uuid

import pytest

from conformance.http_api import ApiClient, path


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def pair(api):
    """A fresh direct exchange and queue in "/", deleted afterwards."""
    tag = uuid.uuid4().hex[:8]
    exchange, queue = f"http-bx-{tag}", f"http-bq-{tag}"
    assert api.put(path("exchanges", "/", exchange), {"type": "direct"}).status == 201
    assert api.put(path("queues", "/", queue), {}).status == 201
    yield exchange, queue
    api.delete(path("exchanges", "/", exchange))
    api.delete(path("queues", "/", queue))


def _factory(exchange: str, letter: str, dest: str) -> str:
    return path("bindings", "/", "e", exchange, letter, dest)


@pytest.mark.parametrize(
    ("key", "expected_key", "expected_location"),
    [
        ("", "~", "~"),
        ("plain.key-_", "plain.key-_", "plain.key-_"),
        ("a b/c%~é", "a+b%2Fc%25%7E%C3%A9", "a%2Bb%252Fc%2525%257E%25C3%25A9"),
        ("*!'()", "%2A%21%27%28%29", "%252A%2521%2527%2528%2529"),
    ],
)
def test_post_answers_201_with_the_properties_key_as_location(
    api, pair, key, expected_key, expected_location
):
    exchange, queue = pair
    answer = api.post(_factory(exchange, "q", queue), {"routing_key": key})
    assert answer.status == 201
    assert answer.headers["location"] == f"{queue}/{expected_location}"
    listed = api.get(_factory(exchange, "q", queue)).json
    assert listed == [{
        "source": exchange, "vhost": "/", "destination": queue, "destination_type": "queue",
        "routing_key": key, "arguments": {}, "properties_key": expected_key,
    }]  # fmt: skip
    one = api.get(_factory(exchange, "q", queue) + "/" + path_segment(expected_key))
    assert one.status == 200 and one.json == listed[0]


def path_segment(key: str) -> str:
    from urllib.parse import quote

    return quote(key, safe="")


def test_a_binding_with_arguments_is_found_and_deleted_by_its_key(api, pair):
    exchange, queue = pair
    answer = api.post(_factory(exchange, "q", queue), {"routing_key": "k", "arguments": {"x": 1}})
    assert answer.status == 201
    listed = api.get(_factory(exchange, "q", queue)).json
    assert len(listed) == 1 and listed[0]["arguments"] == {"x": 1}
    key = listed[0]["properties_key"]
    assert key.startswith("k~") and len(key) > 2
    assert answer.headers["location"] == f"{queue}/{key}"
    target = _factory(exchange, "q", queue) + "/" + path_segment(key)
    assert api.get(target).json == listed[0]
    assert api.get(_factory(exchange, "q", queue) + "/k").status == 404
    assert api.delete(target).status == 204
    assert api.delete(target).json == {"error": "Object Not Found", "reason": "Not Found"}
    assert api.get(_factory(exchange, "q", queue)).json == []


def test_exchange_to_exchange_bindings_and_the_exchange_lists(api, pair):
    exchange, queue = pair
    answer = api.post(_factory(exchange, "e", "amq.fanout"), {"routing_key": "r"})
    assert answer.status == 201 and answer.headers["location"] == "amq.fanout/r"
    assert api.post(_factory(exchange, "q", queue), {"routing_key": "r"}).status == 201
    e2e = {"source": exchange, "vhost": "/", "destination": "amq.fanout",
           "destination_type": "exchange", "routing_key": "r", "arguments": {},
           "properties_key": "r"}  # fmt: skip
    assert e2e in api.get(path("exchanges", "/", "amq.fanout", "bindings", "destination")).json
    source = api.get(path("exchanges", "/", exchange, "bindings", "source")).json
    assert [(b["destination_type"], b["destination"]) for b in source] == [
        ("exchange", "amq.fanout"), ("queue", queue)
    ]  # fmt: skip
    assert api.get(path("exchanges", "/", exchange, "bindings", "destination")).json == []
    assert api.delete(_factory(exchange, "e", "amq.fanout") + "/r").status == 204


def test_the_default_exchange_binding_is_listed_and_cannot_be_changed(api, pair):
    exchange, queue = pair
    api.post(_factory(exchange, "q", queue), {"routing_key": "b"})
    implicit = {"source": "", "vhost": "/", "destination": queue, "destination_type": "queue",
                "routing_key": queue, "arguments": {}, "properties_key": queue}  # fmt: skip
    of_queue = api.get(path("queues", "/", queue, "bindings")).json
    assert of_queue[0] == implicit and [b["source"] for b in of_queue] == ["", exchange]
    assert api.get(_factory("amq.default", "q", queue)).json == [implicit]
    assert implicit in api.get(path("bindings", "/")).json
    assert implicit in api.get("/api/bindings").json
    one = _factory("amq.default", "q", queue) + "/" + queue
    assert api.get(one).json == implicit
    refused = api.delete(one)
    assert (refused.status, refused.json) == (401, {"error": "not_authorised",
                                                    "reason": "Access refused."})  # fmt: skip
    refused = api.post(_factory("amq.default", "q", queue), {"routing_key": "x"})
    assert refused.status == 401


def test_binding_to_what_is_not_there_names_it(api, pair):
    exchange, queue = pair
    answer = api.post(_factory(exchange, "q", "http-no-such-q"), {"routing_key": "x"})
    assert (answer.status, answer.json) == (
        404,
        {"error": "not_found", "reason": "no queue 'http-no-such-q' in vhost '/'"},
    )
    answer = api.post(_factory("http-no-such-x", "q", queue), {"routing_key": "x"})
    assert (answer.status, answer.json) == (
        404,
        {"error": "not_found", "reason": "no exchange 'http-no-such-x' in vhost '/'"},
    )
    assert api.get(_factory(exchange, "q", "http-no-such-q")).json == []
    assert api.get(path("bindings", "no-such-vhost")).status == 404


def test_the_factory_and_a_binding_allow_their_methods(api, pair):
    exchange, queue = pair
    answer = api.put(_factory(exchange, "q", queue), {})
    assert (answer.status, answer.headers["allow"]) == (405, "HEAD, GET, POST, OPTIONS")
    answer = api.put(_factory(exchange, "q", queue) + "/~", {})
    assert (answer.status, answer.headers["allow"]) == (405, "HEAD, GET, DELETE, OPTIONS")


def test_bindings_are_not_paged(api, pair):
    exchange, queue = pair
    api.post(_factory(exchange, "q", queue), {"routing_key": "a"})
    answer = api.get(path("exchanges", "/", exchange, "bindings", "source") + "?page=1")
    assert isinstance(answer.json, list) and len(answer.json) == 1


@pytest.mark.parametrize(
    ("x_match", "reason"),
    [
        (
            "foo",
            'Invalid x-match field value <<"foo">>; expected all, any, all-with-x, or any-with-x',
        ),
        (5, "Invalid x-match field type long (value 5); expected longstr"),
    ],
)
def test_a_headers_binding_with_an_unknown_x_match(api, x_match, reason):
    tag = uuid.uuid4().hex[:8]
    exchange, queue = f"http-bhx-{tag}", f"http-bhq-{tag}"
    assert api.put(path("exchanges", "/", exchange), {"type": "headers"}).status == 201
    assert api.put(path("queues", "/", queue), {}).status == 201
    try:
        body = {"routing_key": "", "arguments": {"x-match": x_match}}
        answer = api.post(_factory(exchange, "q", queue), body)
        assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})
    finally:
        api.delete(path("exchanges", "/", exchange))
        api.delete(path("queues", "/", queue))
