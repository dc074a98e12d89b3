"""Users, vhosts, permissions, topic permissions and vhost limits made at
runtime survive a restart of amqpd, graceful or ``kill -9``; a deleted vhost
stays deleted with all it held; the configured default user is created on a
first start only, as RabbitMQ creates its default user on an empty database."""

from __future__ import annotations

import re

import pika
import pytest

from conformance.http_api import ApiClient, path
from tests.broker_process import HOST, ProcessBroker

MANAGEMENT = re.compile(r"management API listening on \S+:(\d+)")


def _api(broker: ProcessBroker, user: str = "guest", password: str = "guest") -> ApiClient:
    port = int(MANAGEMENT.search(broker.log()).group(1))
    return ApiClient(f"http://{user}:{password}@{HOST}:{port}")


def _restart(broker: ProcessBroker, how: str) -> None:
    if how == "kill9":
        broker.kill()
    else:
        assert broker.terminate() == 0
    broker.start()


@pytest.mark.parametrize("how", ["graceful", "kill9"])
def test_what_the_api_made_comes_back(tmp_path, how):
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs")
    broker.start()
    try:
        api = _api(broker)
        # Answered only once on disk, so a kill -9 right after keeps them.
        assert api.put(path("users", "app"), {"password": "app-pw", "tags": "management"}).status \
            == 201  # fmt: skip
        assert api.put(path("vhosts", "kept"), {"description": "d", "tags": "t"}).status == 201
        api.put(path("permissions", "kept", "app"), {"configure": "^c", "write": "^w", "read": ""})
        api.put(path("topic-permissions", "kept", "app"),
                {"exchange": "amq.topic", "write": "^a", "read": "^b"})  # fmt: skip
        api.put(path("vhost-limits", "kept", "max-queues"), {"value": 7})
        api.put(path("queues", "kept", "q-in-kept"), {"durable": True})
        api.put(path("vhosts", "gone"), {})
        api.put(path("queues", "gone", "q-in-gone"), {"durable": True})
        assert api.delete(path("vhosts", "gone")).status == 204
        # The configured default user changed at runtime: the store's password wins.
        api.put(path("users", "guest"), {"password": "changed", "tags": "administrator"})

        _restart(broker, how)

        assert _api(broker).get("/api/whoami").status == 401  # the old password
        api = _api(broker, "guest", "changed")
        assert api.get(path("vhosts", "kept")).json["description"] == "d"
        assert api.get(path("vhosts", "kept")).json["tags"] == ["t"]
        assert api.get(path("vhosts", "gone")).status == 404
        assert api.get(path("queues", "kept", "q-in-kept")).status == 200
        assert [q["name"] for q in api.get("/api/queues").json] == ["q-in-kept"]
        assert api.get(path("permissions", "kept", "app")).json == {
            "user": "app",
            "vhost": "kept",
            "configure": "^c",
            "write": "^w",
            "read": "",
        }
        assert api.get(path("permissions", "kept", "guest")).json["configure"] == ".*"
        assert api.get(path("topic-permissions", "kept", "app")).json == [
            {"user": "app", "vhost": "kept", "exchange": "amq.topic", "write": "^a", "read": "^b"}
        ]
        assert api.get(path("vhost-limits", "kept")).json == [
            {"vhost": "kept", "value": {"max-queues": 7}}]  # fmt: skip
        whoami = _api(broker, "app", "app-pw").get("/api/whoami")
        assert whoami.json == {"name": "app", "tags": ["management"]}
        # ... and over AMQP, where the permissions are enforced.
        credentials = pika.PlainCredentials("app", "app-pw")
        connection = pika.BlockingConnection(
            pika.ConnectionParameters(HOST, broker.port, "kept", credentials)
        )
        try:
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
                connection.channel().queue_declare("not-c")
            assert refused.value.reply_code == 403
        finally:
            connection.close()
    finally:
        broker.kill()


def test_a_deleted_default_user_is_not_created_again(tmp_path):
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs")
    broker.start()
    try:
        api = _api(broker)
        api.put(path("users", "admin2"), {"password": "pw", "tags": "administrator"})
        assert api.delete(path("users", "guest")).status == 204
        _restart(broker, "kill9")
        api = _api(broker, "admin2", "pw")
        assert [u["name"] for u in api.get("/api/users").json] == ["admin2"]
    finally:
        broker.kill()


def test_tracing_is_off_after_a_restart(tmp_path):
    """RabbitMQ keeps which vhosts trace in memory only: a node starts untraced."""
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs")
    broker.start()
    try:
        api = _api(broker)
        assert api.put(path("vhosts", "traced"), {"tracing": True}).status == 201
        assert api.put(path("vhosts", "/"), {"tracing": True}).status == 204
        assert api.get(path("vhosts", "traced")).json["tracing"] is True
        _restart(broker, "graceful")
        api = _api(broker)
        assert {v["name"]: v["tracing"] for v in api.get("/api/vhosts").json} == {
            "/": False,
            "traced": False,
        }
    finally:
        broker.kill()
