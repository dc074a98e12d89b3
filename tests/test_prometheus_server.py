"""A real Prometheus scrapes amqpd, and RabbitMQ's Grafana dashboard queries answer.

Prometheus (Debian's package, installed by .ci/install-clients) runs on a free
port with a data folder under tmp, scraping amqpd's metrics port every 0.5 s.
After a known load through pika (N published with confirms, M fetched and
acknowledged), the queries of rabbitmq_prometheus's "RabbitMQ-Overview"
dashboard (deps/rabbitmq_prometheus/docker/grafana/dashboards/RabbitMQ-Overview.json,
with $namespace empty and $rabbitmq_cluster read as its variable query reads it)
go through Prometheus's HTTP API and must return the expected series.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pytest

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread

PROMETHEUS = shutil.which("prometheus")
DEADLINE = 60.0  # seconds for Prometheus to start, scrape and evaluate
PUBLISHED, FETCHED = 20, 8

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="no prometheus binary (bash .ci/install-clients installs it)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **params: str) -> dict:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def query(self, expr: str) -> list[dict]:
        answer = self.get("/api/v1/query", query=expr)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait_for(self, expr: str, accept: Callable[[list[dict]], bool]) -> list[dict]:
        """Poll the query until its series satisfy ``accept`` (scrapes land every 0.5 s)."""
        deadline = time.monotonic() + DEADLINE
        while True:
            result = self.query(expr)
            if result and accept(result):
                return result
            assert time.monotonic() < deadline, f"{expr} gave {result}"
            time.sleep(0.2)  # Prometheus scrapes on its own schedule


def value(result: list[dict]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


@pytest.fixture
def amqpd_node() -> Iterator[BrokerThread]:
    with BrokerThread(BrokerConfig(store="memory")) as started:
        yield started


@pytest.fixture
def prometheus(amqpd_node: BrokerThread, tmp_path: Path) -> Iterator[Prometheus]:
    target = amqpd_node.prometheus_url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 500ms\n  evaluation_interval: 500ms\n"
        "scrape_configs:\n  - job_name: rabbitmq\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        client = Prometheus(f"http://127.0.0.1:{port}")
        wait_ready(client, proc, tmp_path / "prometheus.log")
        yield client
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def wait_ready(client: Prometheus, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(client.base + "/-/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)  # Prometheus is starting in another process


def cluster_of(client: Prometheus) -> str:
    """$rabbitmq_cluster, as the dashboard's variable query finds it."""
    answer = client.get("/api/v1/label/rabbitmq_cluster/values")
    deadline = time.monotonic() + DEADLINE
    while not answer["data"]:
        assert time.monotonic() < deadline, "no rabbitmq_identity_info scraped"
        time.sleep(0.2)  # until the first scrape lands
        answer = client.get("/api/v1/label/rabbitmq_cluster/values")
    (cluster,) = answer["data"]
    return cluster


def joined(metric: str, cluster: str, node: bool = False) -> str:
    """A dashboard term: the metric joined to rabbitmq_identity_info by instance."""
    labels = "rabbitmq_cluster, rabbitmq_node" if node else "rabbitmq_cluster"
    return (f'{metric} * on(instance) group_left({labels}) '
            f'rabbitmq_identity_info{{rabbitmq_cluster="{cluster}", namespace=""}}')  # fmt: skip


