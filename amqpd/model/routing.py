"""Routing: the queues a message reaches from an exchange.

Through exchange-to-exchange bindings and alternate exchanges, each exchange
visited once, each queue reached once. The default exchange routes by queue name.
"""

from __future__ import annotations

from amqpd.model.exchange import Exchange
from amqpd.model.message import Message
from amqpd.model.queue import Queue
from amqpd.model.vhost import VirtualHost, exchange_dest


def routing_keys(message: Message) -> list[str]:
    """The routing key and the sender-selected (CC, BCC) ones."""
    return [message.routing_key, *message.cc, *message.bcc]


def route(
    vhost: VirtualHost, exchange: Exchange, message: Message, keys: list[str] | None = None
) -> list[Queue]:
    """The queues ``message`` goes to; ``keys`` default to its routing key alone."""
    keys = [message.routing_key] if keys is None else keys
    if exchange.name == "":
        found = (vhost.queues.get(key) for key in dict.fromkeys(keys))
        return [queue for queue in found if queue is not None]
    queues: dict[str, Queue] = {}
    seen = {exchange.name}
    work = [exchange]
    while work:
        for kind, name in _destinations(work.pop(), message, keys):
            if kind == "queue":
                queue = vhost.queues.get(name)
                if queue is not None:
                    queues[name] = queue
            elif name not in seen:
                seen.add(name)
                target = vhost.exchanges.get(name)
                if target is not None:
                    work.append(target)
    return list(queues.values())


def _destinations(exchange: Exchange, message: Message, keys: list[str]) -> list[tuple[str, str]]:
    """Where one exchange sends the message: its bindings' matches, else its alternate."""
    if exchange.type == "headers":
        dests = list(exchange.router.route("", message.typed_headers))
    else:
        dests = [dest for key in keys for dest in exchange.router.route(key, None)]
    if not dests and exchange.alternate:
        dests = [exchange_dest(exchange.alternate)]
    return dests
