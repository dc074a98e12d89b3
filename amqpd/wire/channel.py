"""One channel's life on the wire: starting, open, closing.

A channel comes into being with the first frame on its number (as in
RabbitMQ), assembles commands from its frames, and decides what the
connection must answer. Commands for the broker pass through untouched.

    STARTING --channel.open--> OPEN --channel.close (client)--> gone
                                 |
                                 +--error (broker sends channel.close)--> CLOSING
    CLOSING --channel.close-ok--> gone        (everything else is ignored)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, ChannelError, ReplyCode
from amqpd.wire.access import Access
from amqpd.wire.assembler import Command, CommandAssembler
from amqpd.wire.codec import ContentHeader, decode_method, method_ids, unchecked
from amqpd.wire.frames import FRAME_BODY, FRAME_HEADER, FRAME_METHOD, RawFrame


class ChannelState(enum.Enum):
    STARTING = "starting"
    OPEN = "open"
    CLOSING = "closing"  # the broker sent channel.close and waits for close-ok


@dataclass(frozen=True, slots=True)
class Reply:
    """What the connection does after a complete command on this channel."""

    send: Method | None = None
    opened: bool = False
    closed_by_client: bool = False
    finished: bool = False  # close handshake done: the number is free again
    for_broker: bool = False


_IGNORE = Reply()
# The reserved channel-id field: RabbitMQ sends it empty (pamqp would send "0").
_OPEN_OK = unchecked(commands.Channel.OpenOk, channel_id="")


class Channel:
    def __init__(self, max_body_size: int | None = None) -> None:
        self.state = ChannelState.STARTING
        self.assembler = CommandAssembler(max_body_size)

    def feed(self, raw: RawFrame) -> Command | None:
        if raw.type == FRAME_METHOD:
            return self.assembler.method(decode_method(raw.payload))
        if raw.type == FRAME_HEADER:
            try:
                return self.assembler.header(ContentHeader.parse(raw.payload))
            except ChannelError:
                # The body will be dropped: answer now what its command would have had.
                if self.state is ChannelState.OPEN:
                    raise
                if self.state is ChannelState.STARTING:
                    pending = self.assembler.pending
                    assert pending is not None
                    raise _channel_error("expected 'channel.open'", pending) from None
                return None  # closing: everything but close and close-ok is ignored
        assert raw.type == FRAME_BODY
        return self.assembler.body(raw.payload)

    def handle(self, command: Command) -> Reply:
        method = command.method
        if self.state is ChannelState.STARTING:
            if not isinstance(method, commands.Channel.Open):
                raise _channel_error("expected 'channel.open'", method)
            self.state = ChannelState.OPEN
            return Reply(send=_OPEN_OK, opened=True)
        if isinstance(method, commands.Channel.Open):
            raise _channel_error("second 'channel.open' seen", method)
        if self.state is ChannelState.CLOSING:
            return _while_closing(method)
        if isinstance(method, commands.Channel.Close):
            return Reply(send=commands.Channel.CloseOk(), closed_by_client=True)
        if isinstance(method, commands.Channel.Flow):
            if not method.active:
                raise AMQPConnectionError(
                    ReplyCode.NOT_IMPLEMENTED, "active=false", *method_ids(method)
                )
            return Reply(send=commands.Channel.FlowOk(active=True))
        if isinstance(method, Access.Request):
            # RabbitMQ grants every request the same ticket and never checks tickets.
            return Reply(send=Access.RequestOk(ticket=1))
        if not client_may_send(method):
            raise AMQPConnectionError(
                ReplyCode.COMMAND_INVALID, "unimplemented method", *method_ids(method)
            )
        return Reply(for_broker=True)


def _while_closing(method: Method) -> Reply:
    """After the broker's channel.close, only close and close-ok mean anything."""
    if isinstance(method, commands.Channel.Close):
        return Reply(send=commands.Channel.CloseOk())
    if isinstance(method, commands.Channel.CloseOk):
        return Reply(finished=True)
    return _IGNORE


# Methods only a server sends, by pamqp name, beyond the replies ending in "Ok".
_SERVER_METHODS = frozenset({"Basic.Return", "Basic.Deliver", "Basic.GetEmpty"})


def client_may_send(method: Method) -> bool:
    """Whether a client may send this method on a channel other than 0."""
    name = method.name
    if name.startswith("Connection.") or name in _SERVER_METHODS:
        return False
    return not name.endswith("Ok")


def _channel_error(detail: str, method: Method) -> AMQPConnectionError:
    return AMQPConnectionError(ReplyCode.CHANNEL_ERROR, detail, *method_ids(method))
