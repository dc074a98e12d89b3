"""Application patterns built from broker features, as pika applications write them."""

import time
import uuid
from itertools import pairwise

import pika
import pika.exceptions
import pytest

from interop.helpers import drive, unique

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


def wait_get(connection, channel, queue, seconds=10):
    """basic.get, polled with a deadline: the first message that turns up in ``queue``."""
    got = [(None, None, None)]

    def arrived():
        got[0] = channel.basic_get(queue, auto_ack=True)
        return got[0][0] is not None

    drive([connection], arrived, seconds)
    return got[0]


def test_retry_with_backoff_through_dead_letter_queues(connection):
    work_x, retry_x, work = unique("work-x"), unique("retry-x"), unique("payments")
    retries = {1: unique("retry-1"), 2: unique("retry-2")}
    dlq = unique("payments-dlq")
    backoff_ms, max_attempts = {1: 100, 2: 200}, 3
    ch = connection.channel()
    try:
        ch.exchange_declare(work_x, "direct", auto_delete=True)
        ch.exchange_declare(retry_x, "direct", auto_delete=True)
        # A rejected payment goes to the retry exchange under its current key "attempt-N"...
        ch.queue_declare(work, exclusive=True, arguments={"x-dead-letter-exchange": retry_x})
        for n in range(1, max_attempts + 1):
            ch.queue_bind(work, work_x, f"attempt-{n}")
        # ...waits out retry-N's TTL there, then comes back as "attempt-N+1".
        for n, queue in retries.items():
            args = {
                "x-message-ttl": backoff_ms[n],
                "x-dead-letter-exchange": work_x,
                "x-dead-letter-routing-key": f"attempt-{n + 1}",
            }
            ch.queue_declare(queue, exclusive=True, arguments=args)
            ch.queue_bind(queue, retry_x, f"attempt-{n}")
        ch.queue_declare(dlq, exclusive=True)

        fails_until = {"pay-ok": 0, "pay-flaky": 1, "pay-bad": max_attempts}
        attempts, processed = [], []

        def on_payment(channel, method, props, body):
            deaths = (props.headers or {}).get("x-death", [])
            rejected = [
                d["count"] for d in deaths if (d["queue"], d["reason"]) == (work, "rejected")
            ]
            attempt = 1 + sum(rejected)
            attempts.append((body.decode(), attempt, method.routing_key, time.monotonic()))
            if attempt > fails_until[body.decode()]:
                processed.append(body.decode())
                channel.basic_ack(method.delivery_tag)
            elif attempt < max_attempts:
                channel.basic_reject(method.delivery_tag, requeue=False)
            else:  # out of attempts: park it, x-death history and all
                channel.basic_publish("", dlq, body, props)
                channel.basic_ack(method.delivery_tag)

        ch.basic_consume(work, on_payment)
        for payment in fails_until:
            ch.basic_publish(work_x, "attempt-1", payment.encode(), pika.BasicProperties())
        drive([connection], lambda: len(processed) == 2 and len(attempts) == 6)

        for payment, expected in (("pay-ok", [1]), ("pay-flaky", [1, 2]), ("pay-bad", [1, 2, 3])):
            mine = [a for a in attempts if a[0] == payment]
            assert [a[1] for a in mine] == expected, payment
            assert [a[2] for a in mine] == [f"attempt-{n}" for n in expected], payment
            for (_, n, _, before), (_, _, _, after) in pairwise(mine):
                assert after - before >= backoff_ms[n] / 1000 * 0.9, (payment, n)
        assert sorted(processed) == ["pay-flaky", "pay-ok"]

        _, props, body = wait_get(connection, ch, dlq)
        assert body == b"pay-bad"
        deaths = props.headers["x-death"]
        assert (deaths[0]["queue"], deaths[0]["reason"]) == (retries[2], "expired")  # newest
        counts = {(d["queue"], d["reason"]): d["count"] for d in deaths}
        assert counts == {
            (retries[2], "expired"): 1,
            (retries[1], "expired"): 1,
            (work, "rejected"): 2,
        }
        by_queue = {d["queue"]: d for d in deaths}
        for n, queue in retries.items():
            assert (by_queue[queue]["exchange"], by_queue[queue]["routing-keys"]) == (
                retry_x,
                [f"attempt-{n}"],
            )
        assert by_queue[work]["exchange"] == work_x
        first = [props.headers[f"x-first-death-{k}"] for k in ("queue", "reason", "exchange")]
        assert first == [work, "rejected", work_x]
        for queue in (work, *retries.values(), dlq):  # nothing left anywhere, nothing lost
            assert ch.queue_declare(queue, passive=True).method.message_count == 0, queue
        history = [(d["queue"], d["reason"], d["count"]) for d in deaths]
        # RabbitMQ 3.10.8 puts the newest death first and reverses the older entries
        # on every dead-lettering, so the full history reads:
        assert history == [
            (retries[2], "expired", 1),
            (retries[1], "expired", 1),
            (work, "rejected", 2),
        ]
    finally:
        if ch.is_open:
            ch.exchange_delete(work_x)
            ch.exchange_delete(retry_x)


