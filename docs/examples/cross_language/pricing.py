"""The pricing service (Python, pika): answers "what does this order cost?" over RPC.

    python pricing.py

Consumes the ``pricing`` queue. Each request names, in its properties, the
queue to answer to (``reply_to``) and an id to answer with
(``correlation_id``); the reply goes to that queue through the default
exchange, carrying the same correlation id, so that the caller can match it to
its request. Prints one JSON line per answer. SIGTERM or Ctrl-C stops it.
"""

import json
import os
import signal

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name
QUEUE = PREFIX + "pricing"
PRICES_CENTS = {"book": 1250, "mug": 800, "poster": 1999}


def quote(order: dict) -> dict:
    if order.get("sku") not in PRICES_CENTS:
        return {"order_id": order.get("order_id"), "error": f"unknown sku {order.get('sku')!r}"}
    total = PRICES_CENTS[order["sku"]] * int(order["quantity"])
    return {"order_id": order["order_id"], "total_cents": total}


def main() -> None:
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    # Requests are only worth answering while someone waits: not durable.
    channel.queue_declare(QUEUE, durable=False)
    channel.basic_qos(prefetch_count=10)

    def on_request(channel, method, properties, body) -> None:
        answer = quote(json.loads(body))
        channel.basic_publish(
            "",
            properties.reply_to,
            json.dumps(answer).encode(),
            pika.BasicProperties(
                correlation_id=properties.correlation_id, content_type="application/json"
            ),
        )
        channel.basic_ack(method.delivery_tag)
        print(json.dumps({"answered": properties.correlation_id, **answer}), flush=True)

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    channel.basic_consume(QUEUE, on_request)
    print(json.dumps({"ready": True, "queue": QUEUE}), flush=True)
    while not stopping:
        connection.process_data_events(time_limit=0.5)
    connection.close()


if __name__ == "__main__":
    main()
