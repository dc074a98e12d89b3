"""Definitions loaded at boot (``--load-definitions``, ``load_definitions``) and
imported through the API survive restarts, graceful or ``kill -9``; a broker
with a file to load seeds no default user on a first start, as RabbitMQ; a bad
file stops the start with one line and exit code 2."""

from __future__ import annotations

import json
import re

import pika
import pytest

from amqpd.model.access import hash_password
from conformance.helpers import wait_for
from conformance.http_api import ApiClient, path
from tests.broker_process import HOST, ProcessBroker, assert_one_line_refusal, run_amqpd

MANAGEMENT = re.compile(r"management API listening on \S+:(\d+)")


def _api(broker: ProcessBroker, user: str, password: str) -> ApiClient:
    # The management API's line comes just after the AMQP one start() waits for.
    found = wait_for(lambda: MANAGEMENT.search(broker.log()), what="the management API's port")
    port = int(found.group(1))
    return ApiClient(f"http://{user}:{password}@{HOST}:{port}")


def _amqp(broker: ProcessBroker, user: str, password: str, vhost: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        HOST, broker.port, vhost, pika.PlainCredentials(user, password), heartbeat=0,
        connection_attempts=1, socket_timeout=5))  # fmt: skip


def _definitions(vhost: str = "app") -> dict:
    return {
        "rabbit_version": "3.10.8",
        "users": [{"name": "ops", "password_hash": hash_password("ops-pw"),
                   "hashing_algorithm": "rabbit_password_hashing_sha256",
                   "tags": ["administrator"], "limits": {}},
                  {"name": "worker", "password_hash": hash_password("worker-pw"),
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [],
                   "limits": {}}],
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": u, "vhost": vhost, "configure": ".*", "write": ".*",
                         "read": ".*"} for u in ("ops", "worker")],
        "policies": [{"vhost": vhost, "name": "ttl", "pattern": "^jobs$", "apply-to": "queues",
                      "definition": {"message-ttl": 60000}, "priority": 0}],
        "queues": [{"name": "jobs", "vhost": vhost, "durable": True, "auto_delete": False,
                    "arguments": {"x-max-length": 100}}],
        "exchanges": [{"name": "work", "vhost": vhost, "type": "direct", "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}],
        "bindings": [{"source": "work", "vhost": vhost, "destination": "jobs",
                      "destination_type": "queue", "routing_key": "job", "arguments": {}}],
    }  # fmt: skip


def _restart(broker: ProcessBroker, how: str) -> None:
    if how == "kill9":
        broker.kill()
    else:
        assert broker.terminate() == 0
    broker.start()


def _check_file_applied(broker: ProcessBroker) -> ApiClient:
    api = _api(broker, "ops", "ops-pw")
    assert api.get("/api/whoami").status == 200
    assert api.get(path("policies", "app", "ttl")).status == 200
    assert api.get(path("queues", "app", "jobs")).json["effective_policy_definition"] == \
        {"message-ttl": 60000}  # fmt: skip
    connection = _amqp(broker, "worker", "worker-pw", "app")
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("work", "job", b"hello", mandatory=True)
    finally:
        connection.close()
    return api


@pytest.mark.parametrize("how", ["graceful", "kill9"])
def test_a_file_loaded_at_boot_replaces_the_default_user_and_survives_restarts(tmp_path, how):
    defs = tmp_path / "defs.json"
    defs.write_text(json.dumps(_definitions()))
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs", "--load-definitions", str(defs))
    broker.start()
    try:
        api = _check_file_applied(broker)
        assert api.get(path("users", "guest")).status == 404  # no default user was seeded
        assert api.get(path("vhosts", "/")).status == 404  # nor the default vhost
        # Changes made at runtime stay: the file is merged at each start, not reset to.
        api.put(path("users", "later"), {"password": "later-pw", "tags": ""})
        api.put(path("queues", "app", "extra"), {"durable": True})
        api.delete(path("queues", "app", "jobs"))

        _restart(broker, how)

        api = _check_file_applied(broker)  # jobs is back: the file made it again
        assert api.get(path("users", "later")).status == 200
        assert api.get(path("queues", "app", "extra")).status == 200
        assert api.get(path("users", "guest")).status == 404
    finally:
        broker.kill()


def test_a_file_given_to_a_broker_with_data_is_merged_and_its_users_stay(tmp_path):
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs")
    broker.start()
    broker.terminate()
    defs = tmp_path / "defs.json"
    defs.write_text(json.dumps(_definitions()))
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs2", "--load-definitions", str(defs))
    broker.start()
    try:
        _check_file_applied(broker)
        assert _api(broker, "guest", "guest").get("/api/whoami").status == 200
    finally:
        broker.kill()


def test_load_definitions_in_the_toml_file(tmp_path):
    defs = tmp_path / "defs.json"
    defs.write_text(json.dumps(_definitions()))
    config = tmp_path / "amqpd.toml"
    config.write_text(f'load_definitions = "{defs}"\n')
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs", "--config", str(config))
    broker.start()
    try:
        _check_file_applied(broker)
    finally:
        broker.kill()


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (None, ("cannot read definitions file",)),
        (b"{not json", ("is not valid JSON",)),
        (b"[1, 2]", ("is not a JSON object",)),
        (json.dumps({"exchanges": [{"name": "x", "vhost": "nowhere", "type": "direct",
                                    "durable": True, "auto_delete": False}]}).encode(),
         ("was refused", '["no_such_vhost", "nowhere"]')),
        (json.dumps({"vhosts": [{"name": "v"}], "policies": [
            {"vhost": "v", "name": "p", "pattern": "x", "definition": {"message-ttl": -1}}]}
         ).encode(), ("was refused", "Validation failed -1 is not a valid message TTL (v/p)")),
    ],
)  # fmt: skip
def test_a_bad_file_stops_the_start_with_one_line_and_exit_code_2(tmp_path, content, fragments):
    defs = tmp_path / "defs.json"
    if content is not None:
        defs.write_bytes(content)
    result = run_amqpd(tmp_path, "--port", "0", "--data-dir", str(tmp_path / "data"),
                       "--load-definitions", str(defs))  # fmt: skip
    assert_one_line_refusal(result, str(defs), *fragments)
    assert result.returncode == 2


@pytest.mark.parametrize("how", ["graceful", "kill9"])
def test_what_an_api_import_made_comes_back_after_a_restart(tmp_path, how):
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs")
    broker.start()
    try:
        api = _api(broker, "guest", "guest")
        body = _definitions()
        body["parameters"] = [{"vhost": "app", "component": "vhost-limits", "name": "limits",
                               "value": {"max-queues": 50}}]  # fmt: skip
        body["topic_permissions"] = [{"user": "worker", "vhost": "app", "exchange": "amq.topic",
                                      "write": "^a", "read": ".*"}]  # fmt: skip
        body["global_parameters"] = [{"name": "cluster_name", "value": "moved"}]
        assert api.post("/api/definitions", body).status == 204  # on disk when answered
        before = api.get("/api/definitions").json

        _restart(broker, how)

        after = _api(broker, "guest", "guest").get("/api/definitions").json
        assert after == before
        _check_file_applied(broker)
    finally:
        broker.kill()
