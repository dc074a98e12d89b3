"""The worker that sends welcome emails queued by ``web.py pika``.

    python worker.py

Durable queue, one job at a time (prefetch 1), acknowledged only after the
email went out: if the worker dies mid-email, the broker gives the job to the
next worker. Prints one JSON line per email sent. SIGTERM or Ctrl-C stops it
after the current email.
"""

import json
import os
import signal

import mailer
import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name
QUEUE = PREFIX + "welcome-emails"


def main() -> None:
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    channel.queue_declare(QUEUE, durable=True)
    channel.basic_qos(prefetch_count=1)  # hold one job; the rest wait for any free worker

    def on_job(channel, method, properties, body) -> None:
        job = json.loads(body)
        path = mailer.send_welcome_email(job["to"])
        channel.basic_ack(method.delivery_tag)  # only now is the job done
        print(json.dumps({"sent": job["to"], "file": path.name}), flush=True)

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    channel.basic_consume(QUEUE, on_job)
    print(json.dumps({"ready": True, "queue": QUEUE}), flush=True)
    while not stopping:
        connection.process_data_events(time_limit=0.5)
    connection.close()


if __name__ == "__main__":
    main()
