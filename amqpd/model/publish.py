"""basic.publish: the checks, then routing with sender-selected keys, direct
reply-to and delayed delivery.

The checks run in RabbitMQ's order: the size, write permission on the
exchange, the exchange exists and is not internal, the topic permission on the
routing key (topic exchanges), user-id matches the login, the expiration is a valid TTL, CC/BCC are
arrays.
"""

from __future__ import annotations

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model.channel import ChannelModel
from amqpd.model.context import BrokerContext, SessionState
from amqpd.model.delayed import delay_of
from amqpd.model.exchange import Exchange
from amqpd.model.message import (
    Message,
    check_properties,
    needs_properties,
    parse_expiration,
    priority_of,
    string_keys,
)
from amqpd.model.permissions import WRITE, require, require_topic
from amqpd.model.queue import Queue
from amqpd.model.reply_to import REPLY_PREFIX, REPLY_TO
from amqpd.model.routing import route, routing_keys
from amqpd.wire import properties as props_codec
from amqpd.wire.codec import ContentHeader, unchecked
from amqpd.wire.fieldtable import TYPE_NAMES


def check_and_build(
    ctx: BrokerContext,
    state: SessionState,
    channel: ChannelModel,
    method: Method,
    header: ContentHeader,
    body: bytes,
) -> tuple[Exchange, Message]:
    """The exchange and message of a publish, or the error RabbitMQ gives for it."""
    size = len(body)
    if size > ctx.max_message_size:
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"message size {size} is larger than configured max size {ctx.max_message_size}",
        )
    vhost = state.vhost
    user = state.session.user
    require(ctx.access, user, vhost.name, WRITE, "exchange", method.exchange)
    exchange = vhost.exchange(method.exchange)
    if exchange.internal:
        raise ChannelError(
            ReplyCode.ACCESS_REFUSED,
            f"cannot publish to internal exchange '{exchange.name}' in vhost '{vhost.name}'",
        )
    if exchange.type == "topic":
        require_topic(ctx.access, user, vhost.name, WRITE, exchange.name, method.routing_key)
    message = Message(method.exchange, method.routing_key, header, body)
    raw = header.raw_properties
    if needs_properties(raw):
        _apply_properties(ctx, state, channel, message)
    elif raw != b"\x00\x00":
        check_properties(raw)
    if len(raw) > 2 and raw[0] & 0x10:  # delivery_mode is set
        _check_delivery_mode(raw)
    return exchange, message


def _check_delivery_mode(raw: bytes) -> None:
    """RabbitMQ knows delivery modes 1 and 2 only (absent means 1)."""
    mode = props_codec.delivery_mode(raw)
    if mode != 1 and mode != 2:
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED, f"invalid message: {{delivery_mode_unknown,{mode}}}"
        )


def _apply_properties(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, message: Message
) -> None:
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
    message.priority = priority_of(props)
    headers = props_codec.headers(props)
    _read_sender_selected(message, headers)
    new_props = None
    if "BCC" in headers:  # blind copies: routed, never shown to consumers
        new_props = dict(props)
        new_props["headers"] = {k: v for k, v in headers.items() if k != "BCC"}
    if props_codec.text(props, "reply_to") == REPLY_TO:
        new_props = new_props or dict(props)
        new_props["reply_to"] = ctx.reply_to.check_request(channel).encode()
    if new_props is not None:
        message.replace_properties(new_props)


def _read_sender_selected(message: Message, headers: dict) -> None:
    """CC and BCC: arrays of extra routing keys (anything else is refused)."""
    for name in ("CC", "BCC"):
        if name in headers:
            kind = headers[name][0]
            if kind != "A":
                raise ChannelError(
                    ReplyCode.PRECONDITION_FAILED,
                    f'invalid message: {{unacceptable_type_in_header,"{name}",'
                    f"{TYPE_NAMES.get(kind, kind)}}}",
                )
            setattr(message, name.lower(), string_keys(headers[name]))


def deliver_replies_now(ctx: BrokerContext, exchange: Exchange, message: Message) -> None:
    """Direct replies skip transactions: RabbitMQ delivers them at once."""
    if exchange.name == "":
        ctx.reply_to.deliver(message, routing_keys(message))


def route_and_enqueue(
    ctx: BrokerContext,
    state: SessionState,
    channel: ChannelModel,
    exchange: Exchange,
    message: Message,
    mandatory: bool,
    replies_sent: bool = False,
) -> bool:
    """Route a checked message; returns False if a queue refused it (for a nack)."""
    delay = delay_of(exchange, message)
    if delay is not None:
        if state.vhost.tracing and not replies_sent:
            trace(ctx, state, channel, exchange, message, [])
        ctx.delayed.hold(state.vhost, exchange, message, ctx.now + delay / 1000)
        return True
    keys = routing_keys(message)
    if exchange.name == "" and any(k.startswith(REPLY_PREFIX) for k in keys):
        delivered = not replies_sent and ctx.reply_to.deliver(message, keys)
        keys = [k for k in keys if not k.startswith(REPLY_PREFIX)]
        if mandatory and delivered:
            # RabbitMQ both delivers a mandatory reply and returns it as unroutable.
            _return(state, channel, message)
            mandatory = False
    queues = route(state.vhost, exchange, message, keys)
    if state.vhost.tracing and not replies_sent:  # a held publish was traced when it came
        trace(ctx, state, channel, exchange, message, queues)
    counters = ctx.dispatcher.counters
    if queues:
        counters.routed += 1
        counters.published_to_queues += len(queues)
    elif mandatory:
        counters.unroutable_returned += 1
        _return(state, channel, message)
    else:
        counters.unroutable_dropped += 1
    accepted = True
    for queue in queues:
        accepted = ctx.dispatcher.enqueue(queue, message) and accepted
    return accepted


def trace(
    ctx: BrokerContext,
    state: SessionState,
    channel: ChannelModel,
    exchange: Exchange,
    message: Message,
    queues: list[Queue] | None = None,
) -> None:
    """The firehose copy of a publish (tracing.py), naming the queues it was routed
    to; a publish a transaction holds is routed here only to name them, as RabbitMQ
    traces it when it arrives, not at commit."""
    keys = [k for k in routing_keys(message) if not k.startswith(REPLY_PREFIX)]
    if queues is None:
        queues = route(state.vhost, exchange, message, keys)
    # The default exchange names a queue per key, there or not (RabbitMQ's routed_queues).
    names = list(dict.fromkeys(keys)) if exchange.name == "" else [q.name for q in queues]
    session = state.session
    copy = ctx.dispatcher.tracer.published(
        message, state.vhost.name, session.name, channel.number, session.user, names
    )
    ctx.dispatcher.trace(state.vhost, copy)


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
