"""A whole broker on a virtual clock: hours of TTL and delay pass in a moment."""

import time

import pika
import trio.testing

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread

HOUR_MS = 3_600_000


def test_an_hour_long_delay_and_ttl_pass_without_waiting_an_hour(tmp_path):
    config = BrokerConfig(data_dir=str(tmp_path), resource_check_interval=1e6)
    clock = trio.testing.MockClock(autojump_threshold=0.05)
    with BrokerThread(config, clock=clock) as broker:
        connection = pika.BlockingConnection(pika.URLParameters(broker.url + "?heartbeat=0"))
        channel = connection.channel()
        channel.exchange_declare("later", "x-delayed-message",
                                 arguments={"x-delayed-type": "direct"})  # fmt: skip
        channel.queue_declare("due")
        channel.queue_bind("due", "later", "k")
        dead_letter = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "due"}
        ttl = {"x-message-ttl": HOUR_MS}
        channel.queue_declare("dead-in-an-hour", arguments={**ttl, **dead_letter})
        started, virtual_start = time.monotonic(), clock.current_time()
        channel.basic_publish("later", "k", b"delayed",
                              pika.BasicProperties(headers={"x-delay": HOUR_MS}))  # fmt: skip
        channel.basic_publish("", "dead-in-an-hour", b"expired")
        bodies = set()
        for _method, _props, body in channel.consume("due", auto_ack=True, inactivity_timeout=20):
            assert body is not None, f"only {bodies} arrived"
            bodies.add(body)
            if len(bodies) == 2:
                break
        assert bodies == {b"delayed", b"expired"}
        assert time.monotonic() - started < 15  # not the hour it was on the broker's clock
        assert clock.current_time() - virtual_start >= HOUR_MS / 1000
        connection.close()
