"""Read-only pictures of the model for the management API, the CLI and metrics.

Readers above the model take these snapshots instead of reaching into queues,
exchanges and channels. Counts are exact at the moment of the snapshot.

``declared_queues`` and ``each_binding`` are for readers that pause between
objects (the management API's lists, a hundred objects per event-loop turn):
the set of objects is taken when they are called, each object is pictured when
its turn comes (its own counters at one moment).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from amqpd.model.broker import Broker
from amqpd.model.channel import ChannelModel
from amqpd.model.exchange import Exchange
from amqpd.model.policies import effective_definition
from amqpd.model.queue import Queue
from amqpd.model.session import Session
from amqpd.model.transactions import HeldPublish
from amqpd.model.vhost import VirtualHost


@dataclass(frozen=True)
class QueueSnapshot:
    vhost: str
    name: str
    type: str
    durable: bool
    auto_delete: bool
    exclusive: bool
    arguments: dict
    messages_ready: int
    messages_unacknowledged: int
    message_bytes_ready: int
    messages_paged_out: int
    message_bytes_paged_out: int
    consumers: int
    single_active_consumer_tag: str | None
    exclusive_consumer_tag: str | None
    policy: str | None = None  # the names of the policies that apply
    operator_policy: str | None = None
    effective_policy_definition: dict = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return self.messages_ready + self.messages_unacknowledged


@dataclass(frozen=True)
class ExchangeSnapshot:
    vhost: str
    name: str
    type: str
    durable: bool
    auto_delete: bool
    internal: bool
    arguments: dict
    policy: str | None = None


@dataclass(frozen=True)
class BindingSnapshot:
    vhost: str
    source: str
    destination_type: str  # "queue" or "exchange"
    destination: str
    routing_key: str
    arguments: dict


@dataclass(frozen=True)
class ConsumerSnapshot:
    vhost: str
    queue: str
    consumer_tag: str
    session: Session
    channel: int
    ack_required: bool
    exclusive: bool
    prefetch_count: int
    arguments: dict
    active: bool


@dataclass(frozen=True)
class ChannelSnapshot:
    session: Session
    number: int
    vhost: str
    user: str
    consumers: int
    prefetch_count: int
    global_prefetch_count: int
    messages_unacknowledged: int
    confirm: bool
    transactional: bool
    messages_unconfirmed: int = 0
    messages_uncommitted: int = 0  # publishes held by an open transaction
    acks_uncommitted: int = 0  # settlements held by an open transaction


def queue(q: Queue) -> QueueSnapshot:
    active = q.consumers[0].tag if q.single_active and q.consumers else None
    exclusive = q.exclusive_consumer.tag if q.exclusive_consumer is not None else None
    ready, unacked, ready_bytes = q.message_count, q.unacked, q.bytes + q.paged_bytes
    if q.stream is not None:  # RabbitMQ counts a stream's log as ready, none unacked
        ready, unacked, ready_bytes = q.stream.count, 0, q.stream.bytes
    return QueueSnapshot(
        q.vhost, q.name, q.type, q.durable, q.auto_delete, q.exclusive_owner is not None,
        dict(q.arguments), ready, unacked, ready_bytes, q.paged,
        q.paged_bytes, len(q.consumers), active, exclusive,
        q.policy.name if q.policy else None,
        q.operator_policy.name if q.operator_policy else None,
        effective_definition(q.policy, q.operator_policy),
    )  # fmt: skip


def exchange(vhost: str, x: Exchange) -> ExchangeSnapshot:
    return ExchangeSnapshot(
        vhost,
        x.name,
        x.type,
        x.durable,
        x.auto_delete,
        x.internal,
        dict(x.arguments),
        x.policy.name if x.policy else None,
    )


def queues(broker: Broker, vhost: str | None = None) -> list[QueueSnapshot]:
    return [queue(q) for v in _vhosts(broker, vhost) for q in v.queues.values()]


def find_queue(broker: Broker, vhost: str, name: str) -> QueueSnapshot | None:
    """One queue by name, looked up directly (not by picturing every queue)."""
    found = broker.vhosts.get(vhost)
    q = found.queues.get(name) if found is not None else None
    return queue(q) if q is not None else None


def declared_queues(broker: Broker, vhost: str | None = None) -> list[Queue]:
    """The queues declared now, as handles for ``queue``: a reader keeps them to picture
    each queue when its turn comes, and reads nothing else from them."""
    return [q for v in _vhosts(broker, vhost) for q in v.queues.values()]


def exchanges(broker: Broker, vhost: str | None = None) -> list[ExchangeSnapshot]:
    return [exchange(v.name, x) for v in _vhosts(broker, vhost) for x in v.exchanges.values()]


def bindings(broker: Broker, vhost: str | None = None) -> list[BindingSnapshot]:
    """Every binding, the default exchange's implicit ones included, as RabbitMQ lists them."""
    found = []
    for v in _vhosts(broker, vhost):
        for q in v.queues.values():
            found.append(BindingSnapshot(v.name, "", "queue", q.name, q.name, {}))
        for x in v.exchanges.values():
            for ((kind, name), key, _frozen), arguments in x.bindings.items():
                found.append(BindingSnapshot(v.name, x.name, kind, name, key, dict(arguments)))
    return found


