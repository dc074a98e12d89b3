"""``amqpd ctl`` against the reference's own rabbitmqctl, on the same state.

Both brokers get the same dedicated vhost (so that other tests' objects never show), with the
same queues, messages, exchanges, bindings, policy, user and consumer, each through its own
management API. Then ``rabbitmqctl ...`` and ``amqpd ctl --url ... ...`` run with the same
arguments and their outputs are compared: banner lines and header as they are, rows sorted
(each broker lists in its own table order). Left out of the comparison, because they differ
by nature: pids and node names (Erlang's against amqpd's connection names), peer ports.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pika
import pytest

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from tests.ctl_support import Api, ours, q, require_reference, rows, theirs

SUFFIX = uuid.uuid4().hex[:8]
VHOST = f"ctl-{SUFFIX}"
USER = f"ctl-user-{SUFFIX}"
QUEUE_ITEMS = (
    "name messages messages_ready messages_unacknowledged consumers durable auto_delete "
    "arguments policy type state"
).split()


def populate(api: Api, amqp_port: int) -> pika.BlockingConnection:
    v = q(VHOST)
    api.call("PUT", f"/api/vhosts/{v}", {})
    api.call("PUT", f"/api/permissions/{v}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    for name, body in (
        ("qa", {"durable": True, "arguments": {"x-max-length": 10}}),
        ("q b", {"durable": True, "arguments": {"x-message-ttl": 60000}}),
        ("qq", {"durable": True, "arguments": {"x-queue-type": "quorum"}}),
        ("tmp", {"durable": False, "auto_delete": True, "arguments": {}}),
    ):
        api.call("PUT", f"/api/queues/{v}/{q(name)}", body)
    publish = {"properties": {}, "routing_key": "qa", "payload": "x", "payload_encoding": "string"}
    for _ in range(3):
        api.call("POST", f"/api/exchanges/{v}/amq.default/publish", publish)
    api.call("PUT", f"/api/exchanges/{v}/ex1", {"type": "topic", "durable": True,
             "arguments": {"alternate-exchange": "amq.fanout"}})  # fmt: skip
    api.call(
        "POST", f"/api/bindings/{v}/e/ex1/q/qa", {"routing_key": "a.#", "arguments": {"x-m": "y"}}
    )
    api.call("POST", f"/api/bindings/{v}/e/ex1/e/amq.direct", {"routing_key": "k"})
    api.call("PUT", f"/api/policies/{v}/pol1", {"pattern": "^q", "apply-to": "queues",
             "priority": 3, "definition": {"max-length": 5}})  # fmt: skip
    api.call("PUT", f"/api/users/{q(USER)}", {"password": "pw", "tags": "monitoring"})
    api.call(
        "PUT", f"/api/permissions/{v}/{q(USER)}", {"configure": "^a", "write": ".*", "read": ""}
    )
    return consume(amqp_port)


def consume(port: int) -> pika.BlockingConnection:
    params = pika.ConnectionParameters(
        "127.0.0.1", port, VHOST, pika.PlainCredentials("guest", "guest")
    )
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=7)
    channel.basic_consume("q b", lambda *_: None, consumer_tag="ctag1")
    connection.channel()  # a second, idle channel
    return connection


def clean(api: Api) -> None:
    for path in (f"/api/vhosts/{q(VHOST)}", f"/api/users/{q(USER)}"):
        try:
            api.call("DELETE", path)
        except OSError:
            pass


@pytest.fixture(scope="module")
def brokers() -> Iterator[str]:
    """amqpd's management URL, once both brokers hold the same state."""
    reference = require_reference()
    with BrokerThread(BrokerConfig(store="memory")) as broker:
        held = [populate(Api(broker.management_url), broker.port), populate(reference, 5672)]
        try:
            yield broker.management_url
        finally:
            for connection in held:
                connection.close()
            clean(reference)


