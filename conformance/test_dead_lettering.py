"""Dead-lettering, as RabbitMQ 3.10.8 does it.

The dead-lettered message (properties, re-sorted headers, x-death entries with
their field order and wire types, x-first-death-*), what dead-letters and what
does not, the routing keys with CC/BCC and x-dead-letter-routing-key, multi-hop
histories and cycles.
"""

import time

import pytest
from pamqp import commands as C

from conformance import typed
from conformance.helpers import (
    bind,
    count,
    declare,
    declare_exchange,
    dlx,
    exists,
    wait_for,
    wait_get,
)

NOW = "about now"


def pinned(items):
    """Typed items with each timestamp checked to be about now and replaced by NOW."""
    out = []
    for *name, code, value in items:
        if code == "T":
            assert abs(value - time.time()) <= 10, value
            value = NOW
        elif code in ("A", "F"):
            value = pinned(value)
        out.append((*name, code, value))
    return out


def keys(*names):
    return ("routing-keys", "A", [("S", name) for name in names])


def first_entry(reason, queue, exchange, rks, expiration=None):
    """The entry of a message's first death: fields in creation order."""
    entry = [("count", "l", 1), ("reason", "S", reason), ("queue", "S", queue)]
    entry += [("time", "T", NOW), ("exchange", "S", exchange), keys(*rks)]
    if expiration is not None:
        entry.append(("original-expiration", "S", expiration))
    return ("F", entry)


def sorted_entry(count, reason, queue, exchange, rks):
    """An entry created or updated once the message had an x-death: key-sorted."""
    entry = [("count", "l", count), ("exchange", "S", exchange), ("queue", "S", queue)]
    return ("F", entry + [("reason", "S", reason), keys(*rks), ("time", "T", NOW)])


def first_death(exchange, queue, reason):
    return [
        ("x-first-death-exchange", "S", exchange),
        ("x-first-death-queue", "S", queue),
        ("x-first-death-reason", "S", reason),
    ]


def entry(props, index=0):
    """The fields of an x-death entry (x-death being the first header), by name."""
    return {name: value for name, _, value in props["headers"][0][2][index][1]}


def reject(client, queue):
    """Fetch the next message of the queue and reject it without requeue."""
    method, _, _ = wait_get(client, queue, no_ack=False)
    client.send(1, C.Basic.Reject(delivery_tag=method.delivery_tag, requeue=False))


def stays_empty(client, *queues):
    time.sleep(0.3)
    assert [count(client, queue) for queue in queues] == [0] * len(queues)


def test_dead_lettered_message_format(lab, broker):
    client = lab.connect()
    src, dlx_x, q1, dlq = lab.exchange("src"), lab.exchange("dlx"), lab.queue("q1"), lab.queue()
    declare_exchange(client, src)
    declare_exchange(client, dlx_x, "topic")
    declare(client, q1, *dlx(dlx_x))
    declare(client, dlq)
    bind(client, q1, src, "k1")
    bind(client, dlq, dlx_x, "#")
    headers = [("zzz", "S", "last"), ("aaa", "I", 1), ("Mmm", "t", True), ("x-custom", "l", 7)]
    props = dict(content_type="text/plain", content_encoding="gzip", headers=headers,
                 delivery_mode=2, priority=5, correlation_id="corr", reply_to="rto",
                 expiration="60000", message_id="mid", timestamp=1700000000, type="typ",
                 user_id=broker.user, app_id="app", cluster_id="clu")  # fmt: skip
    typed.publish(client, 1, b"full", src, "k1", **props)
    method, original, _ = wait_get(client, q1, no_ack=False)
    assert original == props
    client.send(1, C.Basic.Reject(delivery_tag=method.delivery_tag, requeue=False))
    method, dead, body = wait_get(client, dlq)
    assert (method.exchange, method.routing_key, method.redelivered, body) == (
        dlx_x, "k1", False, b"full",
    )  # fmt: skip
    kept = {name: value for name, value in props.items() if name not in ("expiration", "headers")}
    assert {name: value for name, value in dead.items() if name != "headers"} == kept
    assert pinned(dead["headers"]) == [
        ("Mmm", "t", True),
        ("aaa", "I", 1),
        ("x-custom", "l", 7),
        ("x-death", "A", [first_entry("rejected", q1, src, ["k1"], "60000")]),
        *first_death(src, q1, "rejected"),
        ("zzz", "S", "last"),
    ]


