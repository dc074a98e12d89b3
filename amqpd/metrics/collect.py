"""Every family built from one Scrape, as rabbitmq_prometheus's core collector builds them.

``/metrics`` aggregates: each per-object family is one unlabelled sum (what
rabbitmq_prometheus does unless ``return_per_object_metrics`` is set).
``/metrics/per-object`` labels queue families by vhost and queue, channel
families by channel and connection families by ``channel`` too (RabbitMQ's
label name for the connection's process). ``/metrics/detailed`` serves the
groups asked for with ``family=`` under ``rabbitmq_detailed_`` names,
queues limited to the ``vhost=`` ones if given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from amqpd.metrics.scrape import ChannelFigures, Scrape
from amqpd.metrics.text import Labels, Metric, Sample
from amqpd.model.snapshot import QueueSnapshot

PROTOCOL = {"protocol": "amqp091"}
QUEUE_TYPES = ("rabbit_classic_queue", "rabbit_quorum_queue", "rabbit_stream_queue")

QUEUE_COARSE: tuple[tuple[str, Callable[[QueueSnapshot], int]], ...] = (
    ("queue_messages_ready", lambda q: q.messages_ready),
    ("queue_messages_unacked", lambda q: q.messages_unacknowledged),
    ("queue_messages", lambda q: q.messages),
)
QUEUE_CONSUMERS = (("queue_consumers", lambda q: q.consumers),)
QUEUE_METRICS: tuple[tuple[str, Callable[[QueueSnapshot], int]], ...] = (
    *QUEUE_CONSUMERS,
    ("queue_messages_ram",
     lambda q: q.messages_ready - q.messages_paged_out + q.messages_unacknowledged),
    ("queue_messages_ready_ram", lambda q: q.messages_ready - q.messages_paged_out),
    ("queue_messages_unacked_ram", lambda q: q.messages_unacknowledged),
    ("queue_messages_ready_bytes", lambda q: q.message_bytes_ready),
    ("queue_messages_paged_out", lambda q: q.messages_paged_out),
    ("queue_messages_paged_out_bytes", lambda q: q.message_bytes_paged_out),
)  # fmt: skip
CHANNEL: tuple[tuple[str, Callable[[ChannelFigures], int]], ...] = (
    ("channel_consumers", lambda c: c.snapshot.consumers),
    ("channel_messages_unacked", lambda c: c.snapshot.messages_unacknowledged),
    ("channel_messages_unconfirmed", lambda c: c.snapshot.messages_unconfirmed),
    ("channel_messages_uncommitted", lambda c: c.snapshot.messages_uncommitted),
    ("channel_acks_uncommitted", lambda c: c.snapshot.acks_uncommitted),
    ("consumer_prefetch", lambda c: c.snapshot.prefetch_count),
    ("channel_prefetch", lambda c: c.snapshot.global_prefetch_count),
)
CHURN = (
    ("connections_opened_total", "connections_opened"),
    ("connections_closed_total", "connections_closed"),
    ("channels_opened_total", "channels_opened"),
    ("channels_closed_total", "channels_closed"),
    ("queues_declared_total", "queues_declared"),
    ("queues_created_total", "queues_created"),
    ("queues_deleted_total", "queues_deleted"),
)


def aggregated(scrape: Scrape) -> list[Metric]:
    return _core(scrape, per_object=False)


def per_object(scrape: Scrape) -> list[Metric]:
    return _core(scrape, per_object=True)


def _core(scrape: Scrape, per_object: bool) -> list[Metric]:
    queues, channels = scrape.queues, scrape.channels
    # /metrics/per-object leaves out the start time and the alarms, as RabbitMQ's does.
    node = (
        []
        if per_object
        else [_one("process_start_time_seconds", int(scrape.process.start_time)), *_alarms(scrape)]
    )
    return [
        *node,
        *_churn(scrape, "rabbitmq_"),
        *_process(scrape),
        *_per_queue("rabbitmq_", QUEUE_COARSE + QUEUE_METRICS, queues, per_object),
        *_per_channel("rabbitmq_", channels, per_object),
        *([] if per_object else _channel_counters(scrape)),
        _connection_channels(scrape, per_object),
        *([] if per_object else [_one("rabbitmq_queue_messages_published_total",
                                      scrape.counters.published_to_queues)]),
        *_totals(scrape),
        *_identity(scrape),
        *_global(scrape),
    ]  # fmt: skip


# ---- node-wide families ------------------------------------------------------------


def _one(name: str, value: float) -> Metric:
    return Metric(name, [({}, value)])


def _alarms(scrape: Scrape) -> list[Metric]:
    process = scrape.process
    return [
        _one("rabbitmq_alarms_file_descriptor_limit", 0),
        _one("rabbitmq_alarms_free_disk_space_watermark", int(process.disk_alarm)),
        _one("rabbitmq_alarms_memory_used_watermark", int(process.memory_alarm)),
    ]


def _churn(scrape: Scrape, prefix: str) -> list[Metric]:
    counters = scrape.counters
    return [_one(prefix + name, getattr(counters, field)) for name, field in CHURN]


def _process(scrape: Scrape) -> list[Metric]:
    p = scrape.process
    return [
        _one("rabbitmq_process_open_fds", p.open_fds),
        _one("rabbitmq_process_open_tcp_sockets", p.open_tcp_sockets),
        _one("rabbitmq_process_resident_memory_bytes", p.resident_memory),
        _one("rabbitmq_disk_space_available_bytes", p.disk_free),
        _one("rabbitmq_process_max_fds", p.max_fds),
        _one("rabbitmq_process_max_tcp_sockets", max_tcp_sockets(p.max_fds)),
        _one("rabbitmq_resident_memory_limit_bytes", p.memory_limit),
        _one("rabbitmq_disk_space_available_limit_bytes", p.disk_free_limit),
    ]


def max_tcp_sockets(max_fds: int) -> int:
    """RabbitMQ keeps 100 descriptors for itself and lets sockets have 90% of the rest."""
    return max(round((max_fds - 100) * 0.9), 1)


def _totals(scrape: Scrape) -> list[Metric]:
    return [
        _one("rabbitmq_connections", len(scrape.connections)),
        _one("rabbitmq_channels", len(scrape.channels)),
        _one("rabbitmq_consumers", scrape.consumers),
        _one("rabbitmq_queues", len(scrape.queues)),
    ]


def _identity(scrape: Scrape) -> list[Metric]:
    i = scrape.identity
    build = {
        "rabbitmq_version": i.rabbitmq_version,
        "prometheus_plugin_version": i.plugin_version,
        "prometheus_client_version": i.plugin_version,
        "erlang_version": i.runtime_version,
    }
    identity = {
        "rabbitmq_node": i.node,
        "rabbitmq_cluster": i.cluster,
        "rabbitmq_cluster_permanent_id": i.permanent_id,
    }
    return [Metric("rabbitmq_build_info", [(build, 1)]),
            Metric("rabbitmq_identity_info", [(identity, 1)])]  # fmt: skip


# ---- objects: summed, or one sample each -------------------------------------------


def _per_object(
    name: str, objects: Iterable, labels: Callable[[object], Labels],
    value: Callable[[object], int], per_object: bool,
) -> Metric:  # fmt: skip
    if per_object:
        return Metric(name, [(labels(o), value(o)) for o in objects])
    return Metric(name, [({}, sum(value(o) for o in objects))])


def _queue_labels(q: QueueSnapshot) -> Labels:
    return {"vhost": q.vhost, "queue": q.name}


def _per_queue(
    prefix: str, families: tuple, queues: list[QueueSnapshot], per_object: bool
) -> list[Metric]:
    return [
        _per_object(prefix + name, queues, _queue_labels, value, per_object)
        for name, value in families
    ]


def _per_channel(prefix: str, channels: list[ChannelFigures], per_object: bool) -> list[Metric]:
    return [
        _per_object(prefix + name, channels, lambda c: {"channel": c.name}, value, per_object)
        for name, value in CHANNEL
    ]


def _connection_channels(scrape: Scrape, per_object: bool) -> Metric:
    items = list(scrape.connections.items())
    return _per_object("rabbitmq_connection_channels", items, lambda item: {"channel": item[0]},
                       lambda item: item[1], per_object)  # fmt: skip


def _channel_counters(scrape: Scrape) -> list[Metric]:
    """The channel totals, summed as /metrics sums them (here: since start)."""
    c = scrape.counters
    return [
        _one("rabbitmq_channel_messages_published_total", c.received),
        _one("rabbitmq_channel_messages_confirmed_total", c.confirmed),
        _one("rabbitmq_channel_messages_unroutable_returned_total", c.unroutable_returned),
        _one("rabbitmq_channel_messages_unroutable_dropped_total", c.unroutable_dropped),
        _one("rabbitmq_channel_get_ack_total", sum(c.delivered_get_manual_ack)),
        _one("rabbitmq_channel_get_total", sum(c.delivered_get_auto_ack)),
        _one("rabbitmq_channel_messages_delivered_ack_total", sum(c.delivered_consume_manual_ack)),
        _one("rabbitmq_channel_messages_delivered_total", sum(c.delivered_consume_auto_ack)),
        _one("rabbitmq_channel_messages_redelivered_total", sum(c.redelivered)),
        _one("rabbitmq_channel_messages_acked_total", sum(c.acknowledged)),
        _one("rabbitmq_channel_get_empty_total", sum(c.get_empty)),
    ]


# ---- rabbitmq_global_* ---------------------------------------------------------------


def _by_type(name: str, values: tuple[int, int, int]) -> Metric:
    return Metric(name, [({**PROTOCOL, "queue_type": kind}, count)
                         for kind, count in zip(QUEUE_TYPES, values, strict=True)])  # fmt: skip


def _global(scrape: Scrape) -> list[Metric]:
    c = scrape.counters
    g = "rabbitmq_global_"
    delivered = [c.delivered_consume_auto_ack, c.delivered_consume_manual_ack,
                 c.delivered_get_auto_ack, c.delivered_get_manual_ack]  # fmt: skip
    total = tuple(sum(v[kind] for v in delivered) for kind in range(3))
    return [
        Metric(g + "consumers", [(PROTOCOL, scrape.consumers)]),
        _by_type(g + "messages_acknowledged_total", c.acknowledged),
        Metric(g + "messages_confirmed_total", [(PROTOCOL, c.confirmed)]),
        *_dead_lettered(scrape),
        _by_type(g + "messages_delivered_consume_auto_ack_total", c.delivered_consume_auto_ack),
        _by_type(g + "messages_delivered_consume_manual_ack_total", c.delivered_consume_manual_ack),
        _by_type(g + "messages_delivered_get_auto_ack_total", c.delivered_get_auto_ack),
        _by_type(g + "messages_delivered_get_manual_ack_total", c.delivered_get_manual_ack),
        _by_type(g + "messages_delivered_total", total),
        _by_type(g + "messages_get_empty_total", c.get_empty),
        Metric(g + "messages_received_confirm_total", [(PROTOCOL, c.received_confirm)]),
        Metric(g + "messages_received_total", [(PROTOCOL, c.received)]),
        _by_type(g + "messages_redelivered_total", c.redelivered),
        Metric(g + "messages_routed_total", [(PROTOCOL, c.routed)]),
        Metric(g + "messages_unroutable_dropped_total", [(PROTOCOL, c.unroutable_dropped)]),
        Metric(g + "messages_unroutable_returned_total", [(PROTOCOL, c.unroutable_returned)]),
    ]


# The (queue type, strategy) rows RabbitMQ 3.10 reports for each dead-letter reason.
CLASSIC_ROWS = (("rabbit_classic_queue", "at_most_once"), ("rabbit_classic_queue", "disabled"))
QUORUM_ROWS = tuple(
    ("rabbit_quorum_queue", s) for s in ("at_least_once", "at_most_once", "disabled")
)
DEAD_LETTER_ROWS = {
    "confirmed": (("rabbit_quorum_queue", "at_least_once"),),
    "delivery_limit": QUORUM_ROWS,
    "expired": CLASSIC_ROWS + QUORUM_ROWS,
    "maxlen": CLASSIC_ROWS + QUORUM_ROWS[1:],
    "rejected": CLASSIC_ROWS + QUORUM_ROWS,
}


def _dead_lettered(scrape: Scrape) -> list[Metric]:
    """amqpd dead-letters at most once: a queue with a dead-letter exchange counts
    as at_most_once, one without as disabled; at_least_once stays at 0."""
    counts = scrape.counters.dead_lettered
    metrics = []
    for reason, rows in DEAD_LETTER_ROWS.items():
        samples: list[Sample] = []
        for queue_type, strategy in rows:
            key = (reason, queue_type == "rabbit_quorum_queue", strategy == "at_most_once")
            value = 0 if strategy == "at_least_once" else counts.get(key, 0)
            samples.append(({"queue_type": queue_type, "dead_letter_strategy": strategy}, value))
        metrics.append(Metric(f"rabbitmq_global_messages_dead_lettered_{reason}_total", samples))
    return metrics


# ---- /metrics/detailed ---------------------------------------------------------------


def detailed(scrape: Scrape, groups: list[str], vhosts: set[str] | None) -> list[Metric]:
    """The groups asked for (unknown ones are ignored, as RabbitMQ ignores them),
    then the identity families every endpoint serves."""
    queues = [q for q in scrape.queues if vhosts is None or q.vhost in vhosts]
    metrics: list[Metric] = []
    for group in dict.fromkeys(groups):
        build = DETAILED_GROUPS.get(group)
        if build is not None:
            metrics += build(scrape, queues)
    return metrics + _identity(scrape)


def _vhost_status(scrape: Scrape, _queues: list[QueueSnapshot]) -> list[Metric]:
    return [Metric("rabbitmq_cluster_vhost_status", [({"vhost": v}, 1) for v in scrape.vhosts])]


def _exchange_labels(scrape: Scrape) -> list[Labels]:
    # The default exchange is not listed, as in RabbitMQ.
    return [{"vhost": x.vhost, "exchange": x.name, "type": x.type}
            for x in scrape.exchanges if x.name]  # fmt: skip


def _exchange_names(scrape: Scrape, _queues: list[QueueSnapshot]) -> list[Metric]:
    return [Metric("rabbitmq_cluster_exchange_name", [(x, 1) for x in _exchange_labels(scrape)])]


def _exchange_bindings(scrape: Scrape, _queues: list[QueueSnapshot]) -> list[Metric]:
    count = scrape.bindings_by_source
    return [Metric("rabbitmq_cluster_exchange_bindings",
                   [(x, count.get((x["vhost"], x["exchange"]), 0))
                    for x in _exchange_labels(scrape)])]  # fmt: skip


D = "rabbitmq_detailed_"
DETAILED_GROUPS: dict[str, Callable[[Scrape, list[QueueSnapshot]], list[Metric]]] = {
    "connection_churn_metrics": lambda s, _q: _churn(s, D),
    "queue_coarse_metrics": lambda _s, q: _per_queue(D, QUEUE_COARSE, q, True),
    "queue_consumer_count": lambda _s, q: _per_queue(D, QUEUE_CONSUMERS, q, True),
    "queue_metrics": lambda _s, q: _per_queue(D, QUEUE_METRICS, q, True),
    "channel_metrics": lambda s, _q: _per_channel(D, s.channels, True),
    "vhost_status": _vhost_status,
    "exchange_names": _exchange_names,
    "exchange_bindings": _exchange_bindings,
}
