"""What the ``amqpd ctl`` tests share: the same state on both brokers, and both CLIs run.

``Api`` drives a broker's management API (amqpd's or the reference's) so that both hold
the same vhost, queues, exchanges, bindings, policies and users; ``theirs`` runs the
reference's own rabbitmqctl, ``ours`` runs ``amqpd ctl`` in a subprocess, as users do.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import pytest

REFERENCE_API = os.environ.get(
    "AMQPD_REFERENCE_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"
)
CLI_DEADLINE = 60.0


def q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


@dataclass(frozen=True)
class Api:
    url: str  # http://user:pass@host:port

    def call(self, method: str, path: str, body: object = None) -> object:
        parts = urllib.parse.urlsplit(self.url)
        token = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
        request = urllib.request.Request(
            f"http://{parts.hostname}:{parts.port}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"authorization": f"Basic {token}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text.strip() else None

    def reachable(self) -> bool:
        try:
            self.call("GET", "/api/overview")
        except (OSError, urllib.error.HTTPError):
            return False
        return True


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def _run(cmd: list[str], stdin: str | None = None) -> Run:
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=CLI_DEADLINE, input=stdin,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    return Run(done.returncode, done.stdout, done.stderr)


def ours(url: str, *args: str, tool: str = "ctl", stdin: str | None = None) -> Run:
    return _run([sys.executable, "-m", "amqpd", tool, "--url", url, *args], stdin)


def theirs(*args: str, tool: str = "rabbitmqctl") -> Run:
    return _run([tool, *args])


def require_reference() -> Api:
    api = Api(REFERENCE_API)
    if shutil.which("rabbitmqctl") is None or not api.reachable():
        pytest.skip(
            "no reference RabbitMQ with rabbitmqctl on PATH and its API at " + REFERENCE_API
        )
    return api


def rows(output: str, skip: int) -> tuple[list[str], list[tuple[str, ...]]]:
    """The first ``skip`` lines (banners, header) as they are, the rest as sorted rows."""
    lines = output.splitlines()
    return lines[:skip], sorted(tuple(line.split("\t")) for line in lines[skip:])