TTL = [("x-message-ttl", "I", 100)]
MAXLEN = [("x-max-length", "I", 1)]


@pytest.mark.parametrize(
    "trigger, args, reason",
    [
        ("reject", [], "rejected"),
        ("nack", [], "rejected"),
        ("reject-delivery", [], "rejected"),
        ("queue-ttl", TTL, "expired"),
        ("message-ttl", [], "expired"),
        ("drop-head", MAXLEN, "maxlen"),
        ("reject-publish-dlx", MAXLEN + [("x-overflow", "S", "reject-publish-dlx")], "maxlen"),
    ],
)
def test_what_dead_letters(lab, trigger, args, reason):
    client, queue, dlq = lab.connect(), lab.queue("src"), lab.queue("dlq")
    declare(client, queue, *args, *dlx("", dlq))
    declare(client, dlq)
    expiration = "100" if trigger == "message-ttl" else None
    bodies = [b"kept", b"dead"] if trigger == "reject-publish-dlx" else [b"dead", b"kept"]
    for body in bodies[: 2 if reason == "maxlen" else 1]:
        typed.publish(client, 1, body, routing_key=queue, expiration=expiration)
    if trigger == "reject-delivery":
        client.call_ok(1, C.Basic.Consume(queue=queue, consumer_tag="c"), C.Basic.ConsumeOk)
        tag = client.read_message()[1].delivery_tag
    elif reason == "rejected":
        tag = wait_get(client, queue, no_ack=False)[0].delivery_tag
    if trigger == "nack":
        client.send(1, C.Basic.Nack(delivery_tag=tag, requeue=False))
    elif reason == "rejected":
        client.send(1, C.Basic.Reject(delivery_tag=tag, requeue=False))
    method, props, body = wait_get(client, dlq)
    assert (method.exchange, method.routing_key, method.redelivered, body) == (
        "", dlq, False, b"dead",
    )  # fmt: skip
    assert pinned(props["headers"]) == [
        ("x-death", "A", [first_entry(reason, queue, "", [queue], expiration)]),
        *first_death("", queue, reason),
    ]
    assert typed.get(client, 1, dlq) is None


def test_nack_multiple_dead_letters_each_in_order(lab):
    client, queue, dlq = lab.connect(), lab.queue("src"), lab.queue("dlq")
    declare(client, queue, *dlx("", dlq))
    declare(client, dlq)
    for i in range(3):
        typed.publish(client, 1, b"m%d" % i, routing_key=queue)
    tags = [wait_get(client, queue, no_ack=False)[0].delivery_tag for _ in range(3)]
    client.send(1, C.Basic.Nack(delivery_tag=tags[-1], multiple=True, requeue=False))
    wait_for(lambda: count(client, dlq) == 3)
    assert [typed.get(client, 1, dlq)[2] for _ in range(3)] == [b"m0", b"m1", b"m2"]


@pytest.mark.parametrize("how", ["channel-close", "purge", "delete", "queue-expiry"])
def test_what_does_not_dead_letter(lab, how):
    client, queue, dlq = lab.connect(channels=(1, 2)), lab.queue("src"), lab.queue("dlq")
    expires = [("x-expires", "I", 200)] if how == "queue-expiry" else []
    declare(client, queue, *expires, *dlx("", dlq))
    declare(client, dlq)
    typed.publish(client, 1, b"kept", routing_key=queue)
    if how == "channel-close":
        wait_get(client, queue, no_ack=False, channel=2)
        client.call_ok(2, C.Channel.Close(200, "bye", 0, 0), C.Channel.CloseOk)
        method, _, body = wait_get(client, queue)
        assert (method.redelivered, body) == (True, b"kept")
    elif how == "purge":
        assert client.call_ok(1, C.Queue.Purge(queue=queue), C.Queue.PurgeOk).message_count == 1
    elif how == "delete":
        assert client.call_ok(1, C.Queue.Delete(queue=queue), C.Queue.DeleteOk).message_count == 1
    else:
        wait_for(lambda: not exists(client, queue, channel=2))
    stays_empty(client, dlq)


def test_a_missing_dead_letter_exchange_drops_the_message(lab):
    client, queue = lab.connect(), lab.queue("src")
    declare(client, queue, *dlx(lab.prefix + "-missing"))
    typed.publish(client, 1, b"lost", routing_key=queue)
    reject(client, queue)
    assert typed.get(client, 1, queue) is None
    stays_empty(client, queue)


