"""Publish an order event once; every service that subscribed gets its own copy.

    python place_order.py ORDER_ID... [--event order.placed] [--exchange-type topic|fanout]

The publisher knows nothing about who listens: it names an exchange and a
routing key (the event), and the exchange's bindings decide which queues get a
copy. With publisher confirms each publish returns once the broker has taken
responsibility for the event (written it to every durable queue it routed to).
"""

import argparse
import json
import os

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("order_ids", nargs="+", type=int)
    parser.add_argument("--event", default="order.placed")
    parser.add_argument("--exchange-type", choices=["topic", "fanout"], default="topic")
    args = parser.parse_args()
    exchange = f"{PREFIX}orders.{args.exchange_type}"

    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    channel.exchange_declare(exchange, args.exchange_type, durable=True)
    channel.confirm_delivery()
    for order_id in args.order_ids:
        body = json.dumps({"order_id": order_id, "event": args.event})
        channel.basic_publish(
            exchange,
            args.event,
            body.encode(),
            pika.BasicProperties(delivery_mode=2, content_type="application/json"),
        )
    print(json.dumps({"published": args.order_ids, "event": args.event}))
    connection.close()


if __name__ == "__main__":
    main()
