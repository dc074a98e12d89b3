"""The node, the overview and the health checks in the management API, on amqpd
and the reference alike: the fields tools read, and each check's answers."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from conformance.http_api import ApiClient, path


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


def test_the_node_reports_what_the_process_measures(api):
    [node] = api.get("/api/nodes").json
    assert node["name"] == api.get("/api/overview").json["node"]
    assert (node["type"], node["running"], node["rates_mode"]) == ("disc", True, "basic")
    for field in ("mem_used", "disk_free", "fd_used", "fd_total", "uptime", "mem_limit",
                  "disk_free_limit", "sockets_total", "proc_total"):  # fmt: skip
        assert isinstance(node[field], int) and node[field] > 0, field
    for field in ("sockets_used", "proc_used", "run_queue"):
        assert isinstance(node[field], int) and node[field] >= 0, field
    assert node["mem_alarm"] is False and node["disk_free_alarm"] is False
    assert "rate" in node["mem_used_details"] and "rate" in node["disk_free_details"]
    assert isinstance(node["os_pid"], str) and node["os_pid"].isdigit()
    assert {t["name"] for t in node["exchange_types"]} >= {"direct", "fanout", "headers", "topic"}
    assert node["partitions"] == []
    one = api.get(path("nodes", node["name"]) + "?memory=true").json
    assert one["name"] == node["name"] and isinstance(one["memory"]["total"]["rss"], int)


def test_the_overview_has_every_section(api):
    overview = api.get("/api/overview").json
    for field in ("management_version", "rabbitmq_version", "product_version", "product_name",
                  "cluster_name", "node", "rates_mode", "exchange_types", "listeners",
                  "contexts", "message_stats", "churn_rates", "queue_totals", "object_totals",
                  "statistics_db_event_queue", "sample_retention_policies"):  # fmt: skip
        assert field in overview, field
    assert overview["statistics_db_event_queue"] == 0
    assert isinstance(overview["message_stats"], dict)
    assert isinstance(overview["churn_rates"]["connection_created"], int)
    for field in ("channels", "connections", "consumers", "exchanges", "queues"):
        assert isinstance(overview["object_totals"][field], int)
    assert "messages_ready_details" in overview["queue_totals"]
    protocols = {lst["protocol"]: lst for lst in overview["listeners"]}
    assert isinstance(protocols["amqp"]["port"], int) and "http" in protocols
    assert [c["description"] for c in overview["contexts"]][0] == "RabbitMQ Management"
    names = [t["name"] for t in overview["exchange_types"]]
    assert names[:4] == ["direct", "fanout", "headers", "topic"]


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/api/health/checks/alarms", {"status": "ok"}),
        ("/api/health/checks/local-alarms", {"status": "ok"}),
        ("/api/health/checks/virtual-hosts", {"status": "ok"}),
        ("/api/health/checks/node-is-quorum-critical",
         {"status": "ok", "reason": "single node cluster"}),
        ("/api/health/checks/node-is-mirror-sync-critical",
         {"status": "ok", "reason": "single node cluster"}),
        ("/api/health/checks/protocol-listener/amqp", {"status": "ok", "protocol": "amqp"}),
        ("/api/health/checks/protocol-listener/AMQP091", {"status": "ok", "protocol": "amqp"}),
        ("/api/health/checks/protocol-listener/http", {"status": "ok", "protocol": "http"}),
        ("/api/health/checks/protocol-listener/management", {"status": "ok", "protocol": "http"}),
    ],
)  # fmt: skip
def test_passing_health_checks(api, target, body):
    answer = api.get(target)
    assert (answer.status, answer.json) == (200, body)


def test_the_port_listener_check(api, api_target):
    amqp_port = urlparse(api_target.broker.url).port
    http_port = urlparse(api_target.url).port
    for port in (amqp_port, http_port):
        answer = api.get(f"/api/health/checks/port-listener/{port}")
        assert (answer.status, answer.json) == (200, {"status": "ok", "port": port})
    answer = api.get("/api/health/checks/port-listener/1")
    assert answer.status == 503
    assert {k: answer.json[k] for k in ("status", "reason", "missing")} == {
        "status": "failed",
        "reason": "No active listener",
        "missing": 1,
    }
    assert amqp_port in answer.json["ports"] and http_port in answer.json["ports"]
    answer = api.get("/api/health/checks/port-listener/abc")
    assert (answer.status, answer.json) == (400, {"error": "bad_request",
                                                  "reason": "Invalid port"})  # fmt: skip


@pytest.mark.parametrize(("asked", "missing"), [("foo", "foo"), ("amqps", "amqp/ssl")])
def test_a_protocol_without_a_listener_fails(api, asked, missing):
    answer = api.get(f"/api/health/checks/protocol-listener/{asked}")
    assert answer.status == 503
    assert {k: answer.json[k] for k in ("status", "reason", "missing")} == {
        "status": "failed",
        "reason": "No active listener",
        "missing": missing,
    }
    assert "amqp" in answer.json["protocols"] and "http" in answer.json["protocols"]


def test_the_aliveness_test(api):
    try:
        answer = api.get(path("aliveness-test", "/"))
        assert (answer.status, answer.json) == (200, {"status": "ok"})
        queue = api.get(path("queues", "/", "aliveness-test"))
        assert queue.status == 200 and queue.json["durable"] is False
        again = api.get(path("aliveness-test", "/"))
        assert (again.status, again.json) == (200, {"status": "ok"})
    finally:
        api.delete(path("queues", "/", "aliveness-test"))
    assert api.get(path("aliveness-test", "no-such-vhost")).status == 404
    assert api.post(path("aliveness-test", "/"), {}).status == 405
