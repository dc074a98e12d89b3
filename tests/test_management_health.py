"""Health checks and the node when a resource alarm is on (not provoked on the
shared reference), and amqpd's 404 where RabbitMQ crashes (docs/compatibility.md)."""

from __future__ import annotations

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from conformance.helpers import wait_for
from conformance.http_api import ApiClient, path


def test_a_disk_alarm_fails_the_alarm_checks_and_shows_on_the_node(tmp_path):
    config = BrokerConfig(data_dir=tmp_path, management_port=0, disk_free_limit=10**18,
                          resource_check_interval=0.05)  # fmt: skip
    with BrokerThread(config) as broker:
        api = ApiClient(broker.management_url)
        node = api.get("/api/overview").json["node"]
        answer = wait_for(lambda: (a := api.get("/api/health/checks/alarms")).status == 503 and a,
                          5.0, "the disk alarm")  # fmt: skip
        assert answer.json == {
            "status": "failed", "reason": "There are alarms in effect in the cluster",
            "alarms": [{"node": node, "resource": "disk space"}],
        }  # fmt: skip
        local = api.get("/api/health/checks/local-alarms")
        assert local.status == 503
        assert local.json["reason"] == "There are alarms in effect on the node"
        [shown] = api.get("/api/nodes").json
        assert shown["disk_free_alarm"] is True and shown["mem_alarm"] is False


def test_an_unknown_node_is_404_not_500(amqpd_broker):
    api = ApiClient(amqpd_broker.management_url)
    answer = api.get(path("nodes", "rabbit@no-such-node"))
    assert (answer.status, answer.json) == (404, {"error": "Object Not Found",
                                                  "reason": "Not Found"})  # fmt: skip
