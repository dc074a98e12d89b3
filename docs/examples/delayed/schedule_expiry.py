"""A cart was created: schedule "your cart expires" for CART_TTL_MS later (1 hour).

    python schedule_expiry.py CART_ID... [--via ttl|delayed-exchange]

No cron job and no table of timers to poll: the message itself waits inside the
broker, which hands it to the expiry worker when the time is up. Publishes with
confirms: once this returns, the reminder survives a broker restart.
"""

import argparse
import json
import time

import carts
import pika


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cart_ids", nargs="+")
    parser.add_argument("--via", choices=["ttl", "delayed-exchange"], default="ttl")
    args = parser.parse_args()

    connection = pika.BlockingConnection(pika.URLParameters(carts.URL))
    channel = connection.channel()
    carts.declare(channel, args.via)
    channel.confirm_delivery()
    for cart_id in args.cart_ids:
        body = json.dumps(
            {"cart_id": cart_id, "scheduled_at": time.time(), "delay_ms": carts.DELAY_MS}
        ).encode()
        if args.via == "ttl":
            # Into the holding queue; its TTL does the waiting.
            channel.basic_publish(
                "", carts.WAITING, body, pika.BasicProperties(delivery_mode=2), mandatory=True
            )
        else:
            # The exchange holds it for x-delay ms, then routes it by its routing key.
            # (Not mandatory: the plugin cannot tell yet whether it will route.)
            channel.basic_publish(
                carts.DELAYED,
                carts.ROUTING_KEY,
                body,
                pika.BasicProperties(delivery_mode=2, headers={"x-delay": carts.DELAY_MS}),
            )
    print(json.dumps({"scheduled": args.cart_ids, "via": args.via, "delay_ms": carts.DELAY_MS}))
    connection.close()


if __name__ == "__main__":
    main()
