"""Field tables nested deeper than fieldtable.MAX_DEPTH never enter the broker.

RabbitMQ takes thousands of levels; amqpd refuses anything past MAX_DEPTH
where tables are decoded (method arguments: 501 cannot decode; content
properties: 541, as any malformed properties; start-ok and AMQPLAIN: the
login fails), so nothing later (dead-lettering, the store, restarts) recurses
without bound. At the limit everything works, dead-lettering included.
"""

import struct
import tempfile

import pytest
from pamqp import commands

from amqpd.config import BrokerConfig
from amqpd.errors import AMQPConnectionError
from amqpd.testing import BrokerThread
from amqpd.wire import auth, fieldtable, properties
from amqpd.wire.codec import decode_method
from conformance import typed
from conformance.helpers import declare, dlx, wait_get
from conformance.rawclient import Closed, RawClient, raw_frame

LIMIT = fieldtable.MAX_DEPTH


def nested_field(depth: int, arrays: bool = False) -> tuple[str, object]:
    """A typed table ("F") ``depth`` levels deep, counting itself; with
    ``arrays`` every other level below it is an array ("A")."""
    kind = "F"
    field: tuple[str, object] = ("F", [("leaf", "S", "bottom")])
    for level in range(depth - 1, 0, -1):
        kind = "A" if arrays and level % 2 == 0 else "F"
        field = ("A", [field]) if kind == "A" else ("F", [("a", *field)])
    return field


def nested_items(depth: int, arrays: bool = False) -> list:
    """The typed items of a table ``depth`` levels deep (see nested_field)."""
    return nested_field(depth, arrays)[1]


def nested_table(depth: int) -> bytes:
    """typed.encode_table(nested_items(depth)), built without recursion."""
    table = typed.encode_table([("leaf", "S", "bottom")])
    for _ in range(depth - 1):
        table = _wrap(table)
    return table


def _wrap(table: bytes) -> bytes:
    entry = b"\x01aF" + table
    return struct.pack(">I", len(entry)) + entry


def depth_of(field) -> int:
    kind, value = field
    if kind == "F":
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if kind == "A":
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


# ---- the decoder ---------------------------------------------------------------------


def test_decoder_takes_tables_at_the_limit_and_refuses_one_level_more():
    table, end = fieldtable.decode_table(nested_table(LIMIT))
    assert end == len(nested_table(LIMIT))
    assert depth_of(("F", table)) == LIMIT
    with pytest.raises(fieldtable.TableError, match="nested deeper"):
        fieldtable.decode_table(nested_table(LIMIT + 1))


def test_arrays_count_as_levels_too():
    at_limit = typed.encode_table(nested_items(LIMIT, arrays=True))
    table, _ = fieldtable.decode_table(at_limit)
    assert depth_of(("F", table)) == LIMIT
    with pytest.raises(fieldtable.TableError, match="nested deeper"):
        fieldtable.decode_table(typed.encode_table(nested_items(LIMIT + 1, arrays=True)))


def test_properties_with_headers_past_the_limit_are_malformed():
    def props(depth):
        return struct.pack(">H", 0x2000) + nested_table(depth)

    decoded = properties.decode(props(LIMIT))
    assert depth_of(("F", decoded["headers"])) == LIMIT
    assert properties.encode(decoded) == props(LIMIT)
    with pytest.raises(fieldtable.TableError):
        properties.decode(props(LIMIT + 1))


def declare_payload(arguments: bytes) -> bytes:
    method = commands.Queue.Declare(queue="deep")
    method.arguments = {}
    payload = struct.pack(">HH", 50, 10) + method.marshal()
    return payload[:-4] + arguments


def test_method_arguments_past_the_limit_cannot_be_decoded():
    deep = typed.encode_table([("x-deep", "F", nested_items(LIMIT - 1))])
    method = decode_method(declare_payload(deep))
    assert method.arguments.typed["x-deep"][0] == "F"
    deeper = typed.encode_table([("x-deep", "F", nested_items(LIMIT))])
    with pytest.raises(AMQPConnectionError) as caught:
        decode_method(declare_payload(deeper))
    assert (caught.value.code, caught.value.class_id, caught.value.method_id) == (501, 50, 10)
    assert caught.value.detail.startswith("cannot decode")


def test_amqplain_response_past_the_limit_is_unreadable():
    def response(depth):
        login = [("LOGIN", "S", "guest"), ("PASSWORD", "S", "guest")]
        return typed.encode_table(login + [("x", "F", nested_items(depth - 1))])[4:]

    assert auth.parse_response("AMQPLAIN", response(LIMIT)) == ("guest", "guest")
    assert auth.parse_response("AMQPLAIN", response(LIMIT + 1)) is None


