"""What the wire says about publishers: who is one, blocking them, and refusing
a message larger than max_message_size from its content header alone."""

import struct

from pamqp import commands

from amqpd.wire.connection import ConnectionSettings
from amqpd.wire.events import CommandReceived
from conformance.rawclient import raw_frame
from tests.wire_pair import ClientPair

BLOCKING = {"connection.blocked": True}


def opened(capabilities=None, **settings) -> ClientPair:
    pair = ClientPair(ConnectionSettings(**settings))
    pair.handshake(capabilities=capabilities)
    pair.open_channel(1)
    pair.events()
    return pair


def content_header(body_size: int, channel: int = 1) -> bytes:
    return raw_frame(2, channel, struct.pack(">HHQH", 60, 0, body_size, 0))


def test_a_connection_is_a_publisher_from_its_first_publish_frame_before_content():
    pair = opened()
    pair.send(1, commands.Queue.Declare(queue="q"))
    assert not pair.server.publisher
    pair.send(1, commands.Basic.Publish(routing_key="q"))
    assert pair.server.publisher  # no header, no body yet
    assert not [e for e in pair.events() if isinstance(e, CommandReceived)][1:]


def test_block_and_unblock_tell_a_client_that_takes_them_once_each():
    pair = opened(capabilities=BLOCKING)
    pair.server.block("low on memory")
    _, blocked = pair.one(commands.Connection.Blocked)
    assert blocked.reason == "low on memory"
    pair.server.block("low on memory & disk")  # still blocked: nothing more said
    assert pair.methods() == []
    assert pair.server.blocked
    pair.server.unblock()
    pair.one(commands.Connection.Unblocked)
    assert not pair.server.blocked
    pair.server.unblock()
    assert pair.methods() == []


def test_a_client_without_the_capability_is_never_told():
    pair = opened(capabilities={})
    pair.server.block("low on memory")
    assert pair.server.blocked and pair.methods() == []
    pair.server.unblock()
    assert not pair.server.blocked and pair.methods() == []


def test_a_header_declaring_too_large_a_body_is_refused_at_once():
    pair = opened(max_message_size=1000)
    pair.send(1, commands.Basic.Publish(routing_key="q"))
    pair.send_raw(content_header(2**40))
    channel, close = pair.one(commands.Channel.Close)
    assert (channel, close.reply_code, close.class_id, close.method_id) == (1, 406, 60, 40)
    assert close.reply_text == (
        "PRECONDITION_FAILED - message size 1099511627776 is larger than configured max size 1000"
    )
    assert pair.events()[-1].channel == 1  # ChannelClosed


def test_the_refused_body_is_counted_and_dropped():
    pair = opened(max_message_size=1000)
    pair.send(1, commands.Basic.Publish(routing_key="q"))
    pair.send_raw(content_header(3000))
    pair.one(commands.Channel.Close)
    assembler = pair.server._channels[1].assembler
    for _ in range(2):
        pair.send_raw(raw_frame(3, 1, b"x" * 1000))
        assert assembler._chunks == []
    pair.send_raw(raw_frame(3, 1, b"x" * 1000))  # the last of the declared 3000
    assert assembler.idle
    assert not [e for e in pair.events() if isinstance(e, CommandReceived)]
    pair.send(1, commands.Channel.CloseOk())
    pair.open_channel(1)
    pair.publish(1, b"y" * 1000)
    (command,) = [e for e in pair.events() if isinstance(e, CommandReceived)]
    assert command.command.body == b"y" * 1000


def test_at_the_limit_the_message_is_assembled():
    pair = opened(max_message_size=1000)
    pair.publish(1, b"z" * 1000)
    (event,) = pair.events()
    assert event.command.body == b"z" * 1000
    assert pair.methods() == []


def test_too_large_on_a_channel_not_yet_open_is_the_usual_504():
    pair = opened(max_message_size=1000)
    pair.send(2, commands.Basic.Publish(routing_key="q"))
    pair.send_raw(content_header(5000, channel=2))
    _, close = pair.one(commands.Connection.Close)
    assert (close.reply_code, close.class_id, close.method_id) == (504, 60, 40)
    assert close.reply_text == "CHANNEL_ERROR - expected 'channel.open'"
