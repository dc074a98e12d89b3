"""The topology both cart programs declare (idempotently), for either way of delaying.

``ttl``: a holding queue nobody consumes, whose x-message-ttl is the delay; the
broker dead-letters each message, when its time is up, into ``carts.expired``.

``delayed-exchange``: an exchange of type x-delayed-message (built into amqpd; a
plugin on RabbitMQ) keeps each message for its ``x-delay`` header's milliseconds,
then routes it to ``carts.expired``.
"""

import os

import pika.exceptions

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name
DELAY_MS = int(os.environ.get("CART_TTL_MS", str(60 * 60 * 1000)))  # one hour

EXPIRED = PREFIX + "carts.expired"  # what the expiry worker consumes
WAITING = PREFIX + "carts.waiting"  # the ttl variant's holding queue
DELAYED = PREFIX + "carts.delayed"  # the delayed-exchange variant's exchange
ROUTING_KEY = "cart.expired"


class NoDelayedExchange(SystemExit):
    def __init__(self, error) -> None:
        super().__init__(
            f"this broker has no x-delayed-message exchange type ({error}): on RabbitMQ, "
            "enable the rabbitmq_delayed_message_exchange plugin, or use --via ttl"
        )


def declare(channel, via: str) -> None:
    channel.queue_declare(EXPIRED, durable=True)
    if via == "ttl":
        # Every message in this queue waits exactly DELAY_MS (a queue-wide TTL keeps
        # them in order: the oldest always expires first). A different delay needs
        # a different holding queue.
        channel.queue_declare(
            WAITING,
            durable=True,
            arguments={
                "x-message-ttl": DELAY_MS,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": EXPIRED,
            },
        )
    else:
        try:
            channel.exchange_declare(
                DELAYED,
                "x-delayed-message",
                durable=True,
                arguments={"x-delayed-type": "direct"},  # how to route once the delay is up
            )
        except (
            pika.exceptions.ConnectionClosedByBroker,
            pika.exceptions.ChannelClosedByBroker,
        ) as error:
            raise NoDelayedExchange(error) from None
        channel.queue_bind(EXPIRED, DELAYED, routing_key=ROUTING_KEY)
