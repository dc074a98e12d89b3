"""Publish COUNT orders (default 100,000) to the orders work queue, as fast as pika allows.

    python producer.py [COUNT]

Prints one JSON line: how many were published and how long it took.
"""

import json
import os
import sys
import time

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name
QUEUE = PREFIX + "orders"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    channel.queue_declare(QUEUE, durable=True)
    persistent = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    started = time.monotonic()
    for order_id in range(count):
        # No confirm per message: each publish is one write to the socket, nothing
        # waits for the broker. (retries/ shows publishing with confirms.)
        body = json.dumps({"order_id": order_id, "amount_cents": 100 + order_id % 900})
        channel.basic_publish("", QUEUE, body.encode(), persistent)
    # One round trip at the end: the broker answers it only after it has taken in
    # every publish sent before it on this channel.
    channel.queue_declare(QUEUE, durable=True, passive=True)
    print(json.dumps({"published": count, "seconds": round(time.monotonic() - started, 2)}))
    connection.close()


if __name__ == "__main__":
    main()
