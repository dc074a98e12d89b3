"""The web side of sign-up: POST /signup queues the welcome email and answers 202.

    python web.py celery|pika

The handler does not talk to the mail server: it hands the job to the broker
(a millisecond or two) and answers at once, whether or not any worker is
running. ``celery`` queues a Celery task (run ``celery -A celery_tasks worker``);
``pika`` publishes a plain message (run ``python worker.py``).

Listens on 127.0.0.1:PORT (default 8000; 0 picks a free port) and prints the
address it serves on as a JSON line. Try:

    curl -X POST -d '{"email": "ada@example.com"}' http://127.0.0.1:8000/signup
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name
QUEUE = PREFIX + "welcome-emails"  # the pika version's queue


def celery_enqueue():
    from celery_tasks import send_welcome_email

    return send_welcome_email.delay, lambda: None


def pika_enqueue():
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    channel.queue_declare(QUEUE, durable=True)  # survives a broker restart...
    channel.confirm_delivery()  # ...and the broker says when it has each job

    def enqueue(address: str) -> None:
        channel.basic_publish(
            "",  # the default exchange: the routing key is the queue's name
            QUEUE,
            json.dumps({"to": address}).encode(),
            pika.BasicProperties(delivery_mode=2, content_type="application/json"),
            mandatory=True,  # no queue, no silent loss: pika raises UnroutableError
        )

    # Between requests, keep the connection serviced (heartbeats, broker close).
    return enqueue, lambda: connection.process_data_events(time_limit=0)


class SignupServer(HTTPServer):
    def __init__(self, address, enqueue, service) -> None:
        super().__init__(address, SignupHandler)
        self.enqueue, self.service = enqueue, service

    def service_actions(self) -> None:  # called by serve_forever between requests
        self.service()


class SignupHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        if self.path != "/signup":
            self.send_error(404)
            return
        form = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        # ... create the account ...
        self.server.enqueue(form["email"])  # queued, not sent: a worker sends it
        reply = json.dumps({"status": "welcome email queued"}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format, *args) -> None:
        sys.stderr.write(format % args + "\n")


def main() -> None:
    jobs = sys.argv[1] if len(sys.argv) > 1 else "pika"
    enqueue, service = {"celery": celery_enqueue, "pika": pika_enqueue}[jobs]()
    server = SignupServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), enqueue, service)
    print(
        json.dumps({"listening": f"http://127.0.0.1:{server.server_port}", "jobs": jobs}),
        flush=True,
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
