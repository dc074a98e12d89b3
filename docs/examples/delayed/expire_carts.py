"""The expiry worker: when a cart's time is up, expire it.

    python expire_carts.py [--via ttl|delayed-exchange]

Consumes ``carts.expired``, where reminders arrive once their delay has passed,
whichever way they were delayed. A reminder cannot be taken back once
scheduled, so the worker checks that the cart is still open before expiring it
(here: every cart is). Prints one JSON line per expired cart. SIGTERM or Ctrl-C
stops it cleanly.
"""

import argparse
import json
import signal
import time

import carts
import pika


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--via", choices=["ttl", "delayed-exchange"], default="ttl")
    args = parser.parse_args()

    connection = pika.BlockingConnection(pika.URLParameters(carts.URL))
    channel = connection.channel()
    carts.declare(channel, args.via)
    channel.basic_qos(prefetch_count=10)

    def on_due(channel, method, properties, body) -> None:
        reminder = json.loads(body)
        # ... look the cart up; if it is still open, empty it and email the customer ...
        print(
            json.dumps(
                {
                    "expired": reminder["cart_id"],
                    "waited_s": round(time.time() - reminder["scheduled_at"], 3),
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
    channel.basic_consume(carts.EXPIRED, on_due)
    print(json.dumps({"ready": True, "via": args.via}), flush=True)
    while not stopping:
        connection.process_data_events(time_limit=0.5)
    connection.close()


if __name__ == "__main__":
    main()