def each_binding(broker: Broker, vhost: str | None = None) -> Iterator[BindingSnapshot]:
    """The bindings ``bindings`` lists, pictured lazily: the queues and exchanges are those
    declared now, each exchange's bindings those it has when the reader reaches it."""
    declared = [
        (v.name, list(v.queues), list(v.exchanges.values())) for v in _vhosts(broker, vhost)
    ]
    return _each_binding(declared)


def _each_binding(
    declared: list[tuple[str, list[str], list[Exchange]]],
) -> Iterator[BindingSnapshot]:
    for vhost, queue_names, exchanges in declared:
        for name in queue_names:
            yield BindingSnapshot(vhost, "", "queue", name, name, {})
        for x in exchanges:
            for ((kind, name), key, _frozen), arguments in list(x.bindings.items()):
                yield BindingSnapshot(vhost, x.name, kind, name, key, dict(arguments))


def channels(broker: Broker) -> list[ChannelSnapshot]:
    return [
        _channel(state.vhost.name, session, channel)
        for session, state in broker.sessions.items()
        for channel in state.channels.values()
    ]


def _channel(vhost: str, session: Session, channel: ChannelModel) -> ChannelSnapshot:
    held = channel.tx.actions if channel.tx is not None else []
    publishes = sum(isinstance(action, HeldPublish) for action in held)
    return ChannelSnapshot(
        session, channel.number, vhost, session.user, len(channel.consumers), channel.prefetch,
        channel.global_prefetch, len(channel.unacked), channel.confirms is not None,
        channel.tx is not None,
        channel.confirms.unconfirmed if channel.confirms is not None else 0,
        publishes, len(held) - publishes,
    )  # fmt: skip


def consumers(broker: Broker, vhost: str | None = None) -> list[ConsumerSnapshot]:
    found = []
    for v in _vhosts(broker, vhost):
        for q in v.queues.values():
            active = q.consumers[0] if q.single_active and q.consumers else None
            for c in q.consumers:
                found.append(ConsumerSnapshot(
                    v.name, q.name, c.tag, c.channel.session, c.channel.number, not c.no_ack,
                    c.exclusive, c.prefetch, dict(c.arguments),
                    active is None or active is c,
                ))  # fmt: skip
    return found


def tracing(broker: Broker, vhost: str) -> bool:
    """Whether the firehose traces ``vhost`` (rabbitmqctl list_vhosts tracing)."""
    return vhost in broker.traced


def _vhosts(broker: Broker, name: str | None) -> list[VirtualHost]:
    if name is None:
        return list(broker.vhosts.values())
    found = broker.vhosts.get(name)
    return [found] if found is not None else []
