"""Charge payments; retry failures with growing delays; park the hopeless ones.

    python payment_worker.py [--crash-on PAYMENT_ID]

Topology (all durable, all declared here, names after EXAMPLE_PREFIX):

    payments              the work queue this worker consumes
    payments.retry.1..N-1 holding queues, one per retry, each with its own
                          x-message-ttl; an expired message is dead-lettered
                          straight back to ``payments``
    payments.parked       where a payment goes after N failed attempts

A failed payment is republished (headers and all) to the holding queue for its
attempt, and only then acknowledged. When its TTL runs out the broker
dead-letters it back to ``payments`` and records that in the message's
``x-death`` header; the worker counts attempts from ``x-death``, so it keeps
no state of its own.

RETRY_DELAYS_MS (default ``1000,10000,60000``) sets the delays, and so
N = 1 + the number of delays. ``--crash-on`` makes the worker die in the middle
of that payment (the first time it sees it) without acknowledging anything it
holds: the broker hands all of it to the next worker. Prints one JSON line per
attempt. SIGTERM or Ctrl-C stops it cleanly.
"""

import argparse
import json
import os
import signal
import time

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name
DELAYS_MS = [int(ms) for ms in os.environ.get("RETRY_DELAYS_MS", "1000,10000,60000").split(",")]
MAX_ATTEMPTS = len(DELAYS_MS) + 1
WORK = PREFIX + "payments"
RETRY = PREFIX + "payments.retry."
PARKED = PREFIX + "payments.parked"


class PaymentFailed(Exception):
    pass


def charge(payment: dict, attempt: int) -> None:
    """The call to the payment provider. Card "declined" always fails; "flaky-K"
    fails its first K attempts (a provider that is down for a while)."""
    card = payment["card"]
    if card == "declined":
        raise PaymentFailed("card declined")
    if card.startswith("flaky-") and attempt <= int(card.removeprefix("flaky-")):
        raise PaymentFailed("provider unavailable")


def declare(channel) -> None:
    channel.queue_declare(WORK, durable=True)
    for attempt, delay in enumerate(DELAYS_MS, start=1):
        channel.queue_declare(
            f"{RETRY}{attempt}",
            durable=True,
            arguments={
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",  # the default exchange: route by queue name
                "x-dead-letter-routing-key": WORK,
            },
        )
    channel.queue_declare(PARKED, durable=True)


def attempts_before(properties) -> int:
    """How many times this payment already failed: one x-death entry per holding
    queue it expired from (the broker adds them, and counts repeats)."""
    deaths = (properties.headers or {}).get("x-death") or []
    return sum(
        death["count"]
        for death in deaths
        if death["reason"] == "expired" and str(death["queue"]).startswith(RETRY)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--crash-on")
    args = parser.parse_args()

    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    declare(channel)
    channel.confirm_delivery()  # a retry or parked copy must be safe before we ack
    channel.basic_qos(prefetch_count=10)

    def report(**fields) -> None:
        print(json.dumps(fields), flush=True)

    def on_payment(channel, method, properties, body) -> None:
        payment = json.loads(body)
        attempt = attempts_before(properties) + 1
        seen = {
            "payment_id": payment["payment_id"],
            "attempt": attempt,
            "redelivered": method.redelivered,
            "at": time.time(),  # when this attempt began
        }
        if payment["payment_id"] == args.crash_on and not method.redelivered:
            report(**seen, outcome="crash")
            os._exit(3)  # mid-payment: no ack, no channel.close, the socket just drops
        try:
            charge(payment, attempt)
        except PaymentFailed as failure:
            if attempt < MAX_ATTEMPTS:
                target, outcome = f"{RETRY}{attempt}", "retry"
            else:
                target, outcome = PARKED, "parked"
            headers = dict(properties.headers or {}, **{"x-last-error": str(failure)})
            # Same body and headers (x-death included): the broker adds to x-death
            # when the holding queue dead-letters the message back.
            channel.basic_publish(
                "",
                target,
                body,
                pika.BasicProperties(
                    delivery_mode=2, headers=headers, content_type=properties.content_type
                ),
                mandatory=True,
            )
            report(**seen, outcome=outcome, error=str(failure))
        else:
            report(**seen, outcome="charged")
        channel.basic_ack(method.delivery_tag)

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    channel.basic_consume(WORK, on_payment)
    report(ready=True, max_attempts=MAX_ATTEMPTS, delays_ms=DELAYS_MS)
    while not stopping:
        connection.process_data_events(time_limit=0.5)
    connection.close()


if __name__ == "__main__":
    main()
