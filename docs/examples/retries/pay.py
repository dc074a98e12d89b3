"""Ask for payments: each argument is PAYMENT_ID:CARD.

    python pay.py p-1:ok p-2:flaky-2 p-3:declined

Cards: "ok" is charged at once, "flaky-K" fails K times before it goes through,
"declined" never does. Publishes persistent messages to the durable payments
queue with publisher confirms, so each payment is on the broker's disk before
this program moves on.
"""

import json
import os
import sys

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name
WORK = PREFIX + "payments"


def main() -> None:
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    channel.queue_declare(WORK, durable=True)
    channel.confirm_delivery()
    for arg in sys.argv[1:]:
        payment_id, card = arg.split(":", 1)
        body = json.dumps({"payment_id": payment_id, "card": card, "amount_cents": 4200})
        # mandatory: should the queue be missing, the broker returns the message and
        # pika raises UnroutableError instead of the payment vanishing.
        channel.basic_publish(
            "",
            WORK,
            body.encode(),
            pika.BasicProperties(delivery_mode=2, content_type="application/json"),
            mandatory=True,
        )
    print(json.dumps({"published": sys.argv[1:]}))
    connection.close()


if __name__ == "__main__":
    main()
