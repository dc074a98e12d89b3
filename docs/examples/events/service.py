"""A service that reacts to order events: payment, inventory or analytics.

    python service.py payment|inventory|analytics [--exchange-type topic|fanout]

Each service owns a durable queue bound to the order-events exchange. The queue
outlives the service: while the service is down its events wait there, and it
works through them when it comes back. Prints one JSON line per event handled.
SIGTERM or Ctrl-C stops it cleanly.
"""

import argparse
import json
import os
import signal

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name

# With a topic exchange each service says which events it wants (``#`` matches any
# number of dot-separated words). A fanout exchange ignores routing keys: every
# bound queue gets every event.
TOPIC_BINDINGS = {
    "payment": ["order.placed"],  # charge the card
    "inventory": ["order.placed", "order.cancelled"],  # reserve stock, put it back
    "analytics": ["order.#"],  # count everything that happens to orders
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("service", choices=sorted(TOPIC_BINDINGS))
    parser.add_argument("--exchange-type", choices=["topic", "fanout"], default="topic")
    args = parser.parse_args()
    exchange = f"{PREFIX}orders.{args.exchange_type}"
    queue = f"{PREFIX}{args.service}.orders.{args.exchange_type}"

    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    # Declaring is idempotent: whoever starts first creates the exchange.
    channel.exchange_declare(exchange, args.exchange_type, durable=True)
    channel.queue_declare(queue, durable=True)
    if args.exchange_type == "fanout":
        channel.queue_bind(queue, exchange)
    else:
        for binding_key in TOPIC_BINDINGS[args.service]:
            channel.queue_bind(queue, exchange, routing_key=binding_key)
    channel.basic_qos(prefetch_count=10)

    def on_event(channel, method, properties, body) -> None:
        event = json.loads(body)
        # ... the service's own work: charge, reserve stock, update a dashboard ...
        print(
            json.dumps(
                {
                    "service": args.service,
                    "event": method.routing_key,
                    "order_id": event["order_id"],
                    "redelivered": method.redelivered,
                }
            ),
            flush=True,
        )
        channel.basic_ack(method.delivery_tag)

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    channel.basic_consume(queue, on_event)
    print(json.dumps({"service": args.service, "ready": True, "queue": queue}), flush=True)
    while not stopping:
        connection.process_data_events(time_limit=0.5)
    connection.close()  # anything prefetched but not acked goes back to the queue


if __name__ == "__main__":
    main()
