"""Delayed delivery: the x-delayed-message exchange, built in.

A message published to such an exchange with a positive integer ``x-delay``
header (ms) is held until then, and only then routed as the exchange's
``x-delayed-type`` routes. A persistent message held by a durable exchange is
stored, with its due time on the wall clock, so it survives a restart; one
whose exchange was deleted meanwhile is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from amqpd.model.dispatcher import Dispatcher
from amqpd.model.exchange import Exchange
from amqpd.model.journal import Journal
from amqpd.model.message import Message
from amqpd.model.routing import route, routing_keys
from amqpd.model.timers import Timer, Timers
from amqpd.model.vhost import VirtualHost


def delay_of(exchange: Exchange, message: Message) -> int | None:
    """The delay in ms a publish asks for, or None to route it at once."""
    if not exchange.delayed or "x-delay" not in message.headers:
        return None
    delay = message.headers["x-delay"]
    if isinstance(delay, int) and not isinstance(delay, bool) and delay > 0:
        return delay
    return None


@dataclass(eq=False, slots=True)
class HeldMessage:
    exchange: Exchange
    message: Message
    vhost: VirtualHost
    stored_id: int | None  # its record in the store, if it is kept there


class DelayedDelivery:
    def __init__(self, timers: Timers, journal: Journal, dispatcher: Dispatcher) -> None:
        self.timers = timers
        self.journal = journal
        self.dispatcher = dispatcher

    def hold(self, vhost: VirtualHost, exchange: Exchange, message: Message, due: float) -> None:
        stored_id = self.journal.delayed_put(vhost.name, exchange, message, due)
        self._schedule(HeldMessage(exchange, message, vhost, stored_id), due)

    def restore(
        self, vhost: VirtualHost, exchange: Exchange, message: Message, stored_id: int, due: float
    ) -> None:
        """A held message recovered from the store."""
        self._schedule(HeldMessage(exchange, message, vhost, stored_id), due)

    def _schedule(self, held: HeldMessage, due: float) -> None:
        self.timers.schedule((Timer.DELAYED_RELEASE, held), due)

    def release(self, held: HeldMessage) -> None:
        """Its time has come: route it through its exchange now."""
        self.journal.delayed_remove(held.stored_id)
        vhost, exchange, message = held.vhost, held.exchange, held.message
        if vhost.exchanges.get(exchange.name) is not exchange:
            return  # the exchange was deleted meanwhile
        for queue in route(vhost, exchange, message, routing_keys(message)):
            self.dispatcher.enqueue(queue, message)
