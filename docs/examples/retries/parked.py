"""List the payments parked after their last attempt, with their retry history.

    python parked.py

Reads the parked queue with basic.get and leaves every message where it is
(nothing is acknowledged; closing the channel puts them back). Prints one JSON
line per parked payment: the payment, its last error, and the x-death entries
the broker wrote each time a holding queue sent it back.
"""

import json
import os

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name
PARKED = PREFIX + "payments.parked"


def main() -> None:
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    while True:
        method, properties, body = channel.basic_get(PARKED, auto_ack=False)
        if method is None:
            break
        headers = properties.headers or {}
        history = [
            {key: death[key] for key in ("queue", "reason", "count", "exchange", "routing-keys")}
            for death in headers.get("x-death") or []
        ]
        print(
            json.dumps(
                {
                    "payment": json.loads(body),
                    "error": headers.get("x-last-error"),
                    "x_death": history,
                }
            )
        )
    connection.close()  # unacknowledged: every parked message stays parked


if __name__ == "__main__":
    main()
