"""What a connection negotiates: the protocol header, who may log in, the tune values.

Pure data and rules shared by the connection state machine and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from amqpd.errors import AMQPConnectionError, ReplyCode

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
# RabbitMQ also takes the AMQP 0-9 header for 0-9-1.
ACCEPTED_HEADERS = frozenset({PROTOCOL_HEADER, b"AMQP\x01\x01\x00\x09"})
# The longest wait for connection.close-ok, and the wait when heartbeats are off.
MAX_CLOSE_WAIT = 30.0


class Authority(Protocol):
    """Who may log in, and to which virtual hosts."""

    def check_password(self, user: str, password: str) -> bool: ...

    def open_refusal(self, user: str, vhost: str) -> str | None:
        """Why ``user`` may not open ``vhost`` (530 NOT_ALLOWED), or None."""


@dataclass(frozen=True)
class ConnectionSettings:
    """What the broker offers in connection.tune, and its protocol timeouts."""

    frame_max: int = 131072
    channel_max: int = 2047
    heartbeat: int = 60
    handshake_timeout: float = 10.0
    # The pause before dropping a connection after a handshake or framing fault.
    error_close_delay: float = 3.0
    server_properties: dict = field(default_factory=dict)


def negotiate(name: str, minimum: int, client: int, server: int) -> int:
    """Check a tune-ok value as RabbitMQ does: within [minimum, server]; 0 means no limit."""
    if client != 0 and client < minimum:
        raise AMQPConnectionError(
            ReplyCode.NOT_ALLOWED,
            f"negotiated {name} = {client} is lower than the minimum allowed value ({minimum})",
        )
    if server != 0 and (client == 0 or client > server):
        raise AMQPConnectionError(
            ReplyCode.NOT_ALLOWED,
            f"negotiated {name} = {client} is higher than the maximum allowed value ({server})",
        )
    return client
