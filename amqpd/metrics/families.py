"""Every family amqpd serves, with rabbitmq_prometheus 3.10's TYPE and HELP text.

Copied from the reference broker's /metrics, byte for byte: dashboards and
alerts written for RabbitMQ find the same names, types and descriptions.
``rabbitmq_detailed_*`` families share their ``rabbitmq_*`` twin's entry.
"""

from __future__ import annotations

FAMILIES: dict[str, tuple[str, str]] = {
    "process_start_time_seconds": (
        "gauge", "Start time of the process since unix epoch in seconds."),
    "rabbitmq_alarms_file_descriptor_limit": (
        "untyped", "is 1 if file descriptor limit alarm is in effect"),
    "rabbitmq_alarms_free_disk_space_watermark": (
        "untyped", "is 1 if free disk space watermark alarm is in effect"),
    "rabbitmq_alarms_memory_used_watermark": (
        "untyped", "is 1 if VM memory watermark alarm is in effect"),
    "rabbitmq_connections_opened_total": ("counter", "Total number of connections opened"),
    "rabbitmq_connections_closed_total": (
        "counter", "Total number of connections closed or terminated"),
    "rabbitmq_channels_opened_total": ("counter", "Total number of channels opened"),
    "rabbitmq_channels_closed_total": ("counter", "Total number of channels closed"),
    "rabbitmq_queues_declared_total": ("counter", "Total number of queues declared"),
    "rabbitmq_queues_created_total": ("counter", "Total number of queues created"),
    "rabbitmq_queues_deleted_total": ("counter", "Total number of queues deleted"),
    "rabbitmq_process_open_fds": ("gauge", "Open file descriptors"),
    "rabbitmq_process_open_tcp_sockets": ("gauge", "Open TCP sockets"),
    "rabbitmq_process_resident_memory_bytes": ("gauge", "Memory used in bytes"),
    "rabbitmq_disk_space_available_bytes": ("gauge", "Disk space available in bytes"),
    "rabbitmq_process_max_fds": ("gauge", "Open file descriptors limit"),
    "rabbitmq_process_max_tcp_sockets": ("gauge", "Open TCP sockets limit"),
    "rabbitmq_resident_memory_limit_bytes": ("gauge", "Memory high watermark in bytes"),
    "rabbitmq_disk_space_available_limit_bytes": (
        "gauge", "Free disk space low watermark in bytes"),
    "rabbitmq_queue_messages_ready": ("gauge", "Messages ready to be delivered to consumers"),
    "rabbitmq_queue_messages_unacked": (
        "gauge", "Messages delivered to consumers but not yet acknowledged"),
    "rabbitmq_queue_messages": (
        "gauge", "Sum of ready and unacknowledged messages - total queue depth"),
    "rabbitmq_queue_consumers": ("gauge", "Consumers on a queue"),
    "rabbitmq_queue_messages_ram": ("gauge", "Ready and unacknowledged messages stored in memory"),
    "rabbitmq_queue_messages_ready_ram": ("gauge", "Ready messages stored in memory"),
    "rabbitmq_queue_messages_unacked_ram": ("gauge", "Unacknowledged messages stored in memory"),
    "rabbitmq_queue_messages_ready_bytes": ("gauge", "Size in bytes of ready messages"),
    "rabbitmq_queue_messages_paged_out": ("gauge", "Messages paged out to disk"),
    "rabbitmq_queue_messages_paged_out_bytes": (
        "gauge", "Size in bytes of messages paged out to disk"),
    "rabbitmq_channel_consumers": ("gauge", "Consumers on a channel"),
    "rabbitmq_channel_messages_unacked": ("gauge", "Delivered but not yet acknowledged messages"),
    "rabbitmq_channel_messages_unconfirmed": ("gauge", "Published but not yet confirmed messages"),
    "rabbitmq_channel_messages_uncommitted": (
        "gauge", "Messages received in a transaction but not yet committed"),
    "rabbitmq_channel_acks_uncommitted": (
        "gauge", "Message acknowledgements in a transaction not yet committed"),
    "rabbitmq_consumer_prefetch": ("gauge", "Limit of unacknowledged messages for each consumer"),
    "rabbitmq_channel_prefetch": (
        "gauge", "Total limit of unacknowledged messages for all consumers on a channel"),
    "rabbitmq_channel_messages_published_total": (
        "counter", "Total number of messages published into an exchange on a channel"),
    "rabbitmq_channel_messages_confirmed_total": (
        "counter",
        "Total number of messages published into an exchange and confirmed on the channel"),
    "rabbitmq_channel_messages_unroutable_returned_total": (
        "counter", "Total number of messages published as mandatory into an exchange and "
        "returned to the publisher as unroutable"),
    "rabbitmq_channel_messages_unroutable_dropped_total": (
        "counter", "Total number of messages published as non-mandatory into an exchange and "
        "dropped as unroutable"),
    "rabbitmq_channel_get_ack_total": (
        "counter",
        "Total number of messages fetched with basic.get in manual acknowledgement mode"),
    "rabbitmq_channel_get_total": (
        "counter",
        "Total number of messages fetched with basic.get in automatic acknowledgement mode"),
    "rabbitmq_channel_messages_delivered_ack_total": (
        "counter",
        "Total number of messages delivered to consumers in manual acknowledgement mode"),
    "rabbitmq_channel_messages_delivered_total": (
        "counter",
        "Total number of messages delivered to consumers in automatic acknowledgement mode"),
    "rabbitmq_channel_messages_redelivered_total": (
        "counter", "Total number of messages redelivered to consumers"),
    "rabbitmq_channel_messages_acked_total": (
        "counter", "Total number of messages acknowledged by consumers"),
    "rabbitmq_channel_get_empty_total": (
        "counter", "Total number of times basic.get operations fetched no message"),
    "rabbitmq_connection_channels": ("gauge", "Channels on a connection"),
    "rabbitmq_queue_messages_published_total": (
        "counter", "Total number of messages published to queues"),
    "rabbitmq_connections": ("gauge", "Connections currently open"),
    "rabbitmq_channels": ("gauge", "Channels currently open"),
    "rabbitmq_consumers": ("gauge", "Consumers currently connected"),
    "rabbitmq_queues": ("gauge", "Queues available"),
    "rabbitmq_build_info": ("untyped", "RabbitMQ & Erlang/OTP version info"),
    "rabbitmq_identity_info": ("untyped", "RabbitMQ node & cluster identity info"),
    "rabbitmq_global_consumers": ("gauge", "Current number of consumers"),
    "rabbitmq_global_messages_acknowledged_total": (
        "counter", "Total number of messages acknowledged by consumers"),
    "rabbitmq_global_messages_confirmed_total": (
        "counter", "Total number of messages confirmed to publishers"),
    "rabbitmq_global_messages_dead_lettered_confirmed_total": (
        "counter",
        "Total number of messages dead-lettered and confirmed by target queues"),
    "rabbitmq_global_messages_dead_lettered_delivery_limit_total": (
        "counter", "Total number of messages dead-lettered due to delivery-limit exceeded"),
    "rabbitmq_global_messages_dead_lettered_expired_total": (
        "counter", "Total number of messages dead-lettered due to message TTL exceeded"),
    "rabbitmq_global_messages_dead_lettered_maxlen_total": (
        "counter", "Total number of messages dead-lettered due to overflow drop-head or "
        "reject-publish-dlx"),
    "rabbitmq_global_messages_dead_lettered_rejected_total": (
        "counter", "Total number of messages dead-lettered due to basic.reject or basic.nack"),
    "rabbitmq_global_messages_delivered_consume_auto_ack_total": (
        "counter", "Total number of messages delivered to consumers using basic.consume with "
        "automatic acknowledgment"),
    "rabbitmq_global_messages_delivered_consume_manual_ack_total": (
        "counter", "Total number of messages delivered to consumers using basic.consume with "
        "manual acknowledgment"),
    "rabbitmq_global_messages_delivered_get_auto_ack_total": (
        "counter", "Total number of messages delivered to consumers using basic.get with "
        "automatic acknowledgment"),
    "rabbitmq_global_messages_delivered_get_manual_ack_total": (
        "counter", "Total number of messages delivered to consumers using basic.get with "
        "manual acknowledgment"),
    "rabbitmq_global_messages_delivered_total": (
        "counter", "Total number of messages delivered to consumers"),
    "rabbitmq_global_messages_get_empty_total": (
        "counter", "Total number of times basic.get operations fetched no message"),
    "rabbitmq_global_messages_received_confirm_total": (
        "counter", "Total number of messages received from publishers expecting confirmations"),
    "rabbitmq_global_messages_received_total": (
        "counter", "Total number of messages received from publishers"),
    "rabbitmq_global_messages_redelivered_total": (
        "counter", "Total number of messages redelivered to consumers"),
    "rabbitmq_global_messages_routed_total": (
        "counter", "Total number of messages routed to queues or streams"),
    "rabbitmq_global_messages_unroutable_dropped_total": (
        "counter", "Total number of messages published as non-mandatory into an exchange and "
        "dropped as unroutable"),
    "rabbitmq_global_messages_unroutable_returned_total": (
        "counter", "Total number of messages published as mandatory into an exchange and "
        "returned to the publisher as unroutable"),
    "rabbitmq_cluster_vhost_status": ("gauge", "Whether a given vhost is running"),
    "rabbitmq_cluster_exchange_name": (
        "gauge", "Enumerates exchanges without any additional info. This value is "
        "cluster-wide. A cheaper alternative to `exchange_bindings`"),
    "rabbitmq_cluster_exchange_bindings": (
        "gauge", "Number of bindings for an exchange. This value is cluster-wide."),
}  # fmt: skip

DETAILED = "rabbitmq_detailed_"


def describe(name: str) -> tuple[str, str]:
    """(TYPE, HELP) of a family; a detailed one's are its aggregated twin's."""
    if name.startswith(DETAILED):
        name = "rabbitmq_" + name[len(DETAILED) :]
    return FAMILIES[name]