def cc_bcc_setup(lab, client, trigger, dl_key):
    src, dlx_x, queue = lab.exchange("src"), lab.exchange("dlx"), lab.queue("src")
    declare_exchange(client, src)
    declare_exchange(client, dlx_x)
    ttl = TTL if trigger == "expire" else []
    declare(client, queue, *ttl, *dlx(dlx_x, dl_key))
    bind(client, queue, src, "k1", "k2", "k3")
    targets = {key: lab.queue(f"dl-{key}") for key in ("k1", "k2", "k3", "dlrk")}
    for key, name in targets.items():
        declare(client, name)
        bind(client, name, dlx_x, key)
    cc = [("CC", "A", [("S", "k2")]), ("BCC", "A", [("S", "k3")]), ("other", "S", "o")]
    typed.publish(client, 1, b"cc", src, "k1", headers=cc)
    if trigger == "reject":
        reject(client, queue)
    return src, queue, targets


@pytest.mark.parametrize(
    "trigger, dl_key", [("reject", None), ("expire", None), ("reject", "dlrk")]
)
def test_dead_letter_routing_with_cc_and_bcc(lab, trigger, dl_key):
    client = lab.connect()
    src, queue, targets = cc_bcc_setup(lab, client, trigger, dl_key)
    reason = "rejected" if trigger == "reject" else "expired"
    # The original keys, BCC included, route the copy unless a DL routing key
    # replaces them all; x-death lists the key and the CC keys, never BCC.
    reached = ["dlrk"] if dl_key else ["k1", "k2", "k3"]
    kept = [] if dl_key else [("CC", "A", [("S", "k2")])]
    for key in reached:
        method, props, _ = wait_get(client, targets[key])
        assert method.routing_key == (dl_key or "k1")
        assert pinned(props["headers"]) == [
            *kept,
            ("other", "S", "o"),
            ("x-death", "A", [first_entry(reason, queue, src, ["k1", "k2"])]),
            *first_death(src, queue, reason),
        ]
    stays_empty(client, queue, *(name for key, name in targets.items() if key not in reached))


@pytest.mark.parametrize("second", ["rejected", "expired"])
def test_two_hops(lab, second):
    client, q1, q2, q3 = lab.connect(), lab.queue("q1"), lab.queue("q2"), lab.queue("q3")
    declare(client, q1, *dlx("", q2))
    declare(client, q2, *(TTL if second == "expired" else []), *dlx("", q3))
    declare(client, q3)
    hop = lab.prefix + "-hop"
    bind(client, q1, "amq.direct", hop)
    typed.publish(
        client, 1, b"hop", "amq.direct", hop, expiration="60000", headers=[("h", "S", "v")]
    )
    hop1 = first_entry("rejected", q1, "amq.direct", [hop], "60000")
    reject(client, q1)
    if second == "rejected":
        method, props, _ = wait_get(client, q2, no_ack=False)
        assert pinned(props["headers"]) == [
            ("h", "S", "v"),
            ("x-death", "A", [hop1]),
            *first_death("amq.direct", q1, "rejected"),
        ]
        client.send(1, C.Basic.Reject(delivery_tag=method.delivery_tag, requeue=False))
    _, props, _ = wait_get(client, q3)
    # The newest entry comes first, key-sorted; the expiration property is gone
    # after the first hop, so the second entry has no original-expiration.
    assert pinned(props["headers"]) == [
        ("h", "S", "v"),
        ("x-death", "A", [sorted_entry(1, second, q2, "", [q2]), hop1]),
        *first_death("amq.direct", q1, "rejected"),
    ]


def test_the_same_queue_rejecting_again_counts_up(lab):
    client, queue = lab.connect(), lab.queue()
    declare(client, queue, *dlx(""))
    typed.publish(client, 1, b"m", routing_key=queue)
    reject(client, queue)
    method, props, _ = wait_get(client, queue, no_ack=False)
    assert (method.exchange, method.routing_key) == ("", queue)
    assert pinned(props["headers"]) == [
        ("x-death", "A", [first_entry("rejected", queue, "", [queue])]),
        *first_death("", queue, "rejected"),
    ]
    first_time = entry(props)["time"]
    for n in (2, 3):
        client.send(1, C.Basic.Reject(delivery_tag=method.delivery_tag, requeue=False))
        method, props, _ = wait_get(client, queue, no_ack=False)
        assert pinned(props["headers"]) == [
            ("x-death", "A", [sorted_entry(n, "rejected", queue, "", [queue])]),
            *first_death("", queue, "rejected"),
        ]
        assert entry(props)["time"] == first_time  # only count changes