def test_bounded_queues_shed_load(connection):
    ch = connection.channel()
    ch.confirm_delivery()
    args = {"x-max-length": 10, "x-overflow": "reject-publish"}
    bounded = ch.queue_declare(unique("bounded"), exclusive=True, arguments=args).method.queue

    def publish_all(queue, bodies):
        confirmed, nacked = [], []
        for body in bodies:
            try:
                ch.basic_publish("", queue, body.encode())
                confirmed.append(body)
            except pika.exceptions.NackError:
                nacked.append(body)
        return confirmed, nacked

    def drain(queue):
        bodies = []
        while (got := ch.basic_get(queue, auto_ack=True))[0] is not None:
            bodies.append(got[2].decode())
        return bodies

    jobs = [f"job-{i}" for i in range(15)]
    assert publish_all(bounded, jobs) == (jobs[:10], jobs[10:])
    assert ch.queue_declare(bounded, passive=True).method.message_count == 10
    # A worker takes three; there is room for exactly three more.
    taken = [ch.basic_get(bounded, auto_ack=True)[2].decode() for _ in range(3)]
    assert taken == jobs[:3]
    assert publish_all(bounded, ["late-1", "late-2", "late-3", "late-4"]) == (
        ["late-1", "late-2", "late-3"],
        ["late-4"],
    )
    assert drain(bounded) == jobs[3:10] + ["late-1", "late-2", "late-3"]

    # drop-head (the default): every publish is confirmed, only the newest 10 stay,
    # and the dropped oldest are dead-lettered with reason "maxlen".
    dropped = ch.queue_declare("", exclusive=True).method.queue
    latest_args = {
        "x-max-length": 10,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": dropped,
    }
    latest = ch.queue_declare(unique("latest"), exclusive=True, arguments=latest_args).method.queue
    readings = [f"reading-{i}" for i in range(15)]
    assert publish_all(latest, readings) == (readings, [])
    assert drain(latest) == readings[5:]
    shed = []
    while len(shed) < 5:
        _, props, body = wait_get(connection, ch, dropped)
        shed.append((body.decode(), props.headers["x-death"][0]["reason"]))
    assert shed == [(r, "maxlen") for r in readings[:5]]


def test_priority_work_queue(connection):
    ch = connection.channel()
    args = {"x-max-priority": 10}
    queue = ch.queue_declare(unique("priority"), exclusive=True, arguments=args).method.queue
    priorities = [1, 5, None, 10, 5, 1, 10, 0, 5, 3, None, 10]
    for seq, priority in enumerate(priorities):
        ch.basic_publish("", queue, f"{seq}".encode(), pika.BasicProperties(priority=priority))
    worked = []

    def worker(channel, method, props, body):
        worked.append((props.priority or 0, int(body)))
        channel.basic_ack(method.delivery_tag)

    ch.basic_qos(prefetch_count=1)
    ch.basic_consume(queue, worker)
    drive([connection], lambda: len(worked) == len(priorities))
    expected = sorted(
        ((p or 0, seq) for seq, p in enumerate(priorities)), key=lambda t: (-t[0], t[1])
    )
    assert worked == expected


