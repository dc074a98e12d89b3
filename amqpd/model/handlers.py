"""One function per AMQP method the broker serves, and the table that finds it.

Each takes (broker context, session state, channel, command) and returns the
reply method, or None when the reply (if any) was sent another way. The broker
suppresses replies for nowait commands.
"""

from __future__ import annotations

from collections.abc import Callable

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, ChannelCrash, ChannelError, ReplyCode
from amqpd.model import names, publish, stream_readers
from amqpd.model.channel import ChannelModel, Consumer, Unacked
from amqpd.model.confirms import Confirms
from amqpd.model.context import BrokerContext, SessionState
from amqpd.model.counters import Counters, type_index
from amqpd.model.errors import WaitForStore
from amqpd.model.method_support import (
    allowed,
    owned_queue,
    queue_name,
)
from amqpd.model.permissions import READ
from amqpd.model.queue import Queue
from amqpd.model.queue_args import check_consumer
from amqpd.model.reply_to import REPLY_TO
from amqpd.model.topology import (
    exchange_bind,
    exchange_declare,
    exchange_delete,
    exchange_unbind,
    queue_bind,
    queue_declare,
    queue_delete,
    queue_purge,
    queue_unbind,
)
from amqpd.model.transactions import HeldPublish, HeldSettlement, Transaction
from amqpd.wire.assembler import Command
from amqpd.wire.codec import unchecked

Reply = Method | None
Handler = Callable[[BrokerContext, SessionState, ChannelModel, Command], Reply]


# ---- basic class: publishing -----------------------------------------------------


