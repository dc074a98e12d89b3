"""Stream queues on the move: appending published messages, serving each consumer.

Every consumer of a stream reads the whole log from where it started, on its
own: a message goes to each of them, and an ack only frees prefetch (the
message stays). A consumer is served while its prefetch allows, from memory
when the message is in the log's tail, else from a batch the store reads back
for it (``READ_BATCH`` messages at a time, so a long replay never holds the
stream in memory).
"""

from __future__ import annotations

from collections.abc import Callable

from amqpd.errors import AMQPConnectionError, ChannelError, ReplyCode
from amqpd.model.channel import ChannelModel, Consumer
from amqpd.model.counters import STREAM, Counters
from amqpd.model.journal import Journal, StreamRead
from amqpd.model.message import Message
from amqpd.model.queue import Entry, Queue
from amqpd.model.queue_args import check_consumer
from amqpd.model.stream import Cursor, StreamEntry, StreamLog, parse_offset

READ_BATCH = 256


def append(queue: Queue, message: Message, wall: float, journal: Journal) -> None:
    """A message routed to a stream: appended, stored, and retention applied."""
    log = queue.stream
    entry, segment = log.append(message, wall)
    journal.stream_put(queue, entry, segment)
    first = log.retain(wall, queue.max_length_bytes)
    if first is not None:
        journal.stream_truncated(queue, first)


Traced = Callable[[Queue, Entry, ChannelModel], None]  # the firehose's delivery copies


def hand_out(
    queue: Queue, journal: Journal, counters: Counters, now: float, traced: Traced | None = None
) -> None:
    for consumer in list(queue.consumers):
        _serve(queue, consumer, journal, counters, now, traced)


def _serve(
    queue: Queue,
    consumer: Consumer,
    journal: Journal,
    counters: Counters,
    now: float,
    traced: Traced | None,
) -> None:
    cursor = consumer.cursor
    channel = consumer.channel
    while channel.can_deliver(consumer):
        entry = _next(queue, cursor, journal)
        if entry is None:
            return
        cursor.offset = entry.offset + 1
        if cursor.not_before is not None:
            if entry.timestamp < cursor.not_before:
                continue  # before the timestamp it asked for
            cursor.not_before = None
        delivered = Entry(entry.message, entry.offset)
        channel.deliver(consumer, delivered, now)
        if traced is not None:
            traced(queue, delivered, channel)
        counters.delivered_consume_manual_ack[STREAM] += 1


def _next(queue: Queue, cursor: Cursor, journal: Journal) -> StreamEntry | None:
    log = queue.stream
    if cursor.offset < log.first_offset:  # retention went past it
        cursor.offset = log.first_offset
    read = cursor.read
    while read and read[0].offset < cursor.offset:
        read.popleft()
    if read:
        return read.popleft()
    if cursor.offset >= log.readable:  # nothing more, or not yet written
        return None
    entry = log.entry(cursor.offset)
    if entry is None and not cursor.reading:
        journal.request_stream_read(queue, cursor, READ_BATCH)
    return entry


def written(queue: Queue, offset: int) -> None:
    """The store wrote a stream's messages below ``offset``: consumers may have them."""
    log = queue.stream
    log.readable = max(log.readable, min(offset, log.next_offset))


def read_back(request: StreamRead, entries: list[StreamEntry]) -> None:
    """Messages the store read back for one cursor."""
    cursor = request.cursor
    cursor.reading = False
    if cursor.offset != request.from_offset:
        return  # it moved on meanwhile (retention)
    if entries:
        cursor.read.extend(entries)
    else:  # the store no longer holds them: go on from what memory holds
        cursor.offset = _resume_point(request.queue.stream)


def _resume_point(log: StreamLog) -> int:
    return log.tail[0].offset if log.tail else log.next_offset


def start(
    queue: Queue, channel: ChannelModel, no_ack: bool, arguments: dict, wall: float
) -> Cursor:
    """Where a new consumer of a stream starts; RabbitMQ's refusals first: a stream
    consumer needs a prefetch and manual acks, and there is no global qos."""
    where = f"queue '{queue.name}' in vhost '{queue.vhost}'"
    if not channel.prefetch:
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED, f"consumer prefetch count is not set for '{where}'"
        )
    if no_ack:
        raise not_supported("automatic acknowledgement", queue)
    if channel.global_prefetch:
        raise AMQPConnectionError(ReplyCode.NOT_IMPLEMENTED, f"{where} does not support global qos")
    problem = check_consumer(queue.name, queue.vhost, queue.type, arguments)
    if problem is not None:
        raise problem
    spec: tuple[str, float] = ("next", 0)
    if "x-stream-offset" in arguments:
        types = getattr(arguments, "types", {})
        value = arguments["x-stream-offset"]
        spec = parse_offset(value, types.get("x-stream-offset"), f"for {where}")
    return queue.stream.cursor(spec, wall)


def not_supported(what: str, queue: Queue) -> AMQPConnectionError:
    """What RabbitMQ 3.10 answers to an operation streams do not have (basic.get, purge...)."""
    return AMQPConnectionError(
        ReplyCode.NOT_IMPLEMENTED,
        f"{what} not supported by stream queues queue '{queue.name}' in vhost '{queue.vhost}'",
    )