def test_delayed_reminder_exchange(connection):
    ch = connection.channel()
    exchange = unique("delayed")
    try:
        ch.exchange_declare(exchange, "x-delayed-message", arguments={"x-delayed-type": "direct"})
    except pika.exceptions.ConnectionClosedByBroker as exc:
        if exc.reply_code == 503 and "unknown exchange type" in exc.reply_text:
            pytest.skip("broker has no delayed-message exchange (plugin absent)")
        raise
    try:
        reminders = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(reminders, exchange, "reminders")
        start = time.monotonic()
        later = pika.BasicProperties(headers={"x-delay": 300})
        ch.basic_publish(exchange, "reminders", b"call mum", later)
        ch.basic_publish(exchange, "reminders", b"right now")  # no x-delay: routed at once
        ch.basic_publish(exchange, "elsewhere", b"lost", later)  # no binding: dropped when due
        assert wait_get(connection, ch, reminders)[2] == b"right now"
        connection.process_data_events(time_limit=0.1)
        assert ch.basic_get(reminders, auto_ack=True)[0] is None
        assert time.monotonic() - start < 0.3, "too slow to check the reminder is not there yet"
        _, props, body = wait_get(connection, ch, reminders)
        assert body == b"call mum"
        assert time.monotonic() - start >= 0.29
        connection.process_data_events(time_limit=0.1)
        assert ch.queue_declare(reminders, passive=True).method.message_count == 0
    finally:
        if ch.is_open:
            ch.exchange_delete(exchange)


def test_remind_me_later_with_ttl_and_dead_lettering(connection):
    ch = connection.channel()
    reminders = ch.queue_declare(unique("reminders"), exclusive=True).method.queue
    args = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": reminders}
    holding = ch.queue_declare(unique("holding"), exclusive=True, arguments=args).method.queue
    start = time.monotonic()
    for body, ms in ((b"stand up", "200"), (b"go home", "400")):
        ch.basic_publish("", holding, body, pika.BasicProperties(expiration=ms))
    assert ch.basic_get(reminders, auto_ack=True)[0] is None
    assert ch.queue_declare(holding, passive=True).method.message_count == 2
    for body, ms in ((b"stand up", "200"), (b"go home", "400")):
        _, props, got = wait_get(connection, ch, reminders)
        assert got == body
        assert time.monotonic() - start >= int(ms) / 1000 - 0.01
        assert props.expiration is None
        death = props.headers["x-death"][0]
        assert (death["queue"], death["reason"], death["count"]) == (holding, "expired", 1)
        assert death["original-expiration"] == ms
        assert props.headers["x-first-death-reason"] == "expired"
    assert ch.queue_declare(holding, passive=True).method.message_count == 0


def test_rpc_over_direct_reply_to(broker, connection):
    server_conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    rpc_queue = unique("rpc")
    try:
        server = server_conn.channel()
        server.queue_declare(rpc_queue, auto_delete=True)
        pending, seen_reply_to = [], []

        def on_request(channel, method, props, body):
            pending.append((method.delivery_tag, props, body))
            seen_reply_to.append(props.reply_to)
            if len(pending) == 5:  # answer in reverse: the client must match by id
                for tag, req, req_body in reversed(pending):
                    reply = pika.BasicProperties(correlation_id=req.correlation_id)
                    channel.basic_publish("", req.reply_to, req_body[::-1], reply)
                    channel.basic_ack(tag)

        server.basic_consume(rpc_queue, on_request)
        client = connection.channel()
        replies = {}

        def on_reply(channel, method, props, body):
            replies[props.correlation_id] = body

        client.basic_consume(DIRECT_REPLY_TO, on_reply, auto_ack=True)
        requests = {str(uuid.uuid4()): f"request-{i}".encode() for i in range(5)}
        for cid, body in requests.items():
            props = pika.BasicProperties(reply_to=DIRECT_REPLY_TO, correlation_id=cid)
            client.basic_publish("", rpc_queue, body, props)
        drive([connection, server_conn], lambda: len(replies) == 5)
        assert replies == {cid: body[::-1] for cid, body in requests.items()}
        assert all(r.startswith(DIRECT_REPLY_TO + ".") for r in seen_reply_to), seen_reply_to
        assert len(set(seen_reply_to)) == 1
    finally:
        server_conn.close()
