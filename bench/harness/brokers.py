"""The brokers under test: amqpd as a subprocess, and the reference RabbitMQ.

amqpd runs from this checkout (``python -m amqpd``) on a free port with its
data folder in a temporary directory. The reference is found by ``--reference``,
else ``AMQPD_REFERENCE_URL`` (``amqp://user:pass@host:port/vhost``), else
``AMQPD_REFERENCE_HOSTPORT``, else 127.0.0.1:5672 with guest/guest. When it runs
on this machine and ``rabbitmqctl`` answers, its OS pid and data folder are
found too, so its memory and disk can be measured next to amqpd's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from urllib.parse import unquote, urlsplit

DEFAULT_REFERENCE = "127.0.0.1:5672"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Endpoint:
    """Where a broker listens, how to log in, and (if known) its process and data folder."""

    name: str
    host: str
    port: int
    user: str = "guest"
    password: str = "guest"
    vhost: str = "/"
    pid: int | None = None
    data_dir: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Endpoint:
        return cls(**json.loads(text))


def parse_endpoint(name: str, text: str) -> Endpoint:
    """``host:port`` or ``amqp://user:pass@host:port/vhost``."""
    if "://" not in text:
        host, _, port = text.rpartition(":")
        return Endpoint(name, host or "127.0.0.1", int(port or 5672))
    url = urlsplit(text)
    vhost = unquote(url.path[1:]) if len(url.path) > 1 else "/"
    return Endpoint(
        name,
        url.hostname or "127.0.0.1",
        url.port or 5672,
        unquote(url.username or "guest"),
        unquote(url.password or "guest"),
        vhost,
    )


def reference(flag: str | None = None, local_info: bool = True) -> Endpoint | None:
    """The reference RabbitMQ (None when the flag says ``none``)."""
    text = (
        flag
        or os.environ.get("AMQPD_REFERENCE_URL")
        or os.environ.get("AMQPD_REFERENCE_HOSTPORT")
        or DEFAULT_REFERENCE
    )
    if text.lower() == "none":
        return None
    endpoint = parse_endpoint("RabbitMQ", text)
    if local_info:
        endpoint = replace(endpoint, **rabbitmq_local_info(endpoint.host))
    return endpoint


def rabbitmq_local_info(host: str) -> dict:
    """The reference's OS pid and data folder, when it runs here and rabbitmqctl works."""
    if host not in LOCAL_HOSTS or not shutil.which("rabbitmqctl"):
        return {}
    try:
        out = subprocess.run(
            ["rabbitmqctl", "status", "--formatter", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        status = json.loads(out.stdout)
        pid, data = int(status["pid"]), status.get("data_directory")
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return {}
    if not os.path.exists(f"/proc/{pid}/status"):
        return {}
    return {"pid": pid, "data_dir": data if data and os.access(data, os.R_OK) else None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def disk_usage(path: str | None) -> int | None:
    """Bytes allocated on disk by the files under ``path``."""
    if not path:
        return None
    total = 0
    try:
        for root, _dirs, files in os.walk(path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_blocks * 512
                except OSError:
                    pass
    except OSError:
        return None
    return total


class Amqpd:
    """An amqpd subprocess on a fixed port and data folder, restartable.

    As a context manager it starts the broker, waits for its port, and at the
    end stops it and removes its working directory (data folder and log)."""

    def __init__(
        self, workdir: str | None = None, port: int | None = None, management_port: int = 0
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = os.path.abspath(workdir or tempfile.mkdtemp(prefix="amqpd-bench-"))
        self.data = os.path.join(self.workdir, "data")
        self.log_path = os.path.join(self.workdir, "amqpd.log")
        self.port = port or free_port()
        self.management_port = management_port  # 0: any free one
        self.proc: subprocess.Popen | None = None
        self.exit: tuple[float, int] | None = None  # the last stop: seconds, exit code
        self.launch = [sys.executable, "-m", "amqpd"]  # how the broker is started

    def __enter__(self) -> Amqpd:
        try:
            self.start()
            self.wait_port()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the broker if it runs (SIGTERM; ``exit`` says how it went) and remove
        the working directory if it was made here."""
        if self.proc and self.proc.poll() is None:
            self.exit = self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("amqpd", "127.0.0.1", self.port, pid=self.pid, data_dir=self.data)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        command = [*self.launch, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--management-port", str(self.management_port)]  # RabbitMQ's may hold 15672
        command += ["--prometheus-port", "0"]  # and 15692
        command += ["--data-dir", self.data, "--log-level", "warning"]
        with open(self.log_path, "a") as logfile:
            # Run from the working directory: the amqpd imported is the installed one
            # (or the one on PYTHONPATH), never a folder that happens to be the cwd.
            self.proc = subprocess.Popen(
                command, cwd=self.workdir, stdout=logfile, stderr=subprocess.STDOUT
            )

    def wait_port(self, timeout: float = 120) -> float:
        """Seconds until the port accepts a TCP connection."""
        began, deadline = time.monotonic(), time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return time.monotonic() - began
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"amqpd exited with code {self.proc.returncode}: {self.log_lines()[-5:]}"
                    ) from None
                if time.monotonic() > deadline:
                    raise RuntimeError("amqpd did not open its port") from None
                time.sleep(0.005)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 120) -> tuple[float, int]:
        """Signal the broker; seconds until it exited, and its exit code."""
        began = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        return time.monotonic() - began, code

    def store_size(self) -> int:
        return disk_usage(self.data) or 0

    def wal_size(self) -> int:
        wal = [n for n in os.listdir(self.data) if n.endswith("-wal")]
        return sum(os.path.getsize(os.path.join(self.data, n)) for n in wal)

    def log_lines(self) -> list[str]:
        try:
            with open(self.log_path, errors="replace") as f:
                return [line.rstrip() for line in f if line.strip()]
        except OSError:
            return []
