"""Events the connection state machine hands to the broker."""

from __future__ import annotations

from dataclasses import dataclass

from amqpd.wire.assembler import Command


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    user: str
    vhost: str
    client_properties: dict


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    channel: int


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """The channel is over: the broker releases what it held (consumers, unacked)."""

    channel: int


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A complete command for the broker on an open channel."""

    channel: int
    command: Command


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is over (sent once); the broker releases everything it held."""

    reason: str


Event = ConnectionOpened | ChannelOpened | ChannelClosed | CommandReceived | ConnectionClosed