# ---- through the broker ----------------------------------------------------------------


@pytest.fixture(scope="module")
def running_broker():
    with tempfile.TemporaryDirectory() as data:
        with BrokerThread(BrokerConfig(data_dir=data, store="memory")) as running:
            yield running


def connect(broker) -> RawClient:
    client = RawClient(broker.host, broker.port)
    client.handshake()
    client.open_channel(1)
    return client


def publish_with_headers(client, queue: str, headers_table: bytes, body: bytes = b"deep") -> None:
    props = struct.pack(">H", 0x2000) + headers_table
    client.send(1, commands.Basic.Publish(exchange="", routing_key=queue))
    header = struct.pack(">HHQ", 60, 0, len(body)) + props
    client.send_raw(raw_frame(2, 1, header) + raw_frame(3, 1, body))


def assert_still_serving(broker) -> None:
    with connect(broker) as other:
        other.call_ok(1, commands.Queue.Declare(queue="", exclusive=True), commands.Queue.DeclareOk)


def test_headers_at_the_limit_are_dead_lettered_when_they_expire(running_broker):
    with connect(running_broker) as client:
        dlq = "nesting-dlq"
        declare(client, dlq, exclusive=True)
        declare(client, "nesting-ttl", *dlx("", dlq), ("x-message-ttl", "l", 1), exclusive=True)
        publish_with_headers(client, "nesting-ttl", nested_table(LIMIT))
        _method, props, body = wait_get(client, dlq)
        assert body == b"deep"
        headers = {name: (code, value) for name, code, value in props["headers"]}
        assert headers["a"] == ("F", nested_items(LIMIT)[0][2])
        assert headers["x-first-death-reason"] == ("S", "expired")
    assert_still_serving(running_broker)


@pytest.mark.parametrize("depth", [LIMIT + 1, 300, 1000])
def test_headers_past_the_limit_close_the_connection_as_malformed_properties(running_broker, depth):
    """Deep enough, such headers once crashed the broker when dead-lettering
    encoded them again; now they never reach the queue."""
    with connect(running_broker) as watcher:
        dlq = f"nesting-past-dlq-{depth}"
        declare(watcher, dlq, exclusive=True)
        queue = f"nesting-past-{depth}"
        declare(watcher, queue, *dlx("", dlq), ("x-message-ttl", "l", 1), exclusive=True)
        with connect(running_broker) as client:
            publish_with_headers(client, queue, nested_table(depth))
            code, text, class_id, method_id = client.expect_connection_error()
            assert (code, text, class_id, method_id) == (541, "INTERNAL_ERROR", 0, 0)
        publish_with_headers(watcher, queue, nested_table(2), b"after")
        assert wait_get(watcher, dlq)[2] == b"after"  # the only one dead-lettered
        assert typed.get(watcher, 1, dlq) is None
    assert_still_serving(running_broker)


def test_queue_arguments_past_the_limit_close_the_connection_with_501(running_broker):
    with connect(running_broker) as client:
        deeper = typed.encode_table([("x-deep", "F", nested_items(LIMIT))])
        client.send_with_table(1, commands.Queue.Declare(queue="nesting-args"), deeper)
        code, text, class_id, method_id = client.expect_connection_error()
        assert (code, class_id, method_id) == (501, 50, 10)
        assert text.startswith("FRAME_ERROR - cannot decode")
    with connect(running_broker) as client:
        reply = client.call(1, commands.Queue.Declare(queue="nesting-args", passive=True))
        assert isinstance(reply, commands.Channel.Close) and reply.reply_code == 404


def test_client_properties_past_the_limit_fail_the_login(running_broker):
    with RawClient(running_broker.host, running_broker.port) as client:
        client.send_raw(b"AMQP\x00\x00\x09\x01")
        client.expect(commands.Connection.Start)
        start_ok = commands.Connection.StartOk(
            client_properties={}, mechanism="PLAIN", response="\0guest\0guest", locale="en_US"
        )
        payload = struct.pack(">HH", 10, 11) + start_ok.marshal()
        empty_table = b"\0\0\0\0"
        assert payload[4:8] == empty_table
        payload = payload[:4] + nested_table(LIMIT + 1) + payload[8:]
        client.send_raw(raw_frame(1, 0, payload))
        # Before tune-ok a fault gets no reply: the socket is dropped after a pause.
        with pytest.raises(Closed):
            client.read_frame(timeout=10)
    assert_still_serving(running_broker)
