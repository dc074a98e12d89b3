"""One of several competing workers on the orders queue.

    python worker.py NAME [--leave-after N]

Start as many as you like, whenever you like: the broker spreads the queue over
the workers connected at that moment. Each worker holds at most PREFETCH (100)
unacknowledged orders and acknowledges them in batches (``multiple=True``).

Every batch of finished orders is printed as a JSON line (a stand-in for writing
results to a database). ``--leave-after N`` makes the worker walk away after its
N-th order without acknowledging what it holds: closing the channel hands those
orders back to the queue and the broker redelivers them, flagged
``redelivered``, to the other workers. SIGTERM or Ctrl-C stops it cleanly.
"""

import argparse
import json
import os
import signal

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name
QUEUE = PREFIX + "orders"
PREFETCH = int(os.environ.get("PREFETCH", "100"))
ACK_EVERY = PREFETCH // 2  # acknowledge long before the prefetch window runs dry


class Worker:
    def __init__(self, name: str, leave_after: int | None) -> None:
        self.name = name
        self.leave_after = leave_after
        self.processed = 0
        self.leaving = False
        self.stopping = False
        self.last_tag = 0  # delivery tag of the newest finished, unacknowledged order
        self.done: list[int] = []  # finished since the last ack
        self.redelivered: list[int] = []
        self.connection = pika.BlockingConnection(pika.URLParameters(URL))
        self.channel = self.connection.channel()
        self.channel.queue_declare(QUEUE, durable=True)
        self.channel.basic_qos(prefetch_count=PREFETCH)

    def report(self, **fields) -> None:
        print(json.dumps({"worker": self.name, **fields}), flush=True)

    def on_order(self, channel, method, properties, body) -> None:
        if self.leaving:
            return  # prefetched after we decided to leave: the broker takes it back
        order = json.loads(body)
        # ... charge, pack, ship: the real work goes here ...
        self.done.append(order["order_id"])
        if method.redelivered:
            self.redelivered.append(order["order_id"])
        self.last_tag = method.delivery_tag
        self.processed += 1
        if self.leave_after is not None and self.processed >= self.leave_after:
            self.leaving = True
        elif len(self.done) >= ACK_EVERY:
            self.ack()

    def ack(self) -> None:
        if self.done:
            self.channel.basic_ack(self.last_tag, multiple=True)  # every tag up to this one
            self.report(acked=self.done, redelivered=self.redelivered)
            self.done, self.redelivered = [], []

    def run(self) -> None:
        self.channel.basic_consume(QUEUE, self.on_order)
        self.report(ready=True)
        while not (self.stopping or self.leaving):
            # Returns as soon as a burst of deliveries has been handled (or after
            # half a second without any): then acknowledge whatever is finished.
            self.connection.process_data_events(time_limit=0.5)
            if not self.leaving:
                self.ack()
        if self.leaving:
            # Orders finished but not acknowledged (and any still prefetched) go
            # back to the queue when the channel closes: someone else redoes them.
            self.report(left=True, unacked=self.done, redelivered=self.redelivered)
        self.channel.close()
        self.connection.close()
        self.report(stopped=True, processed=self.processed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--leave-after", type=int)
    args = parser.parse_args()
    worker = Worker(args.name, args.leave_after)

    def stop(signum, frame):
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()


if __name__ == "__main__":
    main()
