"""Handlers of the exchange and queue classes: declare, delete, bind, unbind, purge.

Each takes (broker context, session state, channel, command) and returns the
reply method (see handlers.py for the table that finds them).
"""

from __future__ import annotations

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model import stream_readers
from amqpd.model.channel import ChannelModel
from amqpd.model.context import BrokerContext, SessionState
from amqpd.model.exchange import default_exchange_refused
from amqpd.model.method_support import (
    allowed,
    binding_allowed,
    binding_key,
    count_declared,
    named_exchange_allowed,
    owned_queue,
    queue_name,
)  # fmt: skip
from amqpd.model.permissions import CONFIGURE, READ, queue_limit_reached
from amqpd.model.reply_to import is_reply_queue
from amqpd.wire.assembler import Command
from amqpd.wire.codec import unchecked

Reply = Method | None


# ---- exchange class --------------------------------------------------------------


def exchange_declare(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    if not m.passive and m.exchange != "":
        allowed(ctx, state, CONFIGURE, "exchange", m.exchange)
        if m.exchange not in state.vhost.exchanges:
            named_exchange_allowed(ctx, state, m.exchange, "exchange", m.arguments or {},
                                    "alternate-exchange")  # fmt: skip
    state.vhost.declare_exchange(
        m.exchange,
        m.exchange_type,
        passive=m.passive,
        durable=m.durable,
        auto_delete=m.auto_delete,
        internal=m.internal,
        arguments=m.arguments or {},
    )
    return commands.Exchange.DeclareOk()


def exchange_delete(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    if m.exchange != "" and not m.exchange.startswith("amq."):  # those are refused first
        allowed(ctx, state, CONFIGURE, "exchange", m.exchange)
    state.vhost.delete_exchange(m.exchange, m.if_unused)
    return commands.Exchange.DeleteOk()


def exchange_bind(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    binding_allowed(ctx, state, m.source, "exchange", m.destination, m.routing_key)
    vhost = state.vhost
    source = vhost.exchange(m.source)  # a missing source is reported first
    vhost.bind_exchange(vhost.exchange(m.destination), source, m.routing_key, m.arguments or {})
    return commands.Exchange.BindOk()


def exchange_unbind(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    binding_allowed(ctx, state, m.source, "exchange", m.destination, m.routing_key)
    vhost = state.vhost
    if "" in (m.source, m.destination):
        raise default_exchange_refused()
    source, destination = vhost.exchanges.get(m.source), vhost.exchanges.get(m.destination)
    # Unbinding what is not there (or from what is not there) is not an error.
    if source is not None and destination is not None:
        vhost.unbind_exchange(destination, source, m.routing_key, m.arguments or {})
    return commands.Exchange.UnbindOk()


# ---- queue class -----------------------------------------------------------------


def queue_declare(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    if is_reply_queue(m.queue):
        return ctx.reply_to.declare(m.queue, state.vhost.name)

    def check(name: str, new: bool) -> None:
        allowed(ctx, state, CONFIGURE, "queue", name)
        if new:
            limit = ctx.access.queue_limit(state.vhost.name)
            if limit is not None and len(state.vhost.queues) >= limit:
                raise queue_limit_reached(name, state.vhost.name, limit)
            named_exchange_allowed(ctx, state, name, "queue", m.arguments or {},
                                    "x-dead-letter-exchange")  # fmt: skip

    known = len(state.vhost.queues)
    queue = state.vhost.declare_queue(
        m.queue,
        owner=state.session,
        passive=m.passive,
        durable=m.durable,
        exclusive=m.exclusive,
        auto_delete=m.auto_delete,
        arguments=m.arguments or {},
        check=check,
    )
    channel.last_queue = queue.name
    ctx.dispatcher.touch(queue)
    count_declared(ctx.dispatcher.counters, len(state.vhost.queues) > known)
    return unchecked(
        commands.Queue.DeclareOk,
        queue=queue.name,
        message_count=queue.message_count,
        consumer_count=len(queue.consumers),
    )


def queue_bind(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    key = binding_key(channel, m.queue, m.routing_key)
    binding_allowed(ctx, state, m.exchange, "queue", queue_name(channel, m.queue), key)
    exchange = state.vhost.exchange(m.exchange)  # a missing exchange is reported first
    queue = owned_queue(state, channel, m.queue)
    state.vhost.bind_queue(queue, exchange, key, m.arguments or {})
    return commands.Queue.BindOk()


def queue_unbind(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    key = binding_key(channel, m.queue, m.routing_key)
    binding_allowed(ctx, state, m.exchange, "queue", queue_name(channel, m.queue), key)
    vhost = state.vhost
    queue = vhost.queues.get(queue_name(channel, m.queue))
    exchange = vhost.exchanges.get(m.exchange)
    # RabbitMQ neither checks exclusivity nor reports anything missing here.
    if queue is not None and exchange is not None:
        vhost.unbind_queue(queue, exchange, key, m.arguments or {})
    return commands.Queue.UnbindOk()


def queue_purge(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    allowed(ctx, state, READ, "queue", queue_name(channel, command.method.queue))
    queue = owned_queue(state, channel, command.method.queue)
    if queue.stream is not None:
        raise stream_readers.not_supported("queue.purge", queue)
    count = queue.message_count
    ctx.journal.purged(queue, *queue.purge())
    return commands.Queue.PurgeOk(message_count=count)


def queue_delete(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    allowed(ctx, state, CONFIGURE, "queue", queue_name(channel, m.queue))
    queue = state.vhost.queues.get(queue_name(channel, m.queue))
    if queue is None:  # also the direct reply-to pseudo-queue
        return commands.Queue.DeleteOk(message_count=0)
    state.vhost.check_exclusive(queue, state.session)
    where = f"queue '{queue.name}' in vhost '{queue.vhost}'"
    if m.if_unused and queue.consumers:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"{where} in use")
    if m.if_empty and queue.message_count:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"{where} not empty")
    return commands.Queue.DeleteOk(message_count=ctx.delete_queue(state.vhost, queue))
