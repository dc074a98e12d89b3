"""What the method handlers share: permission checks as RabbitMQ makes them,
and the queue a command names (an empty name is the last one declared)."""

from __future__ import annotations

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model.channel import ChannelModel
from amqpd.model.context import BrokerContext, SessionState
from amqpd.model.counters import Counters
from amqpd.model.exchange import default_exchange_refused
from amqpd.model.permissions import READ, WRITE, require
from amqpd.model.permissions import require_topic as _require_topic
from amqpd.model.queue import Queue

# ---- permissions ------------------------------------------------------------------


def allowed(ctx: BrokerContext, state: SessionState, permission: str, kind: str, name: str) -> None:
    require(ctx.access, state.session.user, state.vhost.name, permission, kind, name)


def topic_allowed(ctx: BrokerContext, state: SessionState, permission: str, exchange: str,
                   key: str) -> None:  # fmt: skip
    """Topic permissions apply to topic exchanges only."""
    found = state.vhost.exchanges.get(exchange)
    if found is not None and found.type == "topic":
        _require_topic(ctx.access, state.session.user, state.vhost.name, permission, exchange, key)


def binding_allowed(
    ctx: BrokerContext, state: SessionState, source: str, kind: str, destination: str, key: str
) -> None:
    """Binding and unbinding: write on the destination, read on the source (and
    its topic permission), with the default exchange refused in between."""
    allowed(ctx, state, WRITE, kind, destination)
    if "" == source or (kind == "exchange" and destination == ""):
        raise default_exchange_refused()
    allowed(ctx, state, READ, "exchange", source)
    topic_allowed(ctx, state, READ, source, key)


def named_exchange_allowed(
    ctx: BrokerContext, state: SessionState, owner: str, kind: str, arguments: dict, key: str
) -> None:
    """A new exchange naming an alternate exchange, or a new queue naming a
    dead-letter exchange: read on itself, write on the exchange it names."""
    named = arguments.get(key)
    if isinstance(named, str):
        allowed(ctx, state, READ, kind, owner)
        allowed(ctx, state, WRITE, "exchange", named)


def count_declared(counters: Counters, created: bool) -> None:
    counters.queues_declared += 1
    if created:
        counters.queues_created += 1


def queue_name(channel: ChannelModel, name: str) -> str:
    """An empty queue name means the queue last declared on this channel."""
    if name:
        return name
    if channel.last_queue is None:
        raise ChannelError(ReplyCode.NOT_FOUND, "no previously declared queue")
    return channel.last_queue


def owned_queue(state: SessionState, channel: ChannelModel, name: str) -> Queue:
    queue = state.vhost.queue(queue_name(channel, name))
    state.vhost.check_exclusive(queue, state.session)
    return queue


def binding_key(channel: ChannelModel, queue: str, key: str) -> str:
    # With both the queue and the key empty, the key is the last declared queue's name.
    return channel.last_queue if not queue and not key and channel.last_queue else key
