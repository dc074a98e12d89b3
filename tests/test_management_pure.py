"""The management API's pure parts: paths, list parameters, password hashes."""

from __future__ import annotations

import pytest

from amqpd.management.errors import HTTPError
from amqpd.management.listing import render
from amqpd.management.request import Request
from amqpd.management.router import Router, split_path
from amqpd.model.access import hash_password, password_matches, pattern_matches

# Made by RabbitMQ 3.10 (rabbitmqctl add_user hashprobe 's3cret-é'), read from its API.
RABBITMQ_HASH = "RyHiPlvwvkW8eTkbc4QuTrsrAQJBfnO1GYIi5tp4mWdj2Dvr"


def test_a_hash_made_by_rabbitmq_checks_here():
    assert password_matches(RABBITMQ_HASH, "s3cret-é")
    assert not password_matches(RABBITMQ_HASH, "s3cret-e")


def test_our_hashes_are_salted_and_check():
    one, two = hash_password("pw"), hash_password("pw")
    assert one != two
    assert password_matches(one, "pw") and password_matches(two, "pw")
    assert not password_matches("not base64!", "pw")


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    (".*", "anything", True), ("", "", False), ("^amq\\.gen", "amq.gen-x", True),
    ("foo", "xfoox", True), ("^foo$", "xfoo", False), ("[", "[", False),
])  # fmt: skip
def test_permission_patterns_match_as_rabbitmq_does(pattern, name, expected):
    assert pattern_matches(pattern, name) is expected


@pytest.mark.parametrize(("raw", "segments"), [
    (b"/api/queues/%2F/my%2Fqueue", ["api", "queues", "/", "my/queue"]),
    (b"/api/queues/%2F/q/", ["api", "queues", "/", "q"]),
    (b"/api/overview?x=1", ["api", "overview"]),
    (b"/api/queues/%2F/caf%C3%A9", ["api", "queues", "/", "café"]),
])  # fmt: skip
def test_paths_split_before_they_are_decoded(raw, segments):
    assert split_path(raw) == segments


def request(query: str = "", path: str = "/api/x") -> Request:
    return Request("GET", split_path(path.encode()), Request.parse_query(query.encode()), {})


def test_routes_match_segments_and_name_the_allowed_methods():
    router = Router()

    async def handler(ctx, req):
        return None

    router.add("/api/queues/{vhost}/{name}", get=handler, delete=handler)
    req = request(path="/api/queues/%2F/a%2Fb")
    _route, found = router.find(req)
    assert found is handler and req.params == {"vhost": "/", "name": "a/b"}
    with pytest.raises(HTTPError) as refused:
        router.find(Request("PUT", req.segments, {}, {}))
    assert refused.value.status == 405 and refused.value.headers["allow"] == (
        "HEAD, GET, DELETE, OPTIONS"
    )


ITEMS = [{"name": f"n{i}", "size": 10 - i, "nested": {"k": i}} for i in range(5)]


def test_columns_keep_fields_and_nested_fields():
    assert render(request("columns=name,nested.k"), ITEMS[:1]) == [
        {"name": "n0", "nested": {"k": 0}}
    ]


def test_sort_by_a_field_and_reverse():
    names = [i["name"] for i in render(request("sort=size"), ITEMS)]
    assert names == ["n4", "n3", "n2", "n1", "n0"]
    names = [i["name"] for i in render(request("sort=size&sort_reverse=true"), ITEMS)]
    assert names == ["n0", "n1", "n2", "n3", "n4"]


def test_pages_filter_and_count():
    body = render(request("page=2&page_size=2&name=N"), ITEMS)
    assert [i["name"] for i in body["items"]] == ["n2", "n3"]
    assert (body["page_count"], body["filtered_count"], body["total_count"]) == (3, 5, 5)
    regex = render(request("page=1&name=^n[34]$&use_regex=true"), ITEMS)
    assert [i["name"] for i in regex["items"]] == ["n3", "n4"]