def load(amqpd_node: BrokerThread) -> pika.BlockingConnection:
    connection = pika.BlockingConnection(pika.URLParameters(amqpd_node.url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare("dashboard")
    for _ in range(PUBLISHED):
        channel.basic_publish("", "dashboard", b"m")
    for _ in range(FETCHED):
        method, _props, _body = channel.basic_get("dashboard")
        channel.basic_ack(method.delivery_tag)
    return connection


def test_the_overview_dashboards_queries_answer_after_a_known_load(amqpd_node, prometheus):
    cluster = cluster_of(prometheus)
    connection = load(amqpd_node)
    try:
        check_singlestats(prometheus, cluster)
        check_nodes(prometheus, cluster)
        check_rates(prometheus, cluster)
    finally:
        connection.close()


def exactly(expected: float) -> Callable[[list[dict]], bool]:
    return lambda result: len(result) == 1 and float(result[0]["value"][1]) == expected


def positive(result: list[dict]) -> bool:
    return all(float(series["value"][1]) > 0 for series in result)


def check_singlestats(prometheus: Prometheus, cluster: str) -> None:
    """The top row: ready, unacked, publishers, connections, queues, consumers, channels."""
    expected = {
        f"sum({joined('rabbitmq_queue_messages_ready', cluster)})": PUBLISHED - FETCHED,
        f"sum({joined('rabbitmq_queue_messages_unacked', cluster)})": 0,
        f"sum({joined('rabbitmq_channels', cluster)}) - "
        f"sum({joined('rabbitmq_channel_consumers', cluster)})": 1,
        f"sum({joined('rabbitmq_connections', cluster)})": 1,
        f"sum({joined('rabbitmq_queues', cluster)})": 1,
        f"sum({joined('rabbitmq_channel_consumers', cluster)})": 0,
        f"sum({joined('rabbitmq_channels', cluster)})": 1,
        f"sum({joined('rabbitmq_build_info', cluster)})": 1,
        # the counters behind the rate panels, read as they stand
        f"sum({joined('rabbitmq_channel_messages_published_total', cluster)})": PUBLISHED,
        f"sum({joined('rabbitmq_channel_messages_confirmed_total', cluster)})": PUBLISHED,
        f"sum({joined('rabbitmq_channel_get_ack_total', cluster)})": FETCHED,
        f"sum({joined('rabbitmq_channel_messages_acked_total', cluster)})": FETCHED,
        f"sum({joined('rabbitmq_queue_messages_published_total', cluster)})": PUBLISHED,
    }
    for expr, want in expected.items():
        prometheus.wait_for(expr, exactly(want))


def check_nodes(prometheus: Prometheus, cluster: str) -> None:
    """The NODES row: the build table and the headroom graphs, one series per node."""
    (series,) = prometheus.wait_for(joined("rabbitmq_build_info", cluster, node=True), positive)
    assert series["metric"]["rabbitmq_version"] == "3.10.8"
    assert series["metric"]["rabbitmq_node"].startswith("rabbit@")
    for limit, used in (
        ("rabbitmq_resident_memory_limit_bytes", "rabbitmq_process_resident_memory_bytes"),
        ("rabbitmq_process_max_fds", "rabbitmq_process_open_fds"),
        ("rabbitmq_process_max_tcp_sockets", "rabbitmq_process_open_tcp_sockets"),
    ):
        expr = f"({joined(limit, cluster, True)}) -\n({joined(used, cluster, True)})"
        (series,) = prometheus.wait_for(expr, positive)
        assert series["metric"]["rabbitmq_node"].startswith("rabbit@")
    prometheus.wait_for(joined("rabbitmq_disk_space_available_bytes", cluster, True), positive)


def check_rates(prometheus: Prometheus, cluster: str) -> None:
    """The rate panels see the load: published, confirmed, routed, delivered by get, acked."""
    for counter in (
        "rabbitmq_channel_messages_published_total",
        "rabbitmq_channel_messages_confirmed_total",
        "rabbitmq_queue_messages_published_total",
        "rabbitmq_channel_get_ack_total",
        "rabbitmq_channel_messages_acked_total",
        "rabbitmq_connections_opened_total",
        "rabbitmq_queues_declared_total",
    ):
        expr = f"sum(rate({counter}[60s]) * on(instance) group_left(rabbitmq_cluster, " \
            f'rabbitmq_node) rabbitmq_identity_info{{rabbitmq_cluster="{cluster}", ' \
            f'namespace=""}}) by(rabbitmq_node)'  # fmt: skip
        prometheus.wait_for(expr, positive)
    received = "rabbitmq_global_messages_received_total"
    assert value(prometheus.query(f"sum({joined(received, cluster)})")) == PUBLISHED
