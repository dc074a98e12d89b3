"""Connections, channels and consumers in the management API, on amqpd and the
reference alike: names, fields, closing a connection, and unknown names.

RabbitMQ's figures lag a few seconds behind its clients, so the tests poll."""

from __future__ import annotations

import pika
import pytest

from conformance.helpers import wait_for
from conformance.http_api import ApiClient, path

LAG = 20.0  # seconds the reference may take to show a client


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def client(api_target):
    """A pika client with two channels (prefetch 7 and a consumer on the first,
    confirms on the second), and the connection's name as RabbitMQ gives it."""
    params = pika.URLParameters(api_target.broker.url)
    params.heartbeat = 30
    params.client_properties = {"connection_name": "http-clients-test"}
    connection = pika.BlockingConnection(params)
    first = connection.channel()
    first.basic_qos(prefetch_count=7)
    queue = first.queue_declare("", exclusive=True).method.queue
    first.basic_consume(queue, lambda *a: None, consumer_tag="http-ctag",
                        arguments={"x-priority": 2})  # fmt: skip
    second = connection.channel()
    second.confirm_delivery()
    local = connection._impl._transport._sock.getsockname()
    remote = connection._impl._transport._sock.getpeername()
    name = f"{local[0]}:{local[1]} -> {remote[0]}:{remote[1]}"
    yield connection, name, queue, local, remote
    if connection.is_open:
        connection.close()


def _listed(api, name: str) -> dict | None:
    for c in api.get("/api/connections").json:
        if c["name"] == name and c.get("channels") == 2 and "recv_oct" in c:
            return c
    return None


def test_a_connection_is_listed_with_rabbitmqs_fields(api, client):
    connection, name, _queue, local, remote = client
    found = wait_for(lambda: _listed(api, name), LAG, "the connection to be listed")
    assert {k: found[k] for k in (
        "name", "user", "vhost", "peer_host", "peer_port", "host", "port", "channels",
        "timeout", "auth_mechanism", "protocol", "ssl", "state", "type", "ssl_cipher",
    )} == {
        "name": name, "user": "guest", "vhost": "/", "peer_host": local[0],
        "peer_port": local[1], "host": remote[0], "port": remote[1], "channels": 2,
        "timeout": 30, "auth_mechanism": "PLAIN", "protocol": "AMQP 0-9-1", "ssl": False,
        "state": "running", "type": "network", "ssl_cipher": None,
    }  # fmt: skip
    assert found["client_properties"]["product"] == "Pika Python Client Library"
    assert found["client_properties"]["connection_name"] == "http-clients-test"
    assert found["client_properties"]["capabilities"]["publisher_confirms"] is True
    assert isinstance(found["connected_at"], int) and found["connected_at"] > 10**12
    assert found["frame_max"] == 131072 and found["channel_max"] == 2047
    for field in ("recv_oct", "send_oct", "recv_cnt", "send_cnt", "send_pend"):
        assert isinstance(found[field], int)
    assert "rate" in found["recv_oct_details"]
    one = api.get(path("connections", name))
    assert one.status == 200 and one.json["name"] == name
    assert one.json["ssl_cipher"] == "" and one.json["peer_cert_subject"] == ""
    in_vhost = api.get(path("vhosts", "/", "connections")).json
    assert name in [c["name"] for c in in_vhost]


def _channels(api, name: str) -> list:
    answer = api.get(path("connections", name, "channels"))
    return answer.json if answer.status == 200 and len(answer.json) == 2 else []


def test_the_channels_of_a_connection(api, client):
    connection, name, queue, local, _remote = client
    first, second = wait_for(lambda: _channels(api, name), LAG, "two channels")
    details = {"name": name, "peer_host": local[0], "peer_port": local[1]}
    assert {k: first[k] for k in (
        "name", "number", "prefetch_count", "global_prefetch_count", "consumer_count",
        "confirm", "transactional", "messages_unacknowledged", "messages_unconfirmed",
        "messages_uncommitted", "acks_uncommitted", "connection_details", "user", "vhost",
        "state",
    )} == {
        "name": f"{name} (1)", "number": 1, "prefetch_count": 7, "global_prefetch_count": 0,
        "consumer_count": 1, "confirm": False, "transactional": False,
        "messages_unacknowledged": 0, "messages_unconfirmed": 0, "messages_uncommitted": 0,
        "acks_uncommitted": 0, "connection_details": details, "user": "guest", "vhost": "/",
        "state": "running",
    }  # fmt: skip
    assert (second["name"], second["confirm"], second["consumer_count"]) == (f"{name} (2)", True, 0)
    listed = [c["name"] for c in api.get("/api/channels").json]
    assert f"{name} (1)" in listed and f"{name} (2)" in listed
    in_vhost = [c["name"] for c in api.get(path("vhosts", "/", "channels")).json]
    assert f"{name} (1)" in in_vhost
    one = api.get(path("channels", f"{name} (1)")).json
    [consumer] = one["consumer_details"]
    assert (consumer["consumer_tag"], consumer["queue"]) == (
        "http-ctag",
        {"name": queue, "vhost": "/"},
    )
    assert one["publishes"] == [] and one["deliveries"] == []


