"""One function per AMQP method the broker serves, and the table that finds it.

Each takes (broker, session state, channel, command) and returns the reply
method, or None when the reply (if any) was sent another way. The broker
suppresses replies for nowait commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pamqp import commands

from amqpd.errors import AMQPConnectionError, ChannelError, ReplyCode
from amqpd.model import names
from amqpd.model.channel import ChannelModel, Consumer
from amqpd.model.confirms import Confirms
from amqpd.model.message import Message
from amqpd.wire.assembler import Command

if TYPE_CHECKING:
    from amqpd.model.broker import Broker, SessionState


# ---- exchange class --------------------------------------------------------------


def exchange_declare(broker: Broker, state: SessionState, channel, command: Command):
    m = command.method
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


def exchange_delete(broker: Broker, state: SessionState, channel, command: Command):
    m = command.method
    state.vhost.delete_exchange(m.exchange, m.if_unused)
    return commands.Exchange.DeleteOk()


def exchange_bind(broker: Broker, state: SessionState, channel, command: Command):
    m = command.method
    vhost = state.vhost
    vhost.bind_exchange(
        vhost.exchange(m.destination), vhost.exchange(m.source), m.routing_key, m.arguments or {}
    )
    return commands.Exchange.BindOk()


def exchange_unbind(broker: Broker, state: SessionState, channel, command: Command):
    m = command.method
    vhost = state.vhost
    vhost.unbind_exchange(
        vhost.exchange(m.destination), vhost.exchange(m.source), m.routing_key, m.arguments or {}
    )
    return commands.Exchange.UnbindOk()


# ---- queue class -----------------------------------------------------------------


def queue_declare(broker: Broker, state: SessionState, channel, command: Command):
    m = command.method
    queue = state.vhost.declare_queue(
        m.queue,
        owner=state.session,
        passive=m.passive,
        durable=m.durable,
        exclusive=m.exclusive,
        auto_delete=m.auto_delete,
        arguments=m.arguments or {},
    )
    return commands.Queue.DeclareOk(
        queue=queue.name,
        message_count=queue.message_count,
        consumer_count=len(queue.consumers),
    )


def _owned_queue(state: SessionState, name: str):
    queue = state.vhost.queue(name)
    state.vhost.check_exclusive(queue, state.session)
    return queue


def queue_bind(broker: Broker, state: SessionState, channel, command: Command):
    m = command.method
    queue = _owned_queue(state, m.queue)
    state.vhost.bind_queue(
        queue, state.vhost.exchange(m.exchange), m.routing_key, m.arguments or {}
    )
    return commands.Queue.BindOk()


def queue_unbind(broker: Broker, state: SessionState, channel, command: Command):
    m = command.method
    queue = _owned_queue(state, m.queue)
    state.vhost.unbind_queue(
        queue, state.vhost.exchange(m.exchange), m.routing_key, m.arguments or {}
    )
    return commands.Queue.UnbindOk()


def queue_purge(broker: Broker, state: SessionState, channel, command: Command):
    queue = _owned_queue(state, command.method.queue)
    return commands.Queue.PurgeOk(message_count=queue.purge())


def queue_delete(broker: Broker, state: SessionState, channel, command: Command):
    m = command.method
    queue = state.vhost.queues.get(m.queue)
    if queue is None:
        return commands.Queue.DeleteOk(message_count=0)
    state.vhost.check_exclusive(queue, state.session)
    where = f"queue '{queue.name}' in vhost '{queue.vhost}'"
    if m.if_unused and queue.consumers:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"{where} in use")
    if m.if_empty and queue.message_count:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"{where} not empty")
    return commands.Queue.DeleteOk(message_count=broker.delete_queue(state.vhost, queue))


# ---- basic class -----------------------------------------------------------------


def basic_publish(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    m = command.method
    if m.immediate:
        raise AMQPConnectionError(ReplyCode.NOT_IMPLEMENTED, "immediate=true")
    size = len(command.body)
    if size > broker.max_message_size:
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"message size {size} is larger than configured max size {broker.max_message_size}",
        )
    vhost = state.vhost
    exchange = vhost.exchange(m.exchange)
    if exchange.internal:
        raise ChannelError(
            ReplyCode.ACCESS_REFUSED,
            f"cannot publish to internal exchange '{exchange.name}' in vhost '{vhost.name}'",
        )
    assert command.header is not None
    message = Message(m.exchange, m.routing_key, command.header, command.body)
    seq = channel.confirms.publish() if channel.confirms is not None else None
    queues = vhost.route(exchange, message)
    if not queues and m.mandatory:
        state.session.send_content(
            channel.number,
            commands.Basic.Return(
                reply_code=ReplyCode.NO_ROUTE,
                reply_text="NO_ROUTE",
                exchange=m.exchange,
                routing_key=m.routing_key,
            ),
            message.header,
            message.body,
        )
    for queue in queues:
        queue.enqueue(message)
        broker.dispatch(queue)
    if seq is not None:
        broker.confirm(channel, seq)
    return None


def basic_consume(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    m = command.method
    queue = _owned_queue(state, m.queue)
    tag = m.consumer_tag or names.consumer_tag()
    if tag in channel.consumers:
        raise AMQPConnectionError(ReplyCode.NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'")
    if queue.exclusive_consumer is not None or (m.exclusive and queue.consumers):
        raise ChannelError(
            ReplyCode.ACCESS_REFUSED,
            f"queue '{queue.name}' in vhost '{queue.vhost}' in exclusive use",
        )
    consumer = Consumer(
        tag, queue, channel, m.no_ack, m.exclusive, channel.prefetch, dict(m.arguments or {})
    )
    channel.consumers[tag] = consumer
    queue.add_consumer(consumer)
    if not m.nowait:
        state.session.send_method(channel.number, commands.Basic.ConsumeOk(consumer_tag=tag))
    broker.dispatch(queue)
    return None


def basic_cancel(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    tag = command.method.consumer_tag
    consumer = channel.consumers.get(tag)
    if consumer is not None:
        broker.cancel_consumer(consumer)
    return commands.Basic.CancelOk(consumer_tag=tag)


def basic_get(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    m = command.method
    queue = _owned_queue(state, m.queue)
    entry = queue.pop()
    if entry is None:
        return commands.Basic.GetEmpty()
    channel.get(queue, entry, m.no_ack)
    return None


def basic_ack(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    m = command.method
    _settle(broker, channel, m.delivery_tag, m.multiple, requeue=None)
    return None


def basic_nack(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    m = command.method
    _settle(broker, channel, m.delivery_tag, m.multiple, requeue=m.requeue)
    return None


def basic_reject(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    m = command.method
    _settle(broker, channel, m.delivery_tag, False, requeue=m.requeue)
    return None


def _settle(broker: Broker, channel: ChannelModel, tag: int, multiple: bool, requeue):
    settled = channel.settle(tag, multiple)
    if settled is None:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"unknown delivery tag {tag}")
    queues = {unacked.queue for unacked in settled}
    if requeue:
        for unacked in settled:
            if not unacked.queue.deleted:
                unacked.queue.requeue(unacked.entry)
    # Freed prefetch capacity (and requeued messages) may let more go out; a
    # channel-wide limit frees every queue this channel consumes from.
    queues.update(consumer.queue for consumer in channel.consumers.values())
    for queue in queues:
        if not queue.deleted:
            broker.dispatch(queue)


def basic_qos(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    m = command.method
    if m.prefetch_size:
        raise AMQPConnectionError(
            ReplyCode.NOT_IMPLEMENTED, f"prefetch_size!=0 ({m.prefetch_size})"
        )
    if m.global_:
        channel.global_prefetch = m.prefetch_count
    else:
        channel.prefetch = m.prefetch_count
    for consumer in list(channel.consumers.values()):
        broker.dispatch(consumer.queue)
    return commands.Basic.QosOk()


def basic_recover(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    if not command.method.requeue:
        raise AMQPConnectionError(ReplyCode.NOT_IMPLEMENTED, "requeue=false")
    queues = set()
    for unacked in channel.settle_all():
        if not unacked.queue.deleted:
            unacked.queue.requeue(unacked.entry)
            queues.add(unacked.queue)
    for queue in queues:
        broker.dispatch(queue)
    return commands.Basic.RecoverOk()


# ---- confirm ---------------------------------------------------------------------


def confirm_select(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    if channel.confirms is None:
        channel.confirms = Confirms()
    return commands.Confirm.SelectOk()


def tx_select(broker: Broker, state: SessionState, channel: ChannelModel, command: Command):
    if channel.confirms is not None:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "cannot switch from confirm to tx mode")
    raise AMQPConnectionError(
        ReplyCode.NOT_IMPLEMENTED, "tx.select is not implemented by this broker yet"
    )


TABLE = {
    commands.Exchange.Declare: exchange_declare,
    commands.Exchange.Delete: exchange_delete,
    commands.Exchange.Bind: exchange_bind,
    commands.Exchange.Unbind: exchange_unbind,
    commands.Queue.Declare: queue_declare,
    commands.Queue.Bind: queue_bind,
    commands.Queue.Unbind: queue_unbind,
    commands.Queue.Purge: queue_purge,
    commands.Queue.Delete: queue_delete,
    commands.Basic.Publish: basic_publish,
    commands.Basic.Consume: basic_consume,
    commands.Basic.Cancel: basic_cancel,
    commands.Basic.Get: basic_get,
    commands.Basic.Ack: basic_ack,
    commands.Basic.Nack: basic_nack,
    commands.Basic.Reject: basic_reject,
    commands.Basic.Qos: basic_qos,
    commands.Basic.Recover: basic_recover,
    commands.Confirm.Select: confirm_select,
    commands.Tx.Select: tx_select,
}
