"""Policies, operator policies and global parameters survive a restart of
amqpd, graceful or kill -9, and still shape the queues they match; a deleted
vhost's policies do not come back."""

from __future__ import annotations

import re
import time

import pytest

from conformance.http_api import ApiClient, path
from tests.broker_process import HOST, ProcessBroker

MANAGEMENT = re.compile(r"management API listening on \S+:(\d+)")


def api_of(broker: ProcessBroker) -> ApiClient:
    deadline = time.monotonic() + 15
    while (found := MANAGEMENT.search(broker.log())) is None:
        assert time.monotonic() < deadline, "the management API never said where it listens"
        time.sleep(0.02)
    return ApiClient(f"http://guest:guest@{HOST}:{found.group(1)}")


@pytest.mark.parametrize("how", ["graceful", "kill9"])
def test_policies_come_back_and_apply(tmp_path, how):
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs")
    broker.start()
    try:
        api = api_of(broker)
        assert api.put(path("policies", "/", "short"), {
            "pattern": "^short\\.", "apply-to": "queues", "priority": 3,
            "definition": {"max-length": 2},
        }).status == 201  # fmt: skip
        api.put(
            path("operator-policies", "/", "cap"),
            {"pattern": ".*", "apply-to": "queues", "definition": {"max-length": 5}},
        )
        api.put(path("global-parameters", "kept"), {"value": {"a": 1}})
        api.put(path("vhosts", "gone"), {})
        api.put(
            path("policies", "gone", "doomed"), {"pattern": ".*", "definition": {"expires": 1000}}
        )
        assert api.delete(path("vhosts", "gone")).status == 204
        api.put(path("queues", "/", "short.q"), {"durable": True})

        if how == "kill9":
            broker.kill()
        else:
            assert broker.terminate() == 0
        broker.start()
        api = api_of(broker)

        policy = api.get(path("policies", "/", "short")).json
        assert (policy["pattern"], policy["priority"], policy["definition"]) == (
            "^short\\.",
            3,
            {"max-length": 2},
        )
        assert api.get(path("operator-policies", "/", "cap")).json["definition"] == {
            "max-length": 5
        }
        assert api.get(path("global-parameters", "kept")).json["value"] == {"a": 1}
        queue = api.get(path("queues", "/", "short.q")).json
        assert (queue["policy"], queue["operator_policy"]) == ("short", "cap")
        assert queue["effective_policy_definition"]["max-length"] == 2
        api.put(path("vhosts", "gone"), {})
        assert api.get(path("policies", "gone")).json == []
    finally:
        broker.kill()
