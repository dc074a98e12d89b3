"""Moving between amqpd and RabbitMQ with definitions, both ways, through each
broker's own API: what one exports, the other imports, and the same users log
in over AMQP with the same passwords (the hashes are the same) and find the
same vhosts, permissions, policies, queues, exchanges and bindings.

Only this test's own records travel (the reference's guest must keep its
password), and everything imported into the reference is deleted afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlparse

import pika
import pytest

from conformance.http_api import ApiClient, path

REFERENCE_API = os.environ.get("AMQPD_REFERENCE_API_URL", "http://guest:guest@127.0.0.1:15672")
REFERENCE_AMQP = os.environ.get("AMQPD_REFERENCE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def reference() -> ApiClient:
    if not (_reachable(REFERENCE_API, 15672) and _reachable(REFERENCE_AMQP, 5672)):
        pytest.skip("NOTICE: the reference RabbitMQ and its management API are not reachable; "
                    "moving definitions to and from it is not tested")  # fmt: skip
    return ApiClient(REFERENCE_API)


@pytest.fixture
def names(reference):
    """A unique vhost and user, deleted from both brokers afterwards."""
    suffix = uuid.uuid4().hex[:8]
    made = {"vhost": f"move-vhost-{suffix}", "user": f"move-user-{suffix}"}
    yield made
    reference.delete(path("vhosts", made["vhost"]))
    reference.delete(path("users", made["user"]))
    assert reference.get(path("vhosts", made["vhost"])).status == 404
    assert reference.get(path("users", made["user"])).status == 404


def _build(api: ApiClient, vhost: str, user: str) -> None:
    """A small application's topology, made through the API as a team would."""
    assert api.put(path("users", user), {"password": "app-pw", "tags": "management"}).status == 201
    assert api.put(path("vhosts", vhost), {}).status == 201
    api.put(path("permissions", vhost, user), {"configure": "^app\\.", "write": ".*",
                                              "read": ".*"})  # fmt: skip
    api.put(path("topic-permissions", vhost, user), {"exchange": "app.events", "write": "^order\\.",
                                                    "read": ".*"})  # fmt: skip
    api.put(path("policies", vhost, "app-ttl"), {"pattern": "^app\\.", "apply-to": "queues",
                                                "definition": {"message-ttl": 60000},
                                                "priority": 1})  # fmt: skip
    for queue, arguments in (("app.orders", {"x-max-length": 1000}),
                             ("app.quorum", {"x-queue-type": "quorum"})):  # fmt: skip
        body = {"durable": True, "auto_delete": False, "arguments": arguments}
        assert api.put(path("queues", vhost, queue), body).status == 201
    api.put(path("exchanges", vhost, "app.events"), {"type": "topic", "durable": True,
                                                     "auto_delete": False, "internal": False,
                                                     "arguments": {}})  # fmt: skip
    api.post(path("bindings", vhost, "e", "app.events", "q", "app.orders"),
             {"routing_key": "order.#"})  # fmt: skip


def _only(definitions: dict, vhost: str, user: str) -> dict:
    """This test's records of a whole-broker export."""
    mine = {key: [r for r in definitions[key] if r.get("vhost") == vhost]
            for key in ("permissions", "topic_permissions", "parameters", "policies", "queues",
                        "exchanges", "bindings")}  # fmt: skip
    mine["users"] = [u for u in definitions["users"] if u["name"] == user]
    mine["vhosts"] = [v for v in definitions["vhosts"] if v["name"] == vhost]
    assert mine["users"] and mine["vhosts"] and len(mine["queues"]) == 2, definitions
    return mine


def _same_topology(source: ApiClient, target: ApiClient, vhost: str, user: str) -> None:
    a = _only(source.get("/api/definitions").json, vhost, user)
    b = _only(target.get("/api/definitions").json, vhost, user)
    for key in a:
        assert sorted(map(repr, a[key])) == sorted(map(repr, b[key])), key


def _use(amqp_url: str, vhost: str, user: str) -> None:
    """The user logs in with its password and the topology routes, as before the move."""
    params = pika.URLParameters(amqp_url)
    params.virtual_host, params.credentials = vhost, pika.PlainCredentials(user, "app-pw")
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("app.events", "order.created", b"moved", mandatory=True)
        got = None
        for _ in range(100):
            method, _props, got = channel.basic_get("app.orders", auto_ack=True)
            if method is not None:
                break
            connection.sleep(0.02)
        assert got == b"moved"
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            connection.channel().queue_declare("other.queue")  # configure is ^app\. only
        assert refused.value.reply_code == 403
    finally:
        if connection.is_open:
            connection.close()


def test_what_amqpd_exports_imports_into_rabbitmq_and_works_there(amqpd_broker, reference, names):
    ours = ApiClient(amqpd_broker.management_url)
    vhost, user = names["vhost"], names["user"]
    _build(ours, vhost, user)
    try:
        exported = _only(ours.get("/api/definitions").json, vhost, user)
        answer = reference.post("/api/definitions", exported)
        assert answer.status == 204, answer.json
        _same_topology(ours, reference, vhost, user)
        _use(REFERENCE_AMQP, vhost, user)
    finally:
        ours.delete(path("vhosts", vhost))
        ours.delete(path("users", user))


def test_what_rabbitmq_exports_imports_into_amqpd_and_works_there(amqpd_broker, reference, names):
    ours = ApiClient(amqpd_broker.management_url)
    vhost, user = names["vhost"], names["user"]
    _build(reference, vhost, user)
    try:
        exported = _only(reference.get("/api/definitions").json, vhost, user)
        answer = ours.post("/api/definitions", exported)
        assert answer.status == 204, answer.json
        _same_topology(reference, ours, vhost, user)
        _use(amqpd_broker.url, vhost, user)
    finally:
        ours.delete(path("vhosts", vhost))
        ours.delete(path("users", user))
