"""The broker: what happens to commands once a channel is open.

Messaging (exchanges, queues, basic.*) is not built yet: every such command is
refused with 540 NOT_IMPLEMENTED, which closes the connection, so a client sees
a clear error instead of a silent hang.
"""

from __future__ import annotations

from amqpd.errors import AMQPConnectionError, ReplyCode
from amqpd.wire.assembler import Command
from amqpd.wire.codec import method_ids


class Broker:
    def __init__(self) -> None:
        self.connections = 0

    def connection_opened(self) -> None:
        self.connections += 1

    def connection_closed(self) -> None:
        self.connections -= 1

    def command(self, channel: int, command: Command) -> None:
        method = command.method
        raise AMQPConnectionError(
            ReplyCode.NOT_IMPLEMENTED,
            f"{_rabbit_name(method.name)} is not implemented by this broker yet",
            *method_ids(method),
        )


def _rabbit_name(pamqp_name: str) -> str:
    """'Queue.Declare' -> 'queue.declare', as RabbitMQ names methods."""
    cls, _, meth = pamqp_name.partition(".")
    snake = "".join("_" + c.lower() if c.isupper() else c for c in meth).lstrip("_")
    return f"{cls.lower()}.{snake}"
