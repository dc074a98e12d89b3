"""Direct reply-to (amq.rabbitmq.reply-to): replies straight to a requester's channel.

A requester consumes from the pseudo-queue ``amq.rabbitmq.reply-to`` (no-ack)
and publishes with that as its reply-to; the broker rewrites it to a name of
its own, and a reply published to the default exchange with that name as the
routing key goes to the requester at once, through no queue.
"""

from __future__ import annotations

import base64
import secrets

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model import names
from amqpd.model.channel import ChannelModel
from amqpd.model.message import Message
from amqpd.wire.codec import unchecked

REPLY_TO = "amq.rabbitmq.reply-to"
REPLY_PREFIX = REPLY_TO + "."


def is_reply_queue(name: str) -> bool:
    """The pseudo-queue itself or one of the names replies go to."""
    return name == REPLY_TO or name.startswith(REPLY_PREFIX)


def reply_name() -> str:
    """amq.rabbitmq.reply-to.<pid>.<key>, shaped like RabbitMQ's: the first part
    is an Erlang external-term pid (RabbitMQ encodes its channel's), the second
    a random key. Clients treat the whole name as opaque."""
    node = b"reply@" + str(secrets.randbelow(10**7)).zfill(7).encode()
    pid = b"\x83Xv" + len(node).to_bytes(2, "big") + node + secrets.token_bytes(12)
    key = secrets.token_bytes(16)
    return f"{REPLY_PREFIX}{base64.b64encode(pid).decode()}.{base64.b64encode(key).decode()}"


class DirectReplyTo:
    """The channels that consume replies, by the name replies are sent to."""

    def __init__(self) -> None:
        self.channels: dict[str, ChannelModel] = {}

    def declare(self, name: str, vhost: str) -> Method:
        """queue.declare of the pseudo-queue (always there) or of a live reply name."""
        if name != REPLY_TO and name not in self.channels:
            raise ChannelError(ReplyCode.NOT_FOUND, f"no queue '{name}' in vhost '{vhost}'")
        return unchecked(commands.Queue.DeclareOk, queue=name, message_count=0, consumer_count=1)

    def consume(self, channel: ChannelModel, consumer_tag: str, no_ack: bool) -> Method:
        if not no_ack:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, "reply consumer cannot acknowledge")
        if channel.reply_consumer is not None:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, "reply consumer already set")
        channel.reply_consumer = consumer_tag or names.consumer_tag()
        channel.reply_name = reply_name()
        self.channels[channel.reply_name] = channel
        return commands.Basic.ConsumeOk(consumer_tag=channel.reply_consumer)

    def cancel(self, channel: ChannelModel, consumer_tag: str) -> None:
        if consumer_tag and consumer_tag == channel.reply_consumer:
            self.channel_closed(channel)
            channel.reply_consumer = channel.reply_name = None

    def channel_closed(self, channel: ChannelModel) -> None:
        if channel.reply_name is not None:
            self.channels.pop(channel.reply_name, None)

    def check_request(self, channel: ChannelModel) -> str:
        """A publish asking for direct replies: the name to put in its reply-to."""
        if channel.reply_consumer is None or channel.reply_name is None:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, "fast reply consumer does not exist")
        return channel.reply_name

    def deliver(self, message: Message, keys: list[str]) -> bool:
        """Hand a reply to the channels its keys name; whether any took it."""
        delivered = False
        for key in dict.fromkeys(keys):
            target = self.channels.get(key) if key.startswith(REPLY_PREFIX) else None
            if target is None or target.closed or target.reply_consumer is None:
                continue
            if not target.session.writable:
                # A requester not reading its socket gets no more replies until it
                # drains: direct reply-to is at-most-once, and nothing may pile up
                # without bound in its output (a mandatory reply comes back instead).
                continue
            # The reply consumer is no-ack; RabbitMQ gives its deliveries the
            # channel's next tag without using it up.
            target.session.send_delivery(
                target.number,
                target.reply_consumer,
                target.next_tag,
                False,
                message.exchange,
                message.routing_key,
                message.header,
                message.body,
            )
            delivered = True
        return delivered
