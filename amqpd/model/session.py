"""One client connection as the model sees it: the calls that reach the client.

The shell implements ``Session``; its calls buffer frames in the connection's
sans-I/O state machine, so the model never does I/O itself.
"""

from __future__ import annotations

from typing import Protocol

from pamqp.base import Frame as Method

from amqpd.wire.codec import ContentHeader


class Session(Protocol):
    vhost: str
    user: str
    name: str  # "peer -> local address", as RabbitMQ names connections
    client_properties: dict

    @property
    def writable(self) -> bool:
        """False while the client's unsent output is over its bound."""

    def send_method(self, channel: int, method: Method) -> None: ...

    def send_content(
        self, channel: int, method: Method, header: ContentHeader, body: bytes
    ) -> None: ...

    def send_delivery(
        self,
        channel: int,
        consumer_tag: str,
        delivery_tag: int,
        redelivered: bool,
        exchange: str,
        routing_key: str,
        header: ContentHeader,
        body: bytes,
    ) -> None:
        """basic.deliver with its content (a hot path with its own encoder)."""