def _consumer(api, target: str) -> dict | None:
    """Our consumer once it is listed with its channel: RabbitMQ first lists it
    with ``channel_details: []`` until its channel's stats come in."""
    found = next((c for c in api.get(target).json if c["consumer_tag"] == "http-ctag"), None)
    return found if found is not None and found.get("channel_details") else None


def test_consumers_are_listed_with_their_channel(api, client):
    connection, name, queue, local, _remote = client
    found = wait_for(lambda: _consumer(api, path("consumers", "/")), LAG, "the consumer")
    assert found == {
        "arguments": {"x-priority": 2}, "ack_required": True, "active": True,
        "activity_status": "up", "consumer_tag": "http-ctag", "exclusive": False,
        "prefetch_count": 7, "queue": {"name": queue, "vhost": "/"},
        "channel_details": {
            "connection_name": name, "name": f"{name} (1)", "number": 1,
            "node": found["channel_details"]["node"], "peer_host": local[0],
            "peer_port": local[1], "user": "guest",
        },
    }  # fmt: skip
    assert _consumer(api, "/api/consumers") == found


@pytest.mark.parametrize(
    ("header", "text"),
    [({"X-Reason": "go away now"}, "CONNECTION_FORCED - go away now"),
     ({}, "CONNECTION_FORCED - Closed via management plugin")],
)  # fmt: skip
def test_deleting_a_connection_closes_it_with_320_and_the_reason(api, client, header, text):
    connection, name, *_ = client
    wait_for(lambda: api.get(path("connections", name)).status == 200, LAG, "the connection")
    answer = api.delete(path("connections", name), headers=header)
    assert answer.status == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        for _ in range(100):
            connection.process_data_events(0.1)
    assert (closed.value.reply_code, closed.value.reply_text) == (320, text)


@pytest.mark.parametrize(
    "target",
    ["/api/connections/no-such-connection", "/api/channels/no-such-channel",
     "/api/consumers/no-such-vhost", "/api/vhosts/no-such-vhost/connections",
     "/api/vhosts/no-such-vhost/channels"],
)  # fmt: skip
def test_unknown_clients_are_404(api, target):
    answer = api.get(target)
    assert (answer.status, answer.json) == (404, {"error": "Object Not Found",
                                                  "reason": "Not Found"})  # fmt: skip


def test_deleting_an_unknown_connection_is_404(api):
    assert api.delete("/api/connections/no-such-connection").status == 404


@pytest.fixture
def management_user(api):
    """A user tagged management only, with every permission in "/"; deleted afterwards."""
    import uuid

    name = f"http-clients-{uuid.uuid4().hex[:8]}"
    assert api.put(path("users", name), {"password": "pw", "tags": "management"}).status == 201
    perms = {"configure": ".*", "write": ".*", "read": ".*"}
    assert api.put(path("permissions", "/", name), perms).status == 201
    yield name
    api.delete(path("users", name))


def test_a_management_user_sees_only_its_own_clients(api, api_target, client, management_user):
    _guests, guest_name, *_ = client
    params = pika.URLParameters(api_target.broker.url)
    params.credentials = pika.PlainCredentials(management_user, "pw")
    own = pika.BlockingConnection(params)
    try:
        own.channel()
        local = own._impl._transport._sock.getsockname()
        remote = own._impl._transport._sock.getpeername()
        own_name = f"{local[0]}:{local[1]} -> {remote[0]}:{remote[1]}"
        wait_for(lambda: {own_name, guest_name} <= {c["name"] for c in api.get(
            "/api/connections").json}, LAG, "both connections")  # fmt: skip
        mine = api.as_user(management_user, "pw")
        assert [c["name"] for c in mine.get("/api/connections").json] == [own_name]
        wait_for(lambda: [c["name"] for c in mine.get("/api/channels").json] == [
            f"{own_name} (1)"], LAG, "its channel")  # fmt: skip
        refused = {"error": "not_authorised", "reason": "User not authorised to access object"}
        answer = mine.get(path("connections", guest_name))
        assert (answer.status, answer.json) == (401, refused)
        answer = mine.delete(path("connections", guest_name))
        assert (answer.status, answer.json) == (401, refused)
        assert mine.get("/api/nodes").json == {"error": "not_authorised",
                                                "reason": "Not monitor user"}  # fmt: skip
        assert mine.delete(path("connections", own_name)).status == 204
    finally:
        if own.is_open:
            try:
                own.close()
            except pika.exceptions.AMQPError:
                pass
