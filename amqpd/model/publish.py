"""basic.publish: checks, sender-selected routing, direct reply-to, delayed delivery.

The checks run in RabbitMQ's order: the exchange exists and is not internal,
user-id matches the login, the expiration is a valid TTL, CC/BCC are arrays.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

from pamqp import commands

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model.message import Message
from amqpd.model.queue_args import MAX_TTL
from amqpd.wire import properties as props_codec
from amqpd.wire.codec import unchecked
from amqpd.wire.erlang import tuple_p
from amqpd.wire.fieldtable import TYPE_NAMES

if TYPE_CHECKING:
    from amqpd.model.broker import Broker, SessionState
    from amqpd.model.channel import ChannelModel
    from amqpd.model.vhost import Exchange

REPLY_TO = "amq.rabbitmq.reply-to"
REPLY_PREFIX = REPLY_TO + "."


def check_and_build(
    broker: Broker, state: SessionState, channel: ChannelModel, method, header, body
) -> tuple[Exchange, Message]:
    """The exchange and message of a publish, or the error RabbitMQ gives for it."""
    size = len(body)
    if size > broker.max_message_size:
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"message size {size} is larger than configured max size {broker.max_message_size}",
        )
    vhost = state.vhost
    exchange = vhost.exchange(method.exchange)
    if exchange.internal:
        raise ChannelError(
            ReplyCode.ACCESS_REFUSED,
            f"cannot publish to internal exchange '{exchange.name}' in vhost '{vhost.name}'",
        )
    message = Message(method.exchange, method.routing_key, header, body)
    if _needs_properties(header.raw_properties):
        _apply_properties(state, channel, message)
    return exchange, message


def _needs_properties(raw: bytes) -> bool:
    # Flags for headers, priority, reply-to, expiration and user-id: without them
    # the properties need no decoding at all (the common case on the hot path).
    return len(raw) >= 2 and bool(int.from_bytes(raw[:2], "big") & 0x2B10)


def _apply_properties(state: SessionState, channel: ChannelModel, message: Message) -> None:
    props = message.props
    user_id = props_codec.text(props, "user_id")
    if user_id is not None and user_id != state.session.user:
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"user_id property set to '{user_id}' but authenticated user was "
            f"'{state.session.user}'",
        )
    expiration = props_codec.text(props, "expiration")
    if expiration is not None:
        message.ttl = parse_expiration(expiration)
    priority = props.get("priority")
    message.priority = priority if isinstance(priority, int) else 0
    headers = props_codec.headers(props)
    changed = False
    for name in ("CC", "BCC"):
        if name in headers:
            kind, value = headers[name]
            if kind != "A":
                raise ChannelError(
                    ReplyCode.PRECONDITION_FAILED,
                    f'invalid message: {{unacceptable_type_in_header,"{name}",'
                    f"{TYPE_NAMES.get(kind, kind)}}}",
                )
            keys = [item.decode("utf-8", "replace") for k, item in value if k == "S"]
            setattr(message, name.lower(), keys)
    if "BCC" in headers:  # blind copies: routed, never shown to consumers
        headers = {k: v for k, v in headers.items() if k != "BCC"}
        changed = True
    reply_to = props_codec.text(props, "reply_to")
    if reply_to == REPLY_TO:
        if channel.reply_consumer is None:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, "fast reply consumer does not exist")
        changed = True
    if changed:
        new_props = dict(props)
        if "headers" in props:
            new_props["headers"] = headers
        if reply_to == REPLY_TO:
            new_props["reply_to"] = channel.reply_name.encode()
        message.replace_properties(new_props)


def restore_properties(message: Message) -> None:
    """What publishing read off a message's properties, read again for a
    message recovered from the store (it passed the checks when published)."""
    if not _needs_properties(message.header.raw_properties):
        return
    props = message.props
    expiration = props_codec.text(props, "expiration")
    if expiration is not None:
        try:
            message.ttl = parse_expiration(expiration)
        except ChannelError:
            message.ttl = None
    priority = props.get("priority")
    message.priority = priority if isinstance(priority, int) else 0
    kind, value = props_codec.headers(props).get("CC", ("V", None))
    if kind == "A":
        message.cc = [item.decode("utf-8", "replace") for k, item in value if k == "S"]


def parse_expiration(text: str) -> int:
    """The per-message TTL in ms, parsed as RabbitMQ parses it (Erlang's
    string:to_integer: optional sign, digits, nothing after)."""
    digits_start = 1 if text[:1] in "+-" else 0
    end = digits_start
    while end < len(text) and text[end].isascii() and text[end].isdigit():
        end += 1
    prefix = "invalid expiration '" + text + "': "

    def refuse(term: str) -> ChannelError:
        return ChannelError(ReplyCode.PRECONDITION_FAILED, prefix + term)

    if end == digits_start:
        raise refuse("no_integer")
    if end != len(text):
        raise refuse('{leftover_string,"' + text[end:] + '"}')
    value = int(text[:end])
    column = len(prefix)
    if value < 0:
        raise refuse(tuple_p(column, "value_negative", value))
    if value > MAX_TTL:
        raise refuse(tuple_p(column, "value_too_large", value))
    return value


def routing_keys(message: Message) -> list[str]:
    return [message.routing_key, *message.cc, *message.bcc]


def deliver_replies_now(broker: Broker, exchange: Exchange, message: Message) -> None:
    """Direct replies skip transactions: RabbitMQ delivers them at once."""
    if exchange.name == "":
        _deliver_replies(broker, message, routing_keys(message))


def route_and_enqueue(
    broker: Broker,
    state: SessionState,
    channel: ChannelModel,
    exchange: Exchange,
    message: Message,
    mandatory: bool,
    replies_sent: bool = False,
) -> bool:
    """Route a checked message; returns False if a queue refused it (for a nack)."""
    if exchange.delayed and "x-delay" in message.headers:
        delay = message.headers["x-delay"]
        if isinstance(delay, int) and not isinstance(delay, bool) and delay > 0:
            broker.hold_delayed(exchange, message, broker.now + delay / 1000, state.vhost)
            return True
    keys = routing_keys(message)
    if exchange.name == "" and any(k.startswith(REPLY_PREFIX) for k in keys):
        delivered = not replies_sent and _deliver_replies(broker, message, keys)
        keys = [k for k in keys if not k.startswith(REPLY_PREFIX)]
        if mandatory and delivered:
            # RabbitMQ both delivers a mandatory reply and returns it as unroutable.
            _return(state, channel, message)
            mandatory = False
    queues = state.vhost.route(exchange, message, keys)
    if not queues and mandatory:
        _return(state, channel, message)
    accepted = True
    for queue in queues:
        accepted = broker.delivery.enqueue(queue, message) and accepted
    return accepted


def _return(state: SessionState, channel: ChannelModel, message: Message) -> None:
    state.session.send_content(
        channel.number,
        unchecked(
            commands.Basic.Return,
            reply_code=ReplyCode.NO_ROUTE,
            reply_text="NO_ROUTE",
            exchange=message.exchange,
            routing_key=message.routing_key,
        ),
        message.header,
        message.body,
    )


# ---- direct reply-to -------------------------------------------------------------


def reply_name() -> str:
    """amq.rabbitmq.reply-to.<pid>.<key>, shaped like RabbitMQ's: the first part
    is an Erlang external-term pid (RabbitMQ encodes its channel's), the second
    a random key. Clients treat the whole name as opaque."""
    node = b"reply@" + str(secrets.randbelow(10**7)).zfill(7).encode()
    pid = b"\x83Xv" + len(node).to_bytes(2, "big") + node + secrets.token_bytes(12)
    key = secrets.token_bytes(16)
    return f"{REPLY_PREFIX}{base64.b64encode(pid).decode()}.{base64.b64encode(key).decode()}"


def _deliver_replies(broker: Broker, message: Message, keys: list[str]) -> bool:
    delivered = False
    for key in dict.fromkeys(keys):
        target = broker.reply_channels.get(key) if key.startswith(REPLY_PREFIX) else None
        if target is None or target.closed or target.reply_consumer is None:
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
