"""The firehose tracer: copies of what is published and delivered, to amq.rabbitmq.trace.

While a vhost traces (``rabbitmqctl trace_on``), RabbitMQ publishes to its
``amq.rabbitmq.trace`` exchange a copy of every message published in it, with
the routing key ``publish.<exchange>``, and of every delivery (basic.deliver and
basic.get-ok), with ``deliver.<queue>``. A copy carries the original body and,
as its only property, headers saying where the message went and who sent or
took it. Messages whose exchange is the trace exchange are not traced, so
consuming the trace makes no more of it. Which vhosts trace is not kept across
restarts: RabbitMQ starts with tracing off.
"""

from __future__ import annotations

from amqpd.model.exchange import TRACE_EXCHANGE
from amqpd.model.message import Message
from amqpd.wire import properties as props_codec
from amqpd.wire.codec import ContentHeader
from amqpd.wire.fieldtable import Field, longstr

BASIC_CLASS = 60


def signedint(value: int) -> Field:
    """RabbitMQ writes integer properties as signedint, keeping the low 32 bits
    (a timestamp past 2**31 wraps, as it does there)."""
    return ("I", (value + 2**31) % 2**32 - 2**31)


def _strings(values: list[str]) -> Field:
    return ("A", [longstr(value) for value in values])


def properties_table(props: dict) -> dict[str, Field]:
    """The message's properties as the ``properties`` header: last property first,
    as RabbitMQ builds the table; short strings are longstr, numbers signedint."""
    table: dict[str, Field] = {}
    for name, kind in reversed(props_codec.FIELDS):
        value = props.get(name)
        if value is None:
            continue
        if kind == "s":
            table[name] = ("S", value)
        elif kind == "F":
            table[name] = ("F", value)
        else:
            table[name] = signedint(value)  # type: ignore[arg-type]
    return table


class Tracer:
    """Makes the trace copies; the node name is the one the copies carry."""

    def __init__(self, node: str = "rabbit@localhost") -> None:
        self.node = node

    def published(
        self,
        message: Message,
        vhost: str,
        connection: str,
        channel: int,
        user: str,
        routed: list[str],
    ) -> Message | None:
        """The copy of a publish; ``routed`` names the queues it was routed to."""
        return self._copy(message, "publish", message.exchange, {
            "vhost": longstr(vhost),
            "connection": longstr(connection),
            "channel": signedint(channel),
            "user": longstr(user),
            "routed_queues": _strings(sorted(routed, key=str.encode)),
        })  # fmt: skip

    def delivered(
        self,
        message: Message,
        queue: str,
        redelivered: bool,
        vhost: str,
        connection: str,
        channel: int,
        user: str,
    ) -> Message | None:
        """The copy of a basic.deliver or basic.get-ok from ``queue``."""
        return self._copy(message, "deliver", queue, {
            "redelivered": signedint(int(redelivered)),
            "vhost": longstr(vhost),
            "connection": longstr(connection),
            "channel": signedint(channel),
            "user": longstr(user),
        })  # fmt: skip

    def _copy(
        self, message: Message, what: str, name: str, extra: dict[str, Field]
    ) -> Message | None:
        if message.exchange == TRACE_EXCHANGE:
            return None  # the trace itself is never traced
        headers: dict[str, Field] = {
            "exchange_name": longstr(message.exchange),
            "routing_keys": _strings([message.routing_key, *message.cc, *message.bcc]),
            "properties": ("F", properties_table(message.props)),
            "node": longstr(self.node),
            **extra,
        }
        raw = props_codec.encode({"headers": headers})
        header = ContentHeader(BASIC_CLASS, len(message.body), raw)
        return Message(TRACE_EXCHANGE, f"{what}.{name}", header, message.body)
