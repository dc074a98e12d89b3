import pytest
from pamqp import commands

from amqpd.errors import AMQPConnectionError, ReplyCode
from amqpd.wire import properties
from amqpd.wire.assembler import CommandAssembler
from amqpd.wire.codec import ContentHeader
from amqpd.wire.fieldtable import plain

PROPS = b"\x00\x00"


def header(size, class_id=60):
    return ContentHeader(class_id, size, PROPS)


def test_plain_method_completes_at_once():
    cmd = CommandAssembler().method(commands.Basic.Qos(prefetch_count=1))
    assert isinstance(cmd.method, commands.Basic.Qos) and cmd.header is None


def test_publish_header_and_bodies_make_one_command():
    asm = CommandAssembler()
    assert asm.method(commands.Basic.Publish(routing_key="k")) is None
    assert asm.header(header(5)) is None
    assert asm.body(b"he") is None
    cmd = asm.body(b"llo")
    assert cmd.body == b"hello" and cmd.header.body_size == 5
    assert asm.idle


def test_empty_body_completes_at_the_header():
    asm = CommandAssembler()
    asm.method(commands.Basic.Publish())
    cmd = asm.header(header(0))
    assert cmd.body == b""


EXPECTED_METHOD = "expected method frame, got non method frame instead"
EXPECTED_HEADER = "expected content header for class 60, got non content header frame instead"
EXPECTED_BODY = "expected content body, got non content body frame instead"


@pytest.mark.parametrize(
    "steps, detail, ids",
    [
        (["header"], EXPECTED_METHOD, (0, 0)),
        (["body"], EXPECTED_METHOD, (0, 0)),
        (["publish", "method"], EXPECTED_HEADER, (60, 40)),
        (["publish", "body"], EXPECTED_HEADER, (60, 40)),
        (["publish", "header10", "method"], EXPECTED_BODY, (60, 40)),
        (["publish", "header10", "header10"], EXPECTED_BODY, (60, 40)),
        (
            ["publish", "header_class50"],
            "expected content header for class 60, got one for class 50 instead",
            (60, 40),
        ),
        (["publish", "header_weight1"], EXPECTED_HEADER, (60, 40)),
        (["publish", "header0", "body"], EXPECTED_METHOD, (0, 0)),
    ],
)
def test_out_of_order_is_unexpected_frame(steps, detail, ids):
    asm = CommandAssembler()
    actions = {
        "publish": lambda: asm.method(commands.Basic.Publish()),
        "method": lambda: asm.method(commands.Basic.Qos()),
        "header": lambda: asm.header(header(1)),
        "header0": lambda: asm.header(header(0)),
        "header10": lambda: asm.header(header(10)),
        "header_class50": lambda: asm.header(header(10, class_id=50)),
        "header_weight1": lambda: asm.header(ContentHeader(60, 10, PROPS, weight=1)),
        "body": lambda: asm.body(b"x"),
    }
    for step in steps[:-1]:
        actions[step]()
    with pytest.raises(AMQPConnectionError) as err:
        actions[steps[-1]]()
    assert err.value.code == ReplyCode.UNEXPECTED_FRAME
    assert err.value.detail == detail
    assert (err.value.class_id, err.value.method_id) == ids


def test_body_longer_than_declared_never_completes_and_blocks_the_next_method():
    # RabbitMQ accepts the overlong body silently; the message is never
    # delivered and the next method frame is refused.
    asm = CommandAssembler()
    asm.method(commands.Basic.Publish())
    asm.header(header(5))
    assert asm.body(b"0123456789") is None
    assert asm.body(b"more") is None
    with pytest.raises(AMQPConnectionError) as err:
        asm.method(commands.Basic.Qos())
    assert err.value.detail == EXPECTED_BODY


def test_empty_body_frame_is_accepted():
    asm = CommandAssembler()
    asm.method(commands.Basic.Publish())
    asm.header(header(3))
    assert asm.body(b"") is None
    assert asm.body(b"abc").body == b"abc"


def test_properties_stay_raw_until_asked():
    props = commands.Basic.Properties(content_type="text/plain", headers={"a": 1}, priority=3)
    raw = props.marshal()
    h = ContentHeader.parse(b"\x00\x3c\x00\x00" + (7).to_bytes(8, "big") + raw)
    assert h.raw_properties == raw and h.body_size == 7
    decoded = properties.decode(h.raw_properties)
    assert decoded["content_type"] == b"text/plain" and decoded["priority"] == 3
    assert {k: plain(v) for k, v in decoded["headers"].items()} == {"a": 1}
