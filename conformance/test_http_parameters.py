"""Vhost limits as a parameter, and the cluster name, on amqpd and the reference."""

from __future__ import annotations

import uuid

import pytest

from conformance.http_api import ApiClient, path


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def vhost(api):
    name = f"http-params-{uuid.uuid4().hex[:8]}"
    assert api.put(path("vhosts", name), {}).status in (201, 204)
    yield name
    api.delete(path("vhosts", name))


def test_vhost_limits_set_listed_and_cleared_as_a_parameter(api, vhost):
    target = path("parameters", "vhost-limits", vhost, "limits")
    answer = api.put(target, {"value": {"max-connections": 10}})
    assert answer.status == 201
    assert api.get(path("parameters", "vhost-limits", vhost)).json == [
        {"value": {"max-connections": 10}, "vhost": vhost, "component": "vhost-limits",
         "name": "limits"}
    ]  # fmt: skip
    assert api.get(path("vhost-limits", vhost)).json == [
        {"vhost": vhost, "value": {"max-connections": 10}}
    ]
    assert api.delete(target).status == 204
    assert api.get(path("vhost-limits", vhost)).json == []


@pytest.mark.parametrize(("value", "reason"), [
    ({"max-bogus": 10},
     'Validation failed\n\nUnrecognised terms [{&lt;&lt;"max-bogus"&gt;&gt;,10}] in limits\n'),
    ({"max-queues": "a"},
     'Validation failed\n\nmax-queues should be a number, actually was &lt;&lt;"a"&gt;&gt;\n'),
    ("x", 'Validation failed\n\nlimits not a list &lt;&lt;"x"&gt;&gt;\n'),
])  # fmt: skip
def test_bad_vhost_limits_are_400_with_rabbitmqs_reason(api, vhost, value, reason):
    answer = api.put(path("parameters", "vhost-limits", vhost, "limits"), {"value": value})
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})


def test_the_cluster_name_is_a_global_parameter(api):
    before = api.get("/api/cluster-name").json["name"]
    try:
        assert api.put("/api/cluster-name", {"name": "conformance-cluster"}).status == 204
        assert api.get("/api/cluster-name").json == {"name": "conformance-cluster"}
        assert api.get(path("global-parameters", "cluster_name")).json == {
            "name": "cluster_name",
            "value": "conformance-cluster",
        }
        assert api.get("/api/overview").json["cluster_name"] == "conformance-cluster"
    finally:
        api.put("/api/cluster-name", {"name": before})


def test_renaming_the_cluster_needs_a_name(api):
    answer = api.put("/api/cluster-name", {})
    assert (answer.status, answer.json) == (
        400,
        {"error": "bad_request", "reason": "[{key_missing,name}]"},
    )


def test_the_queue_limit_holds_for_queues_declared_through_the_api(api, vhost):
    api.put(path("vhost-limits", vhost, "max-queues"), {"value": 1})
    assert api.put(path("queues", vhost, "first"), {}).status == 201
    answer = api.put(path("queues", vhost, "second"), {})
    assert (answer.status, answer.json) == (400, {
        "error": "bad_request",
        "reason": f"cannot declare queue 'second': queue limit in vhost '{vhost}' (1) is reached",
    })  # fmt: skip
    assert api.put(path("queues", vhost, "first"), {}).status == 204  # existing: no new queue