def basic_publish(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    if m.immediate:
        raise AMQPConnectionError(ReplyCode.NOT_IMPLEMENTED, "immediate=true")
    assert command.header is not None
    exchange, message = publish.check_and_build(
        ctx, state, channel, m, command.header, command.body
    )
    counters = ctx.dispatcher.counters
    counters.received += 1
    if channel.tx is not None:
        publish.deliver_replies_now(ctx, exchange, message)
        if state.vhost.tracing:
            publish.trace(ctx, state, channel, exchange, message)
        channel.tx.actions.append(HeldPublish(exchange, message, m.mandatory))
        return None
    seq = None
    if channel.confirms is not None:
        seq = channel.confirms.publish()
        counters.received_confirm += 1
    mark = ctx.journal.mark()
    accepted = publish.route_and_enqueue(ctx, state, channel, exchange, message, m.mandatory)
    if seq is not None:
        if accepted and ctx.journal.durable_since(mark):
            ctx.journal.after_commit_confirm(channel, seq)  # confirmed once on disk
        else:
            ctx.confirm(channel, seq, accepted)
    return None


# ---- basic class: consuming ------------------------------------------------------


def basic_consume(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    if m.queue == REPLY_TO:
        return ctx.reply_to.consume(channel, m.consumer_tag, m.no_ack)
    allowed(ctx, state, READ, "queue", queue_name(channel, m.queue))
    queue = owned_queue(state, channel, m.queue)
    tag = m.consumer_tag or names.consumer_tag()
    if tag in channel.consumers:
        raise AMQPConnectionError(ReplyCode.NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'")
    arguments = m.arguments or {}
    cursor = None
    if queue.stream is not None:  # every consumer reads the log from where it starts
        wall = ctx.dispatcher.wall_clock()
        cursor = stream_readers.start(queue, channel, m.no_ack, arguments, wall)
    else:
        _check_consumer(queue, channel, m.exclusive, arguments)
    priority = arguments.get("x-priority", 0)
    exclusive = m.exclusive and queue.type == "classic"  # the others do not enforce it
    consumer = Consumer(
        tag, queue, channel, m.no_ack, exclusive, channel.prefetch, dict(arguments), priority
    )
    consumer.cursor = cursor
    channel.consumers[tag] = consumer
    queue.add_consumer(consumer)
    ctx.dispatcher.schedule_queue_expiry(queue)
    ctx.queue_changed(queue)
    return commands.Basic.ConsumeOk(consumer_tag=tag)


def _check_consumer(queue: Queue, channel: ChannelModel, exclusive: bool, arguments: dict) -> None:
    problem = check_consumer(queue.name, queue.vhost, queue.type, arguments)
    if problem is not None:
        raise problem
    # Quorum queues in 3.10 do not enforce consumer exclusivity at all.
    exclusive_use = not queue.is_quorum and (
        queue.exclusive_consumer is not None
        or (exclusive and (queue.consumers or queue.single_active))
    )
    if exclusive_use:
        raise ChannelError(
            ReplyCode.ACCESS_REFUSED,
            f"queue '{queue.name}' in vhost '{queue.vhost}' in exclusive use",
        )
    if queue.is_quorum and channel.global_prefetch:
        raise AMQPConnectionError(
            ReplyCode.NOT_IMPLEMENTED,
            f"queue '{queue.name}' in vhost '{queue.vhost}' does not support global qos",
        )


def basic_cancel(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    tag = command.method.consumer_tag
    ctx.reply_to.cancel(channel, tag)
    consumer = channel.consumers.get(tag)
    if consumer is not None:
        ctx.cancel_consumer(consumer)
    return commands.Basic.CancelOk(consumer_tag=tag)


def basic_get(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    allowed(ctx, state, READ, "queue", queue_name(channel, m.queue))
    queue = owned_queue(state, channel, m.queue)
    if queue.stream is not None:
        raise stream_readers.not_supported("basic.get", queue)
    dispatcher = ctx.dispatcher
    dispatcher.touch(queue)
    dispatcher.expire_head(queue, strict=True)
    entry = queue.pop()
    if entry is None:
        lane = queue.blocked()
        if lane is not None:  # the next message is in the store: answer once read back
            if not lane.paging_in:
                ctx.journal.request_page(queue, lane, lane.window - len(lane))
            raise WaitForStore()
        dispatcher.counters.get_empty[queue.is_quorum] += 1
        return unchecked(commands.Basic.GetEmpty)
    dispatcher.expire_head(queue, strict=True)  # message_count is what is left after it
    channel.get(queue, entry, m.no_ack, ctx.now)
    if state.vhost.tracing:
        dispatcher.trace_delivery(queue, entry, channel, get=True)
    _count_get(dispatcher.counters, queue.is_quorum, m.no_ack, entry.redelivered)
    if entry.stored:
        ctx.journal.delivered(queue, entry, m.no_ack)
    ctx.queue_changed(queue)
    return None


def _count_get(counters: Counters, kind: bool, no_ack: bool, redelivered: bool) -> None:
    if no_ack:
        counters.delivered_get_auto_ack[kind] += 1
    else:
        counters.delivered_get_manual_ack[kind] += 1
    if redelivered:
        counters.redelivered[kind] += 1


def basic_qos(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    if m.prefetch_size:
        raise AMQPConnectionError(
            ReplyCode.NOT_IMPLEMENTED, f"prefetch_size!=0 ({m.prefetch_size})"
        )
    if m.global_:
        channel.global_prefetch = m.prefetch_count
    else:
        # RabbitMQ 3.10: a per-consumer limit also clears the channel-wide one.
        channel.prefetch = m.prefetch_count
        channel.global_prefetch = 0
    _dispatch_consumed(ctx, channel, set())
    return commands.Basic.QosOk()


# ---- basic class: settling -------------------------------------------------------


def basic_ack(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    _settle(ctx, channel, m.delivery_tag, m.multiple, requeue=None)
    return None


def basic_nack(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    _settle(ctx, channel, m.delivery_tag, m.multiple, requeue=m.requeue)
    return None


def basic_reject(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    m = command.method
    _settle(ctx, channel, m.delivery_tag, False, requeue=m.requeue)
    return None


def _settle(
    ctx: BrokerContext, channel: ChannelModel, tag: int, multiple: bool, requeue: bool | None
) -> None:
    """requeue: None for an ack, True to requeue, False to reject (dead-letter)."""
    settled = channel.settle(tag, multiple)
    if settled is None:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"unknown delivery tag {tag}")
    if requeue is not None:
        for _tag, unacked in settled:
            if unacked.queue.stream is not None:
                raise stream_readers.not_supported("basic.nack and basic.reject", unacked.queue)
    if channel.tx is not None:
        channel.tx.actions.append(HeldSettlement(settled, requeue))
        return
    _apply_settlement(ctx, channel, settled, requeue)


def _apply_settlement(
    ctx: BrokerContext,
    channel: ChannelModel,
    settled: list[tuple[int, Unacked]],
    requeue: bool | None,
) -> None:
    queues = set()
    rejected: dict = {}
    acknowledged = ctx.dispatcher.counters.acknowledged
    for _tag, unacked in settled:
        queue = unacked.queue
        queues.add(queue)
        if requeue:
            ctx.dispatcher.requeue(queue, unacked.entry)
        elif requeue is None:
            ctx.journal.remove(queue, unacked.entry)  # acknowledged
            acknowledged[type_index(queue.type)] += 1
        else:
            rejected.setdefault(queue, []).append(unacked.entry)
    for queue, entries in rejected.items():
        if not queue.deleted:
            ctx.dispatcher.dead_letter(queue, entries, "rejected")
    _dispatch_consumed(ctx, channel, queues)


def _dispatch_consumed(ctx: BrokerContext, channel: ChannelModel, queues: set[Queue]) -> None:
    """Freed prefetch capacity (or requeued messages) may let more go out; a
    channel-wide limit frees every queue this channel consumes from."""
    queues.update(consumer.queue for consumer in channel.consumers.values())
    for queue in queues:
        ctx.queue_changed(queue)


def basic_recover(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    if not command.method.requeue:
        raise AMQPConnectionError(ReplyCode.NOT_IMPLEMENTED, "requeue=false")
    if any(unacked.queue.stream is not None for unacked in channel.unacked.values()):
        raise ChannelCrash()  # RabbitMQ 3.10's channel crashes requeueing stream deliveries
    queues = set()
    for unacked in channel.settle_all():
        ctx.dispatcher.requeue(unacked.queue, unacked.entry)
        queues.add(unacked.queue)
    _dispatch_consumed(ctx, channel, queues)
    return commands.Basic.RecoverOk()


def basic_recover_async(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    basic_recover(ctx, state, channel, command)
    return None


# ---- confirm and tx --------------------------------------------------------------


def confirm_select(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    if channel.tx is not None:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "cannot switch from tx to confirm mode")
    if channel.confirms is None:
        channel.confirms = Confirms()
    return commands.Confirm.SelectOk()


def tx_select(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    if channel.confirms is not None:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "cannot switch from confirm to tx mode")
    if channel.tx is None:
        channel.tx = Transaction()
    return commands.Tx.SelectOk()


def tx_commit(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    complete = True
    for action in _transaction(channel).take():
        if isinstance(action, HeldSettlement):
            _apply_settlement(ctx, channel, action.settled, action.requeue)
            continue
        exchange = action.exchange
        if exchange.name == "" or state.vhost.exchanges.get(exchange.name) is exchange:
            routed = publish.route_and_enqueue(
                ctx,
                state,
                channel,
                exchange,
                action.message,
                action.mandatory,
                replies_sent=True,
            )
            complete = routed and complete
    if not complete:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "partial tx completion")
    return commands.Tx.CommitOk()


def tx_rollback(
    ctx: BrokerContext, state: SessionState, channel: ChannelModel, command: Command
) -> Reply:
    # Publishes are dropped; settled deliveries become unacked again.
    for action in _transaction(channel).take():
        if isinstance(action, HeldSettlement):
            for tag, unacked in action.settled:
                channel.restore(tag, unacked)
    return commands.Tx.RollbackOk()


def _transaction(channel: ChannelModel) -> Transaction:
    if channel.tx is None:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "channel is not transactional")
    return channel.tx


TABLE: dict[type[Method], Handler] = {
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
    commands.Basic.RecoverAsync: basic_recover_async,
    commands.Confirm.Select: confirm_select,
    commands.Tx.Select: tx_select,
    commands.Tx.Commit: tx_commit,
    commands.Tx.Rollback: tx_rollback,
}
