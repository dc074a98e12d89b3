"""What the broker benchmarks share: a lean AMQP client, the brokers under test,
memory sampling, the load runner, the scenario runner and the ratio table.

A bench script is its scenarios plus a main that runs them on amqpd and on the
reference RabbitMQ and prints a ``Table``; see bench/amqp_bench.py.
"""

from harness.brokers import Amqpd, Endpoint, disk_usage, free_port, parse_endpoint, reference
from harness.client import (
    BrokerError,
    Client,
    Confirms,
    Publish,
    declare,
    delete,
    queue_count,
    read_confirms,
    stop_task,
)
from harness.load import Consumers, Load, percentiles, run_load
from harness.memory import MemorySampler, rss_of
from harness.report import MIB, Table, fmt, log, progress, ratio
from harness.runner import Scenarios, parser

__all__ = [
    "MIB",
    "Amqpd",
    "BrokerError",
    "Client",
    "Confirms",
    "Consumers",
    "Endpoint",
    "Load",
    "MemorySampler",
    "Publish",
    "Scenarios",
    "Table",
    "declare",
    "delete",
    "disk_usage",
    "fmt",
    "free_port",
    "log",
    "parse_endpoint",
    "parser",
    "percentiles",
    "progress",
    "queue_count",
    "ratio",
    "read_confirms",
    "reference",
    "rss_of",
    "run_load",
    "stop_task",
]
