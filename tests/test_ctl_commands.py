"""``amqpd ctl`` commands that change things, and the health checks, against rabbitmqctl's.

Each step runs on both brokers (``rabbitmqctl`` on the reference, ``amqpd ctl`` on amqpd),
in the same order, and must print the same stdout and stderr and exit with the same code:
successes, and refusals such as an existing user (70), an unknown user (67), an unknown vhost
(65 or 69, as rabbitmqctl), an unknown queue or policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from tests.ctl_support import Api, Run, ours, q, require_reference, theirs

SUFFIX = uuid.uuid4().hex[:8]
VHOST = f"ctl-cmd-{SUFFIX}"
USER = f"ctl-cmd-user-{SUFFIX}"


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[str, Api]]:
    reference = require_reference()
    with BrokerThread(BrokerConfig(store="memory")) as broker:
        try:
            yield broker.management_url, reference
        finally:
            for path in (f"/api/vhosts/{q(VHOST)}", f"/api/users/{q(USER)}"):
                try:
                    reference.call("DELETE", path)
                except OSError:
                    pass


def same(url: str, *args: str) -> Run:
    mine, ref = ours(url, *args), theirs(*args)
    assert (mine.code, mine.out, mine.err) == (ref.code, ref.out, ref.err), args
    return mine


def test_user_lifecycle_as_rabbitmqctl(both):
    url, _ = both
    assert same(url, "add_user", USER, "pw1").code == 0
    assert same(url, "add_user", USER, "pw1").code == 70
    same(url, "set_user_tags", USER, "monitoring", "management")
    same(url, "change_password", USER, "pw2")
    assert same(url, "change_password", f"nobody-{SUFFIX}", "x").code == 67
    same(url, "set_user_tags", USER)
    assert same(url, "delete_user", USER).code == 0
    assert same(url, "delete_user", USER).code == 67


def test_vhost_permissions_and_policies_as_rabbitmqctl(both):
    url, _ = both
    same(url, "add_vhost", VHOST)
    same(url, "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    assert (
        same(url, "set_permissions", "-p", f"none-{SUFFIX}", "guest", ".*", ".*", ".*").code == 69
    )
    same(url, "set_policy", "-p", VHOST, "--priority", "3", "--apply-to", "queues", "p1", "^q",
         '{"max-length":5}')  # fmt: skip
    assert same(url, "set_policy", "-p", VHOST, "bad", "^x", "notjson").code == 69
    same(url, "clear_policy", "-p", VHOST, "p1")
    assert same(url, "clear_policy", "-p", VHOST, "p1").code == 69
    same(url, "clear_permissions", "-p", VHOST, "guest")
    same(url, "delete_vhost", VHOST)
    assert same(url, "delete_vhost", VHOST).code == 65


def test_queue_commands_as_rabbitmqctl(both):
    url, reference = both
    same(url, "add_vhost", VHOST)
    same(url, "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    for api in (Api(url), reference):
        for name in ("dq", "pq"):
            api.call("PUT", f"/api/queues/{q(VHOST)}/{name}", {"durable": True})
    same(url, "purge_queue", "-p", VHOST, "pq")
    assert same(url, "purge_queue", "-p", VHOST, "nosuch").code == 69
    assert same(url, "delete_queue", "-p", VHOST, "nosuch").code == 64
    same(url, "delete_queue", "-p", VHOST, "dq", "--if-empty")
    same(url, "delete_queue", "-p", VHOST, "pq")
    same(url, "delete_vhost", VHOST)


@pytest.mark.parametrize(
    "args", [("list_queues", "nosuchitem"), ("add_user",), ("add_user", "a", "b", "c")]
)
def test_bad_arguments_exit_64_with_rabbitmqctls_first_lines(both, args):
    url, _ = both
    mine, ref = ours(url, *args), theirs(*args)
    assert mine.code == ref.code == 64
    assert mine.err.splitlines()[:3] == ref.err.splitlines()[:3]


@pytest.mark.parametrize(
    "command", ["ping", "check_running", "check_local_alarms", "server_version"]
)
@pytest.mark.parametrize("flags", [(), ("-q",), ("--formatter", "json")])
def test_health_checks_as_rabbitmq_diagnostics(both, command, flags):
    url, _ = both
    mine = ours(url, *flags, command, tool="diagnostics")
    ref = theirs(*flags, command, tool="rabbitmq-diagnostics")
    assert mine.code == ref.code == 0, mine
    # the node names differ: amqpd's is its own; everything around them is the same
    node = Api(url).call("GET", "/api/overview")["node"]
    ref_node = theirs("-q", "eval", "node().").out.strip()
    assert mine.out == ref.out.replace(ref_node, node)


def test_trace_on_and_off_as_rabbitmqctl(both):
    url, reference = both
    vhost = f"{VHOST}-trace"
    try:
        same(url, "add_vhost", vhost, "--description", "traced")
        for flags in ((), ("-q",), ("-s",)):
            same(url, *flags, "trace_on", "-p", vhost)
            for api in (Api(url), reference):
                found = api.call("GET", f"/api/vhosts/{q(vhost)}")
                assert (found["tracing"], found["description"]) == (True, "traced")
            listed = [
                row
                for run in (
                    ours(url, "list_vhosts", "name", "tracing"),
                    theirs("list_vhosts", "name", "tracing"),
                )  # fmt: skip
                for row in run.out.splitlines()
                if row.startswith(vhost)
            ]
            assert listed == [f"{vhost}\ttrue"] * 2
            same(url, *flags, "trace_off", "-p", vhost)
            assert Api(url).call("GET", f"/api/vhosts/{q(vhost)}")["tracing"] is False
    finally:
        theirs("trace_off", "-p", vhost)
        same(url, "delete_vhost", vhost)