def compare(url: str, skip: int, *args: str, drop: frozenset[str] = frozenset()) -> None:
    """Banners and header as they are, then the rows in any order, less rows named in drop."""
    mine, ref = ours(url, *args), theirs(*args)
    assert (mine.code, mine.err) == (ref.code, ref.err), (mine, ref)
    if "json" in args:
        assert json_rows(mine.out) == json_rows(ref.out)
        return
    (my_head, my_rows), (ref_head, ref_rows) = rows(mine.out, skip), rows(ref.out, skip)
    assert my_head == ref_head
    assert my_rows == [row for row in ref_rows if row[0] not in drop]


def json_rows(output: str) -> list[dict]:
    return sorted(json.loads(output), key=lambda row: json.dumps(row, sort_keys=True))


@pytest.mark.parametrize(
    "items",
    [(), tuple(QUEUE_ITEMS), ("messages", "name", "policy", "consumers")],
    ids=["default", "common", "reordered"],
)
def test_list_queues_matches_rabbitmqctl(brokers, items):
    compare(brokers, 3, "list_queues", "-p", VHOST, *items)


@pytest.mark.parametrize("flags,skip", [(("-q",), 1), (("-s",), 0), (("--no-table-headers",), 2)])
def test_list_queues_quiet_silent_and_headerless_as_rabbitmqctl(brokers, flags, skip):
    compare(brokers, skip, "list_queues", "-p", VHOST, *flags, "name", "messages", "durable")


def test_list_queues_json_formatter_as_rabbitmqctl(brokers):
    args = ("list_queues", "-p", VHOST, "--formatter", "json", *QUEUE_ITEMS)
    mine, ref = ours(brokers, *args), theirs(*args)
    assert mine.code == ref.code == 0
    assert mine.out.splitlines()[0] == ref.out.splitlines()[0] == "["
    assert [line[:1] for line in mine.out.splitlines()] == [
        line[:1] for line in ref.out.splitlines()
    ]
    by_name = lambda out: sorted(json.loads(out), key=lambda r: r["name"])  # noqa: E731
    assert by_name(mine.out) == by_name(ref.out)


def test_list_exchanges_matches_rabbitmqctl(brokers):
    items = ("name", "type", "durable", "auto_delete", "internal", "arguments", "policy")
    compare(brokers, 2, "list_exchanges", "-p", VHOST, *items)


def test_list_bindings_matches_rabbitmqctl(brokers):
    compare(brokers, 2, "list_bindings", "-p", VHOST)


@pytest.mark.parametrize(
    "args",
    [
        ("list_permissions", "-p", VHOST),
        ("list_user_permissions", USER),
        ("list_policies", "-p", VHOST),
        (
            "list_consumers",
            "-p",
            VHOST,
            "queue_name",
            "consumer_tag",
            "ack_required",
            "prefetch_count",
            "active",
            "arguments",
        ),
        ("list_permissions", "-p", VHOST, "--formatter", "json"),
        ("list_policies", "-p", VHOST, "--formatter", "json"),
    ],  # fmt: skip
    ids=[
        "permissions",
        "user_permissions",
        "policies",
        "consumers",
        "permissions-json",
        "policies-json",
    ],  # fmt: skip
)
def test_vhost_scoped_lists_match_rabbitmqctl(brokers, args):
    compare(brokers, 0 if "json" in args else 2, *args)


def only(output: str, needle: str) -> list[str]:
    """Lines naming our vhost or user: the reference holds other tests' objects too."""
    return [line for line in output.splitlines() if needle in line.split("\t")]


@pytest.mark.parametrize(
    "args,needle",
    [
        (("list_users",), USER),
        (("list_vhosts", "name", "tracing"), VHOST),
        (("list_connections", "user", "vhost", "state", "channels", "protocol"), VHOST),
        (
            (
                "list_channels",
                "number",
                "user",
                "vhost",
                "consumer_count",
                "messages_unacknowledged",
                "prefetch_count",
            ),
            VHOST,
        ),
    ],  # fmt: skip
    ids=["users", "vhosts", "connections", "channels"],
)
def test_node_wide_lists_match_rabbitmqctl_on_our_rows(brokers, args, needle):
    mine, ref = ours(brokers, *args), theirs(*args)
    assert mine.code == ref.code == 0
    assert mine.out.splitlines()[:2] == ref.out.splitlines()[:2]  # banner, header
    assert sorted(only(mine.out, needle)) == sorted(only(ref.out, needle))
