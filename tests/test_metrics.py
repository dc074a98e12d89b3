"""The Prometheus endpoint: rabbitmq_prometheus's families, types, help texts and labels.

The family checks compare amqpd's /metrics and /metrics/per-object with the
reference RabbitMQ's (AMQPD_REFERENCE_PROMETHEUS, default
http://127.0.0.1:15692): every family amqpd serves must be one of the
reference's, with the same TYPE, HELP and label names. The per-queue checks
run on both brokers.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pika
import pytest

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread

REFERENCE = os.environ.get("AMQPD_REFERENCE_PROMETHEUS", "http://127.0.0.1:15692")
REFERENCE_AMQP = os.environ.get("AMQPD_REFERENCE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
DEADLINE = 30.0  # seconds for RabbitMQ's per-object stats to catch up (emitted every 5 s)


def fetch(url: str, **headers: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class Families:
    """A parsed exposition: TYPE, HELP and the samples of each family."""

    def __init__(self, text: str) -> None:
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        self.samples: dict[str, list[tuple[dict, float]]] = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                name, kind = line[7:].split(" ", 1)
                self.types[name] = kind
                self.samples.setdefault(name, [])
            elif line.startswith("# HELP "):
                name, text_ = line[7:].split(" ", 1)
                self.helps[name] = text_
            elif line:
                found = SAMPLE.match(line)
                assert found, line
                labels = dict(LABEL.findall(found.group(2) or ""))
                self.samples.setdefault(found.group(1), []).append((labels, float(found.group(3))))

    def label_names(self, name: str) -> set[frozenset]:
        return {frozenset(labels) for labels, _value in self.samples[name]}

    def value(self, name: str, **labels: str) -> float | None:
        for found, value in self.samples.get(name, []):
            if all(found.get(k) == v for k, v in labels.items()):
                return value
        return None


def scrape(base: str, path: str = "/metrics") -> Families:
    status, _headers, body = fetch(base + path)
    assert status == 200, body
    return Families(body.decode())


@pytest.fixture(scope="module")
def metrics_broker() -> Iterator[BrokerThread]:
    with BrokerThread(BrokerConfig(store="memory")) as started:
        yield started


@pytest.fixture(scope="module")
def reference() -> str:
    try:
        fetch(REFERENCE + "/metrics")
    except OSError:
        pytest.skip(f"no reference RabbitMQ Prometheus endpoint at {REFERENCE}")
    return REFERENCE


# ---- the families against the reference's -------------------------------------------


@pytest.mark.parametrize("path", ["/metrics", "/metrics/per-object"])
def test_every_family_is_the_references_with_its_type_help_and_labels(
    metrics_broker, reference, path
):
    # A connection, a channel and a consumer on each, so every family has samples.
    with busy(metrics_broker.url), busy(REFERENCE_AMQP):
        ours = scrape(metrics_broker.prometheus_url, path)
        theirs = poll_scrape(reference, path, "rabbitmq_channel_consumers")
    assert set(ours.types) <= set(theirs.types), set(ours.types) - set(theirs.types)
    for name in ours.types:
        assert ours.types[name] == theirs.types[name], name
        assert ours.helps[name] == theirs.helps[name], name
        assert bool(ours.samples[name]) == bool(theirs.samples[name]), name
        assert ours.label_names(name) <= theirs.label_names(name), name


@contextlib.contextmanager
def busy(url: str) -> Iterator[None]:
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.basic_consume(queue, lambda *_: None)
        yield


def poll_scrape(base: str, path: str, family: str) -> Families:
    """A scrape once ``family`` has samples (RabbitMQ emits per-object stats every 5 s)."""
    deadline = time.monotonic() + DEADLINE
    while not (found := scrape(base, path)).samples.get(family):
        assert time.monotonic() < deadline, f"no {family} samples"
        time.sleep(0.2)  # the broker publishes its stats on its own schedule
    return found


def test_detailed_families_are_the_references(metrics_broker, reference):
    query = "/metrics/detailed?" + "&".join(
        f"family={g}" for g in ("connection_churn_metrics", "queue_coarse_metrics",
                                "queue_consumer_count", "queue_metrics", "channel_metrics",
                                "vhost_status", "exchange_names", "exchange_bindings")
    )  # fmt: skip
    ours, theirs = scrape(metrics_broker.prometheus_url, query), scrape(reference, query)
    assert set(ours.types) <= set(theirs.types), set(ours.types) - set(theirs.types)
    for name in ours.types:
        assert (ours.types[name], ours.helps[name]) == (theirs.types[name], theirs.helps[name])
        if ours.samples[name] and theirs.samples[name]:
            assert ours.label_names(name) <= theirs.label_names(name), name


# ---- values, on both brokers ---------------------------------------------------------


@pytest.fixture(params=["amqpd", "rabbitmq"])
def target(request, metrics_broker) -> tuple[str, str]:
    """(AMQP URL, Prometheus URL) of either broker."""
    if request.param == "amqpd":
        return metrics_broker.url, metrics_broker.prometheus_url
    reference = request.getfixturevalue("reference")
    return REFERENCE_AMQP, reference


def poll_value(base: str, path: str, name: str, expected: float, **labels: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        value = scrape(base, path).value(name, **labels)
        if value == expected:
            return
        assert time.monotonic() < deadline, f"{name}{labels} is {value}, not {expected}"
        time.sleep(0.2)  # polling a value the broker publishes on its own schedule


def test_a_queue_is_reported_per_object_and_in_detail(target):
    url, base = target
    name = f"metrics-{uuid.uuid4().hex[:8]}"
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        channel = connection.channel()
        channel.queue_declare(name, exclusive=True)
        for _ in range(5):
            channel.basic_publish("", name, b"m")
        for _ in range(2):
            channel.basic_get(name, auto_ack=False)  # two unacked
        where = {"vhost": "/", "queue": name}
        poll_value(base, "/metrics/per-object", "rabbitmq_queue_messages_ready", 3, **where)
        poll_value(base, "/metrics/per-object", "rabbitmq_queue_messages_unacked", 2, **where)
        poll_value(base, "/metrics/per-object", "rabbitmq_queue_messages", 5, **where)
        detailed = "/metrics/detailed?family=queue_coarse_metrics&vhost=%2F"
        poll_value(base, detailed, "rabbitmq_detailed_queue_messages_ready", 3, **where)
        elsewhere = "/metrics/detailed?family=queue_coarse_metrics&vhost=no-such-vhost"
        assert scrape(base, elsewhere).value("rabbitmq_detailed_queue_messages_ready") is None


def test_http_answers_as_rabbitmq_prometheus(target):
    _url, base = target
    status, headers, body = fetch(base + "/metrics", **{"Accept-Encoding": "gzip"})
    assert (status, headers["content-type"]) == (200, "text/plain; version=0.0.4")
    assert headers["content-encoding"] == "gzip"
    assert b"# TYPE rabbitmq_identity_info untyped" in gzip.decompress(body)
    status, _headers, body = fetch(base + "/nothing")
    assert (status, body) == (404, b'{"error":"Object Not Found","reason":"Not Found"}')
    request = urllib.request.Request(base + "/metrics", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405
    assert refused.value.headers["allow"] == "HEAD, GET, OPTIONS"
    head = urllib.request.Request(base + "/metrics", method="HEAD")
    with urllib.request.urlopen(head, timeout=10) as response:
        assert (response.status, response.read()) == (204, b"")


# ---- amqpd's own values --------------------------------------------------------------


def test_counts_and_global_counters_follow_a_known_load():
    with BrokerThread(BrokerConfig(store="memory")) as broker:
        before = scrape(broker.prometheus_url)
        with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.queue_declare("load")
            for _ in range(10):
                channel.basic_publish("", "load", b"m")
            channel.basic_publish("", "no-such-queue", b"m")
            for _ in range(4):
                method, _props, _body = channel.basic_get("load")
                channel.basic_ack(method.delivery_tag)
            channel.basic_consume("load", lambda *_: None)
            during = scrape(broker.prometheus_url)
        after = scrape(broker.prometheus_url)
    assert during.value("rabbitmq_connections") == 1
    assert during.value("rabbitmq_channels") == 1
    assert during.value("rabbitmq_consumers") == 1
    assert during.value("rabbitmq_queues") == 1
    # the consumer took the six left; none is acknowledged yet
    assert during.value("rabbitmq_queue_messages_unacked") == 6
    assert during.value("rabbitmq_queue_messages_ready") == 0
    amqp, classic = {"protocol": "amqp091"}, {"queue_type": "rabbit_classic_queue"}
    g = "rabbitmq_global_messages_"
    # (read while connected: on closing, pika nacks the deliveries it has not handed on)
    assert during.value(g + "received_total", **amqp) == 11
    assert during.value(g + "received_confirm_total", **amqp) == 11
    assert during.value(g + "confirmed_total", **amqp) == 11
    assert during.value(g + "routed_total", **amqp) == 10
    assert during.value(g + "unroutable_dropped_total", **amqp) == 1
    assert during.value(g + "delivered_get_manual_ack_total", **amqp, **classic) == 4
    assert during.value(g + "delivered_consume_manual_ack_total", **amqp, **classic) == 6
    assert during.value(g + "delivered_total", **amqp, **classic) == 10
    assert during.value(g + "acknowledged_total", **amqp, **classic) == 4
    assert during.value("rabbitmq_channel_messages_published_total") == 11
    assert before.value("rabbitmq_connections_opened_total") == 0
    assert after.value("rabbitmq_connections_opened_total") == 1
    assert after.value("rabbitmq_connections_closed_total") == 1
    assert after.value("rabbitmq_channels_opened_total") == 1
    assert after.value("rabbitmq_queues_created_total") == 1
    assert after.value("rabbitmq_connections") == 0


def test_identity_is_stable_and_labels_every_endpoint(metrics_broker):
    ours = scrape(metrics_broker.prometheus_url)
    ((labels, value),) = ours.samples["rabbitmq_identity_info"]
    assert value == 1
    assert labels["rabbitmq_node"].startswith("rabbit@")
    assert labels["rabbitmq_cluster_permanent_id"].startswith("rabbitmq-cluster-id-")
    detailed = scrape(metrics_broker.prometheus_url, "/metrics/detailed")
    assert detailed.samples["rabbitmq_identity_info"] == ours.samples["rabbitmq_identity_info"]
    assert set(detailed.types) == {"rabbitmq_build_info", "rabbitmq_identity_info"}
    ((build, _value),) = ours.samples["rabbitmq_build_info"]
    assert build["rabbitmq_version"] == "3.10.8"


def test_prometheus_port_off_serves_no_metrics():
    with BrokerThread(BrokerConfig(store="memory", prometheus_port=None)) as broker:
        assert broker._server.metrics is None


def test_dead_lettering_is_counted_by_queue_type_and_strategy(metrics_broker):
    g = "rabbitmq_global_messages_dead_lettered_rejected_total"
    with_dlx = {"queue_type": "rabbit_classic_queue", "dead_letter_strategy": "at_most_once"}
    without = {"queue_type": "rabbit_quorum_queue", "dead_letter_strategy": "disabled"}
    before = scrape(metrics_broker.prometheus_url)
    with pika.BlockingConnection(pika.URLParameters(metrics_broker.url)) as connection:
        channel = connection.channel()
        channel.queue_declare("dl-target", exclusive=True)
        channel.queue_declare("dl-source", exclusive=True,
                              arguments={"x-dead-letter-exchange": ""})  # fmt: skip
        channel.queue_declare("dl-quorum", durable=True, arguments={"x-queue-type": "quorum"})
        for queue in ("dl-source", "dl-quorum", "dl-quorum"):
            channel.basic_publish("", queue, b"m")
            method, _props, _body = channel.basic_get(queue)
            channel.basic_reject(method.delivery_tag, requeue=False)
        channel.queue_delete("dl-quorum")
        after = scrape(metrics_broker.prometheus_url)
    assert after.value(g, **with_dlx) - before.value(g, **with_dlx) == 1
    assert after.value(g, **without) - before.value(g, **without) == 2