def test_ping_pong_by_rejection(lab):
    client, a, b = lab.connect(), lab.queue("a"), lab.queue("b")
    declare(client, a, *dlx("", b))
    declare(client, b, *dlx("", a))
    typed.publish(client, 1, b"m", routing_key=a)
    for queue in (a, b, a):
        reject(client, queue)
    _, props, _ = wait_get(client, b)
    assert pinned(props["headers"]) == [
        ("x-death", "A", [
            sorted_entry(2, "rejected", a, "", [a]),
            sorted_entry(1, "rejected", b, "", [b]),
        ]),
        *first_death("", a, "rejected"),
    ]  # fmt: skip


def never_back(client, *queues):
    """The message is gone from every queue and does not come back."""
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert [count(client, queue) for queue in queues] == [0] * len(queues)
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["expiry", "reject-then-expiry", "expiry-ping-pong"])
def test_automatic_cycles_drop_the_message(lab, how):
    client, a, b = lab.connect(), lab.queue("a"), lab.queue("b")
    ttl = [("x-message-ttl", "I", 300 if how == "reject-then-expiry" else 200)]
    if how == "expiry-ping-pong":
        declare(client, a, *ttl, *dlx("", b))
        declare(client, b, *ttl, *dlx("", a))
    else:
        declare(client, a, *ttl, *dlx(""))
    typed.publish(client, 1, b"m", routing_key=a)
    wait_for(lambda: count(client, a) == 1)
    if how == "reject-then-expiry":
        reject(client, a)  # a cycle through a rejection is allowed...
        wait_for(lambda: count(client, a) == 1)
    if how == "expiry-ping-pong":
        wait_for(lambda: count(client, b) == 1)
        wait_for(lambda: count(client, b) == 0)
        never_back(client, a, b)
    else:
        wait_for(lambda: count(client, a) == 0)
        never_back(client, a)


@pytest.mark.parametrize("supplied", ["not-an-array", "matching-entry"])
def test_client_supplied_x_death(lab, supplied):
    client, queue, out = lab.connect(), lab.queue("src"), lab.queue("out")
    declare(client, queue, *dlx("", out))
    declare(client, out)
    if supplied == "not-an-array":
        headers = [("x-death", "S", "garbage")]
        expected = [first_entry("rejected", queue, "", [queue])]
    else:
        entry_ = [("queue", "S", queue), ("reason", "S", "rejected"), ("count", "l", 5)]
        headers = [("x-death", "A", [("F", entry_)])]
        expected = [("F", [("count", "l", 6), ("queue", "S", queue), ("reason", "S", "rejected")])]
    typed.publish(client, 1, b"m", routing_key=queue, headers=headers)
    reject(client, queue)
    _, props, _ = wait_get(client, out)
    # No x-first-death-* is added when the message already had an x-death header.
    assert pinned(props["headers"]) == [("x-death", "A", expected)]


def test_other_x_death_entries_end_up_reversed(lab):
    """RabbitMQ regroups existing entries by (queue, reason) before adding the new
    one, which leaves the others in reverse order."""
    client, queue, out = lab.connect(), lab.queue("src"), lab.queue("out")
    declare(client, queue, *dlx("", out))
    declare(client, out)

    def entry(name, count=None):
        fields = [("queue", "S", name), ("reason", "S", "expired")]
        return ("F", fields + ([("count", "l", count)] if count else []))

    supplied = [entry("a", 1), entry("b", 1), entry("c", 1)]
    typed.publish(client, 1, b"m", routing_key=queue, headers=[("x-death", "A", supplied)])
    reject(client, queue)
    _, props, _ = wait_get(client, out)
    ((name, kind, deaths),) = [h for h in props["headers"] if h[0] == "x-death"]
    queues = [dict((k, v) for k, _t, v in fields)["queue"] for _f, fields in deaths]
    assert queues == [queue, "c", "b", "a"]
